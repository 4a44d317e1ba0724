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
}

func newElector(s *Server, e *Election) *elector {
	el := &elector{s: s, e: e, leading: map[string]bool{}}
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

// mayCampaign: under the fair share, or the environment's Lease has not
// been renewed by anyone for two Lease durations (a safety net when the
// count of replicas is wrong).
func (el *elector) mayCampaign(ctx context.Context, env string) bool {
	n, _ := el.held()
	if n < el.fair() {
		return true
	}
	l, err := el.e.Client.CoordinationV1().Leases(el.e.Namespace).Get(ctx, LeaseName(env), metav1.GetOptions{})
	if err != nil {
		// No Lease yet, or none readable: the fair share decides.
		return false
	}
	renewed := l.Spec.RenewTime
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || renewed == nil {
		return true
	}
	return time.Since(renewed.Time) > 2*el.e.LeaseDuration
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
	}
	renew()
	t := time.NewTicker(el.e.RetryPeriod)
	defer t.Stop()
	for {
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
	for ctx.Err() == nil {
		if !el.mayCampaign(ctx, l.name) {
			l.standby(el, e)
			sleep(ctx, e.RetryPeriod/2+rand.N(e.RetryPeriod))
			continue
		}
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
	l.commit, l.leader = "", identity
	l.phase, l.message = PhasePending, "leading"
}
