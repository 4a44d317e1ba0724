package serve

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// Election makes the replicas of serve on Kubernetes share the
// environments: one coordination.k8s.io Lease per environment
// (gearshift-<environment>), and only its holder runs the environment's
// loop. Each replica also renews a membership Lease
// (gearshift-member-<identity>), so that it knows how many replicas are
// alive and does not campaign for more than its fair share.
type Election struct {
	Client    kubernetes.Interface
	Namespace string
	// Identity names this replica in the Leases (default: host name and a
	// random suffix).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's
	// (defaults 15 s, 10 s, 2 s, as controller-runtime's).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Lease labels: what a member Lease is, to count them.
const (
	leaseComponentLabel = "app.kubernetes.io/component"
	memberComponent     = "gearshift-member"
	envComponent        = "gearshift-environment"
	wakeComponent       = "gearshift-wake"
)

func (e *Election) withDefaults() (*Election, error) {
	if e.Client == nil || e.Namespace == "" {
		return nil, errors.New("leader election needs a Kubernetes client and a namespace")
	}
	c := *e
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 15 * time.Second
	}
	if c.RenewDeadline <= 0 {
		c.RenewDeadline = 10 * time.Second
	}
	if c.RetryPeriod <= 0 {
		c.RetryPeriod = 2 * time.Second
	}
	if c.Identity == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		crand.Read(b)
		c.Identity = host + "_" + hex.EncodeToString(b)
	}
	return &c, nil
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// LeaseName is the Lease of an environment.
func LeaseName(env string) string {
	n := "gearshift-" + strings.Trim(notDNS.ReplaceAllString(strings.ToLower(env), "-"), "-")
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	return n
}

// elector is one replica's side of the election.
type elector struct {
	s *Server
	e *Election
	// leading are the environments this replica holds the Lease of.
	mu      sync.Mutex
	leading map[string]bool
	// members is how many replicas renewed their membership lately.
	members atomic.Int64
	// wakes are the wake-up Leases' times last seen, by environment,
	// since the first look (wakesSeen).
	wakes     map[string]time.Time
	wakesSeen bool
	// trying are the environments whose Lease this replica campaigns for.
	trying map[string]bool
	// envLeases are the environments' Leases as last listed (every retry
	// period), by name: one request for all, not one per environment.
	envLeases map[string]coordinationv1.Lease
	// settled is closed once the membership was counted twice: replicas
	// started together see each other before they campaign.
	settled chan struct{}
}

func newElector(s *Server, e *Election) *elector {
	el := &elector{s: s, e: e, leading: map[string]bool{}, wakes: map[string]time.Time{}, trying: map[string]bool{}, settled: make(chan struct{})}
	// client-go logs through klog: into serve's log, not raw on stderr.
	klog.SetSlogLogger(s.cfg.Log.With("component", "leaderelection"))
	el.members.Store(1)
	return el
}

func (el *elector) held() (int, []string) {
	el.mu.Lock()
	defer el.mu.Unlock()
	names := make([]string, 0, len(el.leading))
	for n := range el.leading {
		names = append(names, n)
	}
	slices.Sort(names)
	return len(names), names
}

// fair is this replica's share of the environments: all of them over the
// live replicas, rounded up.
func (el *elector) fair() int {
	m := max(int(el.members.Load()), 1)
	return (len(el.s.loops) + m - 1) / m
}

// mayCampaign says whether to try for env's Lease now. Never for a Lease
// another live replica holds (renewed within the Lease duration): that
// would only wait. For a free or expired one, only within the fair share,
// counting the Leases this replica holds and those it is already trying
// for; a Lease nobody renewed for two Lease durations is anyone's (a
// safety net when the count of replicas is wrong).
func (el *elector) mayCampaign(ctx context.Context, env string) bool {
	el.mu.Lock()
	l, found := el.envLeases[LeaseName(env)]
	el.mu.Unlock()
	idle := time.Duration(1<<62 - 1)
	if found {
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		if holder == el.e.Identity {
			return true
		}
		if l.Spec.RenewTime != nil {
			idle = time.Since(l.Spec.RenewTime.Time)
			d := el.e.LeaseDuration
			if l.Spec.LeaseDurationSeconds != nil {
				d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
			}
			if holder != "" && idle <= d {
				return false
			}
		}
	}
	el.mu.Lock()
	busy := len(el.leading)
	for e := range el.trying {
		if e != env && !el.leading[e] {
			busy++
		}
	}
	el.mu.Unlock()
	return busy < el.fair() || idle > 2*el.e.LeaseDuration
}

// shouldRelease: over the fair share (a replica joined), this replica
// gives up its last environment by name, one at a time.
func (el *elector) shouldRelease(env string) bool {
	n, names := el.held()
	return n > el.fair() && names[len(names)-1] == env
}

// membership renews this replica's member Lease and counts the live ones
// until ctx ends; then it deletes its Lease.
func (el *elector) membership(ctx context.Context) {
	leases := el.e.Client.CoordinationV1().Leases(el.e.Namespace)
	name := "gearshift-member-" + strings.Trim(notDNS.ReplaceAllString(strings.ToLower(el.e.Identity), "-"), "-")
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	secs := int32(el.e.LeaseDuration / time.Second)
	renew := func() {
		now := metav1.NewMicroTime(time.Now())
		l, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{leaseComponentLabel: memberComponent}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &el.e.Identity, LeaseDurationSeconds: &secs, RenewTime: &now, AcquireTime: &now}}
			_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		} else if err == nil {
			l.Spec.RenewTime, l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds = &now, &el.e.Identity, &secs
			_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
		if err != nil && ctx.Err() == nil {
			el.s.cfg.Log.Warn("member lease", "err", err)
		}
		list, err := leases.List(ctx, metav1.ListOptions{LabelSelector: leaseComponentLabel + "=" + memberComponent})
		if err != nil {
			return
		}
		live := 0
		for _, m := range list.Items {
			d := el.e.LeaseDuration
			if m.Spec.LeaseDurationSeconds != nil {
				d = time.Duration(*m.Spec.LeaseDurationSeconds) * time.Second
			}
			switch {
			case m.Spec.RenewTime != nil && time.Since(m.Spec.RenewTime.Time) <= d:
				live++
			case m.Spec.RenewTime == nil || time.Since(m.Spec.RenewTime.Time) > 10*d:
				// A replica long gone: tidy up.
				leases.Delete(ctx, m.Name, metav1.DeleteOptions{})
			}
		}
		el.members.Store(int64(max(live, 1)))
		if envs, err := leases.List(ctx, metav1.ListOptions{LabelSelector: leaseComponentLabel + "=" + envComponent}); err == nil {
			byName := make(map[string]coordinationv1.Lease, len(envs.Items))
			for _, l := range envs.Items {
				byName[l.Name] = l
			}
			el.mu.Lock()
			el.envLeases = byName
			el.mu.Unlock()
		}
		el.forwarded(ctx)
	}
	renew()
	t := time.NewTicker(el.e.RetryPeriod)
	defer t.Stop()
	rounds := 1
	for {
		if rounds++; rounds == 3 {
			close(el.settled)
		}
		select {
		case <-ctx.Done():
			del, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			leases.Delete(del, name, metav1.DeleteOptions{})
			cancel()
			return
		case <-t.C:
			renew()
		}
	}
}

// campaign runs the environment's loop whenever this replica holds its
// Lease, until ctx ends. The Lease is released only after the loop
// returned: the running action finishes first.
func (el *elector) campaign(ctx context.Context, l *envLoop) {
	e := el.e
	select {
	case <-el.settled:
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		if !el.mayCampaign(ctx, l.name) {
			l.standby(el, e)
			sleep(ctx, e.RetryPeriod/2+rand.N(e.RetryPeriod))
			continue
		}
		el.mu.Lock()
		el.trying[l.name] = true
		el.mu.Unlock()
		elCtx, stopElector := context.WithCancel(context.WithoutCancel(ctx))
		loopCtx, stopLoop := context.WithCancel(ctx)
		var leading, started atomic.Bool
		done := make(chan struct{})
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: &resourcelock.LeaseLock{
				LeaseMeta:  metav1.ObjectMeta{Name: LeaseName(l.name), Namespace: e.Namespace, Labels: map[string]string{leaseComponentLabel: envComponent}},
				Client:     e.Client.CoordinationV1(),
				LockConfig: resourcelock.ResourceLockConfig{Identity: e.Identity},
			},
			LeaseDuration: e.LeaseDuration, RenewDeadline: e.RenewDeadline, RetryPeriod: e.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            LeaseName(l.name),
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					started.Store(true)
					defer close(done)
					defer stopElector()
					el.mu.Lock()
					el.leading[l.name] = true
					el.mu.Unlock()
					leading.Store(true)
					defer func() {
						leading.Store(false)
						el.mu.Lock()
						delete(el.leading, l.name)
						el.mu.Unlock()
					}()
					el.s.cfg.Log.Info("leading", "environment", l.name, "identity", e.Identity)
					// What another replica did meanwhile is not known
					// here: start from a fresh reconcile.
					l.resetForLeadership(e.Identity)
					run, cancel := context.WithCancel(loopCtx)
					defer cancel()
					stop := context.AfterFunc(lctx, cancel)
					defer stop()
					l.run(run)
				},
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			el.s.cfg.Log.Error("leader election", "environment", l.name, "err", err)
			stopElector()
			stopLoop()
			el.mu.Lock()
			delete(el.trying, l.name)
			el.mu.Unlock()
			sleep(ctx, e.RetryPeriod)
			continue
		}
		go func() {
			t := time.NewTicker(e.RetryPeriod)
			defer t.Stop()
			for {
				select {
				case <-elCtx.Done():
					return
				case <-ctx.Done():
					stopLoop()
					if !leading.Load() {
						stopElector()
					}
					return
				case <-t.C:
					switch {
					case !leading.Load() && !started.Load() && !el.mayCampaign(ctx, l.name):
						stopElector()
						return
					case leading.Load() && el.shouldRelease(l.name):
						el.s.cfg.Log.Info("releasing: over the fair share", "environment", l.name, "fair", el.fair())
						stopLoop()
						return
					}
				}
			}
		}()
		le.Run(elCtx)
		if started.Load() {
			<-done
		}
		stopLoop()
		stopElector()
		el.mu.Lock()
		delete(el.trying, l.name)
		el.mu.Unlock()
		if ctx.Err() == nil && started.Load() {
			// Lost or given up: let the others take it first.
			sleep(ctx, e.RetryPeriod)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// PhaseStandby: another replica holds the environment's Lease.
const PhaseStandby = "standby"

// standby shows who leads the environment.
func (l *envLoop) standby(el *elector, e *Election) {
	holder := "no one"
	if lease, err := e.Client.CoordinationV1().Leases(e.Namespace).Get(context.Background(), LeaseName(l.name), metav1.GetOptions{}); err == nil &&
		lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
		holder = *lease.Spec.HolderIdentity
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase, l.message, l.leader, l.ready = PhaseStandby, fmt.Sprintf("led by %s (Lease %s/%s)", holder, e.Namespace, LeaseName(l.name)), holder, true
}

// resetForLeadership forgets the commit handled, so that the first turn
// reconciles.
func (l *envLoop) resetForLeadership(identity string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commit, l.hash, l.leader = "", "", identity
	l.phase, l.message = PhasePending, "leading"
}

// leads reports whether this replica holds env's Lease.
func (el *elector) leads(env string) bool {
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.leading[env]
}

func wakeLeaseName(env string) string {
	n := LeaseName(env)
	if len(n) > 58 {
		n = strings.TrimRight(n[:58], "-")
	}
	return n + "-wake"
}

// forward passes a webhook's wake-up for an environment another replica
// leads: the webhook reached this replica (a Service picks one), so it
// marks the environment's wake-up Lease, which the leader reads at its
// next retry period. The environment's own Lease is never written here:
// that would make its holder's renewal conflict.
func (el *elector) forward(ctx context.Context, env string) {
	leases := el.e.Client.CoordinationV1().Leases(el.e.Namespace)
	name := wakeLeaseName(env)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{leaseComponentLabel: wakeComponent},
			Annotations: map[string]string{"gearshift.dev/environment": env}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &el.e.Identity, RenewTime: &now}}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
	} else if err == nil {
		l.Spec.RenewTime, l.Spec.HolderIdentity = &now, &el.e.Identity
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil {
		el.s.cfg.Log.Warn("forwarding a wake-up", "environment", env, "err", err)
	}
}

// forwarded wakes the loops this replica leads whose wake-up Lease moved
// since it last looked.
func (el *elector) forwarded(ctx context.Context) {
	list, err := el.e.Client.CoordinationV1().Leases(el.e.Namespace).List(ctx, metav1.ListOptions{LabelSelector: leaseComponentLabel + "=" + wakeComponent})
	if err != nil {
		return
	}
	defer func() {
		el.mu.Lock()
		el.wakesSeen = true
		el.mu.Unlock()
	}()
	for _, l := range list.Items {
		env := l.Annotations["gearshift.dev/environment"]
		if l.Spec.RenewTime == nil || env == "" {
			continue
		}
		at := l.Spec.RenewTime.Time
		el.mu.Lock()
		last := el.wakes[env]
		el.wakes[env] = at
		leading, first := el.leading[env], !el.wakesSeen
		el.mu.Unlock()
		// The first look only learns the times: what was forwarded
		// before this replica ran is not for it.
		if first || !at.After(last) || !leading {
			continue
		}
		for _, loop := range el.s.loops {
			if loop.name == env {
				loop.wakeUp(at)
			}
		}
	}
}
