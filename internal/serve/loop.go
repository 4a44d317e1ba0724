package serve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/policy"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// envLoop reconciles one environment. Only its own goroutine (run)
// changes its fields; the page reads them under mu.
type envLoop struct {
	s    *Server
	name string
	// wake carries the time of a push that moved the environment's ref.
	wake chan time.Time

	mu sync.Mutex
	// deployFrom is the environment's, as its last loaded state says
	// (nil until then: the first fetch reads Config.Ref).
	deployFrom *state.DeployFrom
	// commit is the last commit handled; checkout its working tree.
	commit   string
	checkout *gitops.Checkout
	// st is the state loaded from inputs with hash; appliedCommit the
	// commit whose state was last reconciled (a later commit that changes
	// none of the environment's files is the same desired state).
	st            *state.State
	hash          string
	appliedCommit string
	// blocked says why the commit cannot be applied (invalid state, a
	// refused ref): nothing is tried again until the commit moves.
	blocked string
	// observed is the last observation (a reconcile's status record, or a
	// live observation for drift), and failed the versions the journal
	// remembers as failed.
	observed   observation.Environment
	observedAt time.Time
	failed     map[string]string
	// lastPlan is the last judged plan (of a reconcile, or of a re-plan).
	lastPlan *plan.Environment
	// lastKey is the set of applyable actions of the last reconcile; if
	// it failed, the same set is tried again only after a back-off.
	lastKey    string
	lastFailed bool
	failures   int
	// pendingCommitTime is the committer time of a new commit whose first
	// deploy action has not started yet.
	pendingCommitTime time.Time
	woken             time.Time
	// leader is the replica that holds the environment's Lease, with
	// --leader-elect.
	leader string
	// fetchSeconds is how long the last fetch took, for the log.
	fetchSeconds float64
	ready        bool
	phase        string
	message      string
	runs         []Run
	nextCheck    time.Time
}

func newLoop(s *Server, name string) *envLoop {
	return &envLoop{s: s, name: name, wake: make(chan time.Time, 1), phase: PhasePending}
}

// Phases of an environment on the page.
const (
	PhasePending  = "pending"  // not fetched yet
	PhaseApplying = "applying" // a reconcile runs
	PhaseSynced   = "synced"   // the last reconcile left every unit as desired
	PhaseHeld     = "held"     // a policy denied or a window held an action
	PhaseFailed   = "failed"   // an action failed, or a unit could not be observed
	PhaseInvalid  = "invalid"  // the state at the commit is invalid
	PhaseError    = "error"    // fetching, locking or the ref failed
)

func (l *envLoop) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case at := <-l.wake:
			l.mu.Lock()
			l.woken = at
			l.mu.Unlock()
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		next := l.once(ctx)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		l.ready = true
		l.nextCheck = l.s.cfg.Now().Add(next)
		l.mu.Unlock()
		timer.Reset(next)
	}
}

func (l *envLoop) wakeUp(at time.Time) {
	select {
	case l.wake <- at:
	default: // a wake-up is already pending: one fetch serves both
	}
}

func (l *envLoop) isReady() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready
}

// wants reports whether a push of ref (refs/heads/x, refs/tags/y) can move
// what the environment deploys from. Before the state was read, any push
// can.
func (l *envLoop) wants(ref string) bool {
	l.mu.Lock()
	df := l.deployFrom
	l.mu.Unlock()
	if df == nil {
		return true
	}
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return df.Branch != "" && strings.TrimPrefix(df.Branch, "refs/heads/") == b
	}
	if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok && df.Tag != "" {
		re, err := regexp.Compile(df.Tag)
		return err == nil && re.MatchString(t)
	}
	return false
}

// poll is the backstop interval, jittered by up to a quarter so that
// many environments (and replicas) do not fetch in step.
func (l *envLoop) poll() time.Duration {
	p := l.s.cfg.PollInterval
	return p + rand.N(p/4+1)
}

// backoff is the wait after the n-th failure in a row: 5 s doubling, up
// to the poll interval or maxBackoff, whichever is larger, jittered.
func (l *envLoop) backoff() time.Duration {
	d := 5 * time.Second << min(l.failures-1, 10)
	limit := max(l.s.cfg.PollInterval, maxBackoff)
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}

// once is one turn of the loop: fetch, and reconcile when the commit or
// the clock calls for it. It returns how long to wait for the next turn.
func (l *envLoop) once(ctx context.Context) time.Duration {
	start := time.Now()
	c, err := l.fetch(ctx)
	l.fetchSeconds = time.Since(start).Seconds()
	if err != nil {
		if ctx.Err() != nil {
			return 0
		}
		return l.fail(PhaseError, "fetch: "+err.Error())
	}
	if c.Commit != l.commit {
		return l.newCommit(ctx, c)
	}
	return l.tick(ctx)
}

// fetch brings the environment's ref into its working tree: its branch,
// or the newest tag matching its tag pattern; before the state is read,
// Config.Ref.
func (l *envLoop) fetch(ctx context.Context) (*gitops.Checkout, error) {
	ref := l.s.cfg.Ref
	if df := l.deployFrom; df != nil && isURL(l.s.cfg.Repo) {
		switch {
		case df.Branch != "":
			ref = df.Branch
		case df.Tag != "":
			tag, err := l.newestTag(ctx, df.Tag)
			if err != nil {
				return nil, err
			}
			ref = "refs/tags/" + tag
		}
	}
	return l.s.open(ctx, ref, l.name)
}

// newestTag is the newest tag of the state repository that matches
// pattern, in gearshift's order of versions: gitops.NewestRef, the rule
// apply's --lock-wait follows too.
func (l *envLoop) newestTag(ctx context.Context, pattern string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	n, err := gitops.NewestRef(ctx, l.s.cfg.Repo, l.s.cfg.Auth, "", []string{pattern})
	if errors.Is(err, gitops.ErrRefNotFound) {
		return "", fmt.Errorf("no tag matches the environment's tag pattern %s yet", pattern)
	}
	if err != nil {
		return "", err
	}
	return n.Ref, nil
}

// newCommit handles a commit not seen before: a commit that changes none
// of the environment's files is the same desired state (no reload, no
// re-plan beyond the clock's); otherwise the state is loaded and applied.
func (l *envLoop) newCommit(ctx context.Context, c *gitops.Checkout) time.Duration {
	log := l.s.cfg.Log.With("environment", l.name)
	start := time.Now()
	hash, herr := inputsHash(c.Dir, l.name)
	if herr == nil && l.st != nil && hash == l.hash && l.blocked == "" && !l.lastFailed {
		l.mu.Lock()
		l.commit, l.checkout = c.Commit, c
		l.appliedCommit = c.Commit
		l.mu.Unlock()
		l.envInfo(c)
		log.Info("new commit, same state", "commit", short(c.Commit), "fetch_seconds", l.fetchSeconds, "hash_seconds", time.Since(start).Seconds())
		return l.tick(ctx)
	}
	st, err := state.Load(ctx, c.Dir, []string{l.name}, l.s.cfg.Load)
	if err == nil {
		log.Info("state loaded", "commit", short(c.Commit), "units", len(st.Environments[l.name].Units),
			"fetch_seconds", l.fetchSeconds, "load_seconds", time.Since(start).Seconds())
	}
	if ctx.Err() != nil {
		return 0
	}
	l.mu.Lock()
	l.commit, l.checkout, l.blocked = c.Commit, c, ""
	if err == nil {
		// The page never shows the new ref beside the last commit's
		// phase (synced at a commit not applied yet).
		l.phase, l.message = PhaseApplying, "commit "+short(c.Commit)+" loaded"
	}
	l.mu.Unlock()
	l.envInfo(c)
	if err != nil {
		var diags state.Diagnostics
		phase := PhaseError
		if errors.As(err, &diags) {
			phase = PhaseInvalid
		}
		l.s.m.reconciles.WithLabelValues(l.name, "error").Inc()
		l.mu.Lock()
		l.blocked = err.Error()
		l.mu.Unlock()
		l.set(phase, fmt.Sprintf("the state at %s cannot be loaded: %v", short(c.Commit), err))
		log.Warn("state not loaded", "commit", short(c.Commit), "err", err)
		// Not retried until the commit moves: the same files give the
		// same mistakes.
		return l.poll()
	}
	env := st.Environments[l.name]
	df := env.DeployFrom
	l.mu.Lock()
	first := l.deployFrom == nil
	l.deployFrom = &df
	l.mu.Unlock()
	if !onRef(c, df) && isURL(l.s.cfg.Repo) {
		// The state read first (or the previous deployFrom) is not what
		// the environment deploys from: fetch its own ref now.
		l.mu.Lock()
		l.commit = ""
		l.mu.Unlock()
		if first {
			return 0
		}
		return l.fail(PhaseError, fmt.Sprintf("the environment's deployFrom changed at %s: fetching its new ref", short(c.Commit)))
	}
	l.mu.Lock()
	l.st, l.hash = st, hash
	l.pendingCommitTime = commitTime(c)
	l.lastKey, l.lastFailed = "", false
	l.mu.Unlock()
	return l.reconcile(ctx, "commit "+short(c.Commit))
}

// onRef reports whether the checkout is on a ref the environment deploys
// from.
func onRef(c *gitops.Checkout, df state.DeployFrom) bool {
	return gitops.RefAllowed(c.Ref, c.IsTag, df.Branch, df.Tag) == nil
}

// tick handles a commit already seen: the last observation (refreshed
// live every ObserveInterval, for drift) is planned again at the current
// time, and a reconcile runs only when the plan has an action apply
// would carry out: a unit past its maxAge, a window that opened, drift.
// A denied or held action, or a version that failed before, is not one.
func (l *envLoop) tick(ctx context.Context) time.Duration {
	if l.st == nil || l.blocked != "" {
		return l.poll()
	}
	now := l.s.cfg.Now()
	if now.Sub(l.observedAt) >= l.s.cfg.ObserveInterval {
		l.observeLive(ctx)
		if ctx.Err() != nil {
			return 0
		}
	}
	pe := l.plan(now)
	l.mu.Lock()
	l.lastPlan = pe
	l.mu.Unlock()
	l.unitMetrics(pe)
	key := applyableKey(pe, l.failed)
	if key == "" {
		l.failures = 0
		return min(l.poll(), untilWindow(pe, now))
	}
	// The same actions after a failure: the back-off has been waited
	// (the timer), so they are tried again.
	return l.reconcile(ctx, "re-plan: "+reasons(pe))
}

// plan is the environment's judged plan from the last observation at now:
// the same planner and rules as apply, without touching a target.
func (l *envLoop) plan(now time.Time) *plan.Environment {
	env := l.st.Environments[l.name]
	pe := plan.Compute(plan.Input{Env: env, Observed: l.observed, ObservedFrom: "live", Now: now})
	policy.Judge(pe, policy.Input{Env: env, Source: l.s.source(env), Now: now})
	return pe
}

// source is a promotion source's last observation when serve runs it too;
// otherwise the promotion rule is told it is unknown (and holds).
func (s *Server) source(env *state.Environment) *policy.Source {
	if env.Promotion == nil {
		return nil
	}
	for _, o := range s.loops {
		if o.name == env.Promotion.From {
			o.mu.Lock()
			obs := o.observed.Units
			o.mu.Unlock()
			if obs != nil {
				return &policy.Source{Env: o.name, Observed: obs}
			}
		}
	}
	return &policy.Source{Env: env.Promotion.From, Err: "not observed by this gearshift serve"}
}

// observeLive observes the environment now, without its lock: reading is
// what plan does too.
func (l *envLoop) observeLive(ctx context.Context) {
	drv, closeDrivers := l.s.cfg.Drivers(l.st.Root)
	defer closeDrivers()
	resolve := func(env *state.Environment, target string) (driver.Observer, error) { return drv.Resolve(env, target) }
	env := l.st.Environments[l.name]
	o := driver.ObserveEnvironment(ctx, env, resolve, env.Policies.Prune, l.s.cfg.Apply.Observe)
	if ctx.Err() != nil {
		return
	}
	l.mu.Lock()
	l.observed, l.observedAt = o, l.s.cfg.Now()
	l.mu.Unlock()
}

// reconcile runs apply.Reconcile for the environment, exactly as
// `gearshift apply ENV` does (ref check, lock, journal, repair, observe,
// plan, judge, execute, status record), publishes the status record and
// records the run.
func (l *envLoop) reconcile(ctx context.Context, trigger string) time.Duration {
	log := l.s.cfg.Log.With("environment", l.name)
	l.set(PhaseApplying, trigger)
	start := l.s.cfg.Now()
	drv, closeDrivers := l.s.cfg.Drivers(l.st.Root)
	defer closeDrivers()
	o := l.s.cfg.Apply
	o.Now = l.s.cfg.Now
	o.Log = log
	var pe *plan.Environment
	o.Planned = func(p *plan.Environment) { pe = p }
	o.Progress = &progress{l: l}
	if l.s.cfg.Notify != nil {
		o.Started, o.Finished = l.s.cfg.Notify(l.checkout)
	}
	req := apply.Request{
		State: l.st, Names: []string{l.name}, Checkout: l.checkout, Drivers: drv,
		StateDir: l.s.cfg.StateDir, Command: l.s.cfg.Command, Lock: l.s.cfg.Lock,
	}
	result, records, err := apply.Reconcile(ctx, req, o)
	seconds := l.s.cfg.Now().Sub(start).Seconds()
	l.s.m.reconcileDuration.WithLabelValues(l.name).Observe(seconds)
	l.s.m.lastReconcile.WithLabelValues(l.name).Set(float64(l.s.cfg.Now().Unix()))
	run := Run{Started: start.UTC(), Seconds: seconds, Trigger: trigger, Commit: l.commit}
	if err != nil {
		run.Result, run.Errors = "error", []string{err.Error()}
		l.addRun(run)
		l.s.m.reconciles.WithLabelValues(l.name, "error").Inc()
		if apply.IsLocked(err) {
			log.Warn("locked", "err", err)
			return l.fail(PhaseError, err.Error())
		}
		// A refused ref: the same commit is refused again.
		l.mu.Lock()
		l.blocked = err.Error()
		l.mu.Unlock()
		l.set(PhaseError, err.Error())
		log.Warn("reconcile refused", "err", err)
		return l.poll()
	}
	if len(records) > 0 && l.s.cfg.Publish != nil {
		l.s.publish.Lock()
		perr := l.s.cfg.Publish(context.WithoutCancel(ctx), l.checkout, records)
		l.s.publish.Unlock()
		if perr != nil {
			log.Warn("status branch", "err", perr)
			run.Errors = append(run.Errors, "status branch: "+perr.Error())
		}
	}
	var er *apply.EnvResult
	if len(result.Environments) > 0 {
		er = result.Environments[0]
		run.Counts = er.Counts
		run.Errors = append(run.Errors, er.Errors...)
		run.Interrupted = er.Interrupted
		for _, u := range er.Units {
			l.s.m.actions.WithLabelValues(l.name, l.driverOf(u.Unit, pe), string(u.Action), string(u.Outcome)).Inc()
			if u.Outcome != apply.Skipped {
				run.Units = append(run.Units, RunUnit{Unit: u.Unit, Action: string(u.Action), To: u.To, Outcome: string(u.Outcome), Error: u.Error})
			} else {
				run.Units = append(run.Units, RunUnit{Unit: u.Unit, Action: string(u.Action), To: u.To, Outcome: string(u.Outcome), Error: u.Reason})
			}
		}
	}
	l.mu.Lock()
	if len(records) > 0 {
		l.observed = observation.Environment{Units: records[0].Units}
		l.observedAt = l.s.cfg.Now()
		l.failed = records[0].Failed
	}
	l.appliedCommit = l.commit
	l.pendingCommitTime = time.Time{}
	l.mu.Unlock()
	if pe != nil {
		// The page shows what is left to do after the run: the same
		// planner and rules over what the run left running.
		after := l.plan(l.s.cfg.Now())
		l.mu.Lock()
		l.lastPlan = after
		l.mu.Unlock()
		l.unitMetrics(after)
	}
	verdict := apply.VerdictOf(result)
	key := ""
	if pe != nil {
		key = applyableKey(pe, nil)
	}
	l.mu.Lock()
	l.lastKey = key
	l.lastFailed = verdict == apply.VerdictFailed
	l.mu.Unlock()
	switch {
	case ctx.Err() != nil:
		run.Result = "interrupted"
		l.addRun(run)
		l.set(PhaseFailed, "interrupted: the running action finished, the rest waits for the next start")
		return 0
	case verdict == apply.VerdictFailed:
		run.Result = "failed"
		l.addRun(run)
		l.s.m.reconciles.WithLabelValues(l.name, "failed").Inc()
		log.Warn("reconcile failed", "commit", short(l.commit), "errors", strings.Join(run.Errors, "; "))
		return l.fail(PhaseFailed, failMessage(run))
	case verdict == apply.VerdictHeld:
		run.Result = "held"
		l.addRun(run)
		l.failures = 0
		l.s.m.reconciles.WithLabelValues(l.name, "held").Inc()
		msg := heldMessage(pe, er)
		log.Warn("held", "commit", short(l.commit), "why", msg)
		l.set(PhaseHeld, msg)
		return l.poll()
	}
	run.Result = "done"
	l.addRun(run)
	l.failures = 0
	l.s.m.reconciles.WithLabelValues(l.name, "done").Inc()
	log.Info("reconciled", "commit", short(l.commit), "seconds", seconds, "deployed", run.Counts.Deployed, "redeployed", run.Counts.Redeployed, "pruned", run.Counts.Pruned)
	l.set(PhaseSynced, fmt.Sprintf("%s applied: %d deployed, %d redeployed, %d pruned", short(l.commit), run.Counts.Deployed, run.Counts.Redeployed, run.Counts.Pruned))
	return l.poll()
}

// fail records a failure and returns the back-off.
func (l *envLoop) fail(phase, msg string) time.Duration {
	l.failures++
	l.set(phase, msg)
	return l.backoff()
}

func (l *envLoop) set(phase, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase, l.message = phase, msg
}

func (l *envLoop) addRun(r Run) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs = append([]Run{r}, l.runs...)
	if len(l.runs) > maxRuns {
		l.runs = l.runs[:maxRuns]
	}
}

// driverOf names the driver of a unit's target: host, exec or
// kubernetes.
func (l *envLoop) driverOf(unit string, pe *plan.Environment) string {
	env := l.st.Environments[l.name]
	target := ""
	if u := env.Units[unit]; u != nil {
		target = u.Target
	} else if pe != nil {
		for _, a := range pe.Actions {
			if a.Unit == unit {
				target = a.Target
			}
		}
	}
	t, ok := env.Targets[target]
	switch {
	case !ok:
		return "unknown"
	case t.Host != nil:
		return "host"
	case t.Exec != nil:
		return "exec"
	case t.Kubernetes != nil:
		return "kubernetes"
	}
	return "unknown"
}

func (l *envLoop) envInfo(c *gitops.Checkout) {
	l.s.m.envInfo.DeletePartialMatch(map[string]string{"environment": l.name})
	l.s.m.envInfo.WithLabelValues(l.name, c.Ref, c.Commit).Set(1)
}

// unitMetrics sets the unit and violation series of the environment from
// a judged plan and the last observation.
func (l *envLoop) unitMetrics(pe *plan.Environment) {
	m := l.s.m
	match := map[string]string{"environment": l.name}
	m.unitInfo.DeletePartialMatch(match)
	m.unitAge.DeletePartialMatch(match)
	m.unitMaxAge.DeletePartialMatch(match)
	m.violations.DeletePartialMatch(match)
	for _, u := range l.units(pe, l.s.cfg.Now()) {
		m.unitInfo.WithLabelValues(l.name, u.Name, u.Desired, u.Running, string(u.Health)).Set(1)
		if !u.DeployedAt.IsZero() {
			m.unitAge.WithLabelValues(l.name, u.Name).Set(u.AgeSeconds)
		}
		m.unitMaxAge.WithLabelValues(l.name, u.Name).Set(u.MaxAgeSeconds)
	}
	counts := map[[2]string]int{}
	for _, v := range pe.Violations {
		counts[[2]string{v.Rule, string(v.Severity)}]++
	}
	for k, n := range counts {
		m.violations.WithLabelValues(l.name, k[0], k[1]).Set(float64(n))
	}
}

// applyableKey names the actions of pe that apply would carry out (not
// denied, not held, not a version that failed before), "" when none.
func applyableKey(pe *plan.Environment, failed map[string]string) string {
	var keys []string
	for _, a := range pe.Actions {
		if !a.Applyable || len(a.Denied) > 0 || a.HeldUntil != nil {
			continue
		}
		if a.Type != plan.Prune && failed != nil && failed[a.Unit] == a.To {
			continue
		}
		keys = append(keys, a.Unit+":"+string(a.Type)+":"+a.To)
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// untilWindow is how long until the first held action's window opens (a
// long time when none is held).
func untilWindow(pe *plan.Environment, now time.Time) time.Duration {
	d := time.Duration(1<<62 - 1)
	for _, a := range pe.Actions {
		if a.HeldUntil != nil && !a.HeldUntil.IsZero() && len(a.Denied) == 0 {
			d = min(d, max(a.HeldUntil.Sub(now)+time.Second, time.Second))
		}
	}
	return d
}

func reasons(pe *plan.Environment) string {
	var rs []string
	for _, a := range pe.Actions {
		if !a.Applyable {
			continue
		}
		for _, r := range a.Reasons {
			rs = append(rs, a.Unit+" "+string(r.Code))
		}
	}
	if len(rs) > 4 {
		rs = append(rs[:4], fmt.Sprintf("and %d more", len(rs)-4))
	}
	return strings.Join(rs, ", ")
}

func heldMessage(pe *plan.Environment, er *apply.EnvResult) string {
	var parts []string
	if pe != nil {
		for _, v := range pe.Violations {
			if v.Blocking() {
				parts = append(parts, v.Rule+": "+v.Message)
			}
		}
	}
	if len(parts) == 0 && er != nil {
		for _, u := range er.Units {
			if u.Outcome == apply.Skipped {
				parts = append(parts, u.Unit+": "+u.Reason)
			}
		}
	}
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more", len(parts)-3))
	}
	return "held: " + strings.Join(parts, "; ")
}

func failMessage(r Run) string {
	var parts []string
	for _, u := range r.Units {
		if u.Outcome == string(apply.Failed) || u.Outcome == string(apply.RolledBack) {
			parts = append(parts, u.Unit+" "+u.Outcome+": "+u.Error)
		}
	}
	parts = append(parts, r.Errors...)
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more", len(parts)-3))
	}
	return "failed: " + strings.Join(parts, "; ")
}

// progress is apply's progress for serve: the events go to the log, and
// the first action started after a new commit is timed from the commit.
type progress struct {
	l    *envLoop
	once sync.Once
}

func (p *progress) Event(e apply.Event) {
	l := p.l
	if e.Kind == "start" {
		p.once.Do(func() {
			now := l.s.cfg.Now()
			l.mu.Lock()
			ct, woken := l.pendingCommitTime, l.woken
			l.pendingCommitTime = time.Time{}
			l.mu.Unlock()
			if !ct.IsZero() {
				l.s.m.commitToAction.WithLabelValues(l.name).Observe(max(now.Sub(ct).Seconds(), 0))
			}
			if !woken.IsZero() {
				l.s.cfg.Log.Info("first action", "environment", l.name, "unit", e.Unit, "since_push_seconds", now.Sub(woken).Seconds())
			}
		})
	}
	switch e.Kind {
	case "start", "end", "note":
		l.s.cfg.Log.Info("apply", "environment", e.Env, "unit", e.Unit, "event", e.Kind, "outcome", string(e.Outcome), "msg", e.Msg)
	}
}

// commitTime is the committer time of the checkout's commit.
func commitTime(c *gitops.Checkout) time.Time {
	repo, err := git.PlainOpenWithOptions(c.Dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return time.Time{}
	}
	co, err := repo.CommitObject(plumbing.NewHash(c.Commit))
	if err != nil {
		return time.Time{}
	}
	return co.Committer.When
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
