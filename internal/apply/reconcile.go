package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/policy"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// Resolver returns the deployer of one of an environment's targets.
type Resolver func(env *state.Environment, target string) (driver.Deployer, error)

// Drivers reach an environment's targets. They are built once per command
// and shared by the lock, observation, the actions and the status record,
// so that each host is dialled once.
type Drivers struct {
	Resolve Resolver
	// Connect reaches a host of a host target, for the lock and journal
	// (LockDir).
	Connect Connect
}

// Options tune a run. The zero value is usable.
type Options struct {
	// Parallelism bounds the actions of one wave that run at once
	// (DefaultParallelism).
	Parallelism int
	// ActionTimeout bounds one action: fetch, test, deploy, verify and
	// rollback (DefaultActionTimeout).
	ActionTimeout time.Duration
	// Observe bounds observation.
	Observe driver.ObserveOptions
	// CacheDir keeps downloaded artifacts by checksum, and the run's
	// scratch directories ("" keeps nothing between runs).
	CacheDir string
	// RetryFailed deploys a version that failed and was rolled back before.
	RetryFailed bool
	// Planned is given each environment's judged plan before it is
	// carried out (apply prints it).
	Planned  func(*plan.Environment)
	Now      func() time.Time
	Progress Progress
	Log      *slog.Logger
	// Finished is given each environment's result once its actions are
	// done, before its status record: it publishes what the environment
	// declares (release tags, GitHub deployments, notifications) and
	// appends what it did to res.Published. Nil publishes nothing.
	Finished func(ctx context.Context, env *state.Environment, res *EnvResult)
	// Started is given each environment's judged plan just before it is
	// carried out, after Planned (GitHub deployments start in_progress).
	Started func(ctx context.Context, env *state.Environment, pe *plan.Environment)
}

// Report is one thing published after an environment's run
// (docs/notifications.md): a release tag, a GitHub deployment, a
// notification. Only a release tag that could not be created fails the
// run (it also says so in Errors); the others never do.
type Report struct {
	// Kind is "release", "github-release", "deployment" or "notification".
	Kind string `json:"kind"`
	// Name is the tag, the GitHub environment, or the notification.
	Name string `json:"name"`
	// Outcome is created, exists, sent, skipped or failed; for a
	// deployment, the state it was left in (success, failure, error).
	Outcome string `json:"outcome"`
	// Detail says where: a repository, a URL without secrets.
	Detail   string `json:"detail,omitempty"`
	Error    string `json:"error,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
}

// Defaults of Options.
const (
	DefaultParallelism   = 8
	DefaultActionTimeout = 30 * time.Minute
)

func (o Options) withDefaults() Options {
	if o.Parallelism <= 0 {
		o.Parallelism = DefaultParallelism
	}
	if o.ActionTimeout <= 0 {
		o.ActionTimeout = DefaultActionTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Planned == nil {
		o.Planned = func(*plan.Environment) {}
	}
	return o
}

// Request is one apply (or rollback) of environments of a loaded state.
type Request struct {
	State *state.State
	// Names are the environments, in order.
	Names []string
	// Checkout is the state repository's checkout; an environment
	// deploys only from its declared branch or tag pattern. Nil or one
	// without a commit (a directory that is not a git checkout) has no
	// ref to check.
	Checkout *gitops.Checkout
	Drivers  Drivers
	// StateDir is the local state directory: the lock and journal of
	// environments without a host target, and the status record files.
	StateDir string
	// Command is recorded in the lock, for whoever finds it held.
	Command []string
	Lock    LockOptions
	// Reload loads the state again after a lock had to be waited for
	// (LockOptions.Wait): another run deployed meanwhile, and newer
	// commits may have arrived, so the plan is made from the newest state
	// (the checkout fetched again). Nil keeps the state loaded before.
	Reload func(ctx context.Context) (*state.State, *gitops.Checkout, error)
}

// Reconcile applies the named environments one after the other:
//
//	check every ref -> lock every environment -> for each environment:
//	reconcile it (see runner.reconcile), always recording its result and
//	status record, whatever happens to the next.
//
// It returns the result and the status records written (one per
// environment that could be observed). Its error is for what stops the
// run before any environment is touched: a ref an environment refuses, a
// lock another run holds (*LockedError).
func Reconcile(ctx context.Context, req Request, o Options) (*Result, []*statusrec.Record, error) {
	o = o.withDefaults()
	start := o.Now()
	envs := make([]*state.Environment, len(req.Names))
	for i, n := range req.Names {
		envs[i] = req.State.Environments[n]
		if envs[i] == nil {
			return nil, nil, fmt.Errorf("no environment %q", n)
		}
		if err := checkRef(req.Checkout, envs[i]); err != nil {
			return nil, nil, err
		}
	}
	run := NewRunID(o.Now())
	locks, err := lockAll(ctx, req, envs, run, o)
	if err != nil {
		return nil, nil, err
	}
	defer releaseAll(ctx, locks, o)
	if req, envs, err = reloadAfterWait(ctx, req, locks, o); err != nil {
		return nil, nil, err
	}

	c := &pass{req: req, o: o, seen: map[string]observation.Environment{}}
	result := &Result{FormatVersion: FormatVersion, Environments: []*EnvResult{}}
	var records []*statusrec.Record
	for i, env := range envs {
		res, rec := c.environment(ctx, env, locks[i])
		result.Add(res)
		if rec != nil {
			records = append(records, rec)
		}
	}
	result.Seconds = o.Now().Sub(start).Seconds()
	return result, records, nil
}

// pass is what the environments of one apply share: the request, the
// options, and what each environment was last seen running (a promotion
// source applied earlier in the same run is not observed again).
type pass struct {
	req  Request
	o    Options
	seen map[string]observation.Environment
}

// environment reconciles one environment and always records: whatever
// stops the inner reconcile, the result says so and the status record is
// written from what was observed.
func (c *pass) environment(ctx context.Context, env *state.Environment, lock *Lock) (res *EnvResult, rec *statusrec.Record) {
	r := newRunner(c, env, lock)
	res = &EnvResult{Name: env.Name, Run: lock.Info().Run, Started: r.started.UTC(), Units: []UnitResult{}}
	defer func() {
		rec = r.record(context.WithoutCancel(ctx), res)
		res.Seconds = c.o.Now().Sub(r.started).Seconds()
	}()
	if err := r.reconcile(ctx, res); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	if c.o.Finished != nil {
		c.o.Finished(context.WithoutCancel(ctx), env, res)
	}
	return res, rec
}

// reconcile is one environment's apply, top to bottom. The caller holds
// the environment's lock.
func (r *runner) reconcile(ctx context.Context, res *EnvResult) error {
	// The journal: what earlier runs left unfinished, the versions that
	// failed; then this run's start.
	if err := r.begin(ctx); err != nil {
		return err
	}
	defer r.end(context.WithoutCancel(ctx), res)
	if err := r.scratch(); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	defer r.cleanScratch()

	// A run that did not end may have left temporary files of its atomic
	// writes on the targets: sweep them before anything reads them.
	if r.hist.Interrupted {
		r.sweep(ctx, res)
	}
	r.observe(ctx)
	interrupted := r.repair(ctx, res)

	pe := plan.Compute(plan.Input{Env: r.env, Observed: r.observed, ObservedFrom: "live", Now: r.now, Interrupted: interrupted})
	policy.Judge(pe, policy.Input{Env: r.env, Source: r.source(ctx), Now: r.now})
	r.describeResumed(pe, res)
	r.o.Planned(pe)
	if r.o.Started != nil {
		r.o.Started(ctx, r.env, pe)
	}

	r.execute(ctx, pe, res)
	return nil
}

// observe observes the environment once, with the targets' inventories
// when it prunes.
func (r *runner) observe(ctx context.Context) {
	r.observed = driver.ObserveEnvironment(ctx, r.env, r.observer, r.env.Policies.Prune, r.o.Observe)
	r.haveObserved = true
}

// reread observes units again after this run changed them, into the
// environment's observation.
func (r *runner) reread(ctx context.Context, units []string) {
	if len(units) == 0 {
		return
	}
	sub := &state.Environment{}
	*sub = *r.env
	sub.Units = make(map[string]*state.Unit, len(units))
	for _, n := range units {
		if u := r.env.Units[n]; u != nil {
			sub.Units[n] = u
		}
	}
	again := driver.ObserveEnvironment(ctx, sub, r.observer, false, r.o.Observe)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.observed.Units == nil {
		r.observed.Units = map[string]observation.Unit{}
	}
	for n, o := range again.Units {
		r.observed.Units[n] = o
	}
}

// source is the promotion source's observed state for the policies: what
// this run left it running when it was applied earlier in the run,
// otherwise observed now.
func (r *runner) source(ctx context.Context) *policy.Source {
	pr := r.env.Promotion
	if pr == nil {
		return nil
	}
	if o, ok := r.c.seen[pr.From]; ok {
		return &policy.Source{Env: pr.From, Observed: o.Units}
	}
	from := r.c.req.State.Environments[pr.From]
	if from == nil {
		return &policy.Source{Env: pr.From, Err: fmt.Sprintf("no environment %q", pr.From)}
	}
	o := driver.ObserveEnvironment(ctx, from, r.observer, false, r.o.Observe)
	r.c.seen[pr.From] = o
	return &policy.Source{Env: pr.From, Observed: o.Units}
}

// record makes the environment's status record after the run: the one
// observation, with the units the run changed read again, and the failed
// versions the journal remembers. It is written to the local state
// directory; the caller publishes it on the status branch. An environment
// that was never observed has no record.
func (r *runner) record(ctx context.Context, res *EnvResult) *statusrec.Record {
	if !r.haveObserved {
		return nil
	}
	changed := map[string]bool{}
	for _, u := range res.Units {
		if u.Outcome != Skipped && u.Action != plan.Prune {
			changed[u.Unit] = true
		}
	}
	for _, u := range r.repaired {
		changed[u] = true
	}
	units := make([]string, 0, len(changed))
	for u := range changed {
		units = append(units, u)
	}
	r.reread(ctx, units)
	r.c.seen[r.env.Name] = r.observed
	r.mu.Lock()
	failed := r.hist.FailedVersions()
	r.mu.Unlock()
	rec := statusrec.Build(r.env, r.observed, failed, r.o.Now())
	if r.c.req.Checkout != nil {
		rec.Commit = r.c.req.Checkout.Commit
	}
	if r.c.req.StateDir != "" {
		if err := statusrec.WriteFile(statusrec.LocalFile(r.c.req.StateDir, r.env.Name), rec); err != nil {
			res.Errors = append(res.Errors, "status record: "+err.Error())
		}
	}
	return rec
}

// checkRef refuses a checkout whose ref env does not deploy from.
func checkRef(c *gitops.Checkout, env *state.Environment) error {
	if c == nil || c.Commit == "" {
		return nil
	}
	df := env.DeployFrom
	if err := gitops.RefAllowed(c.Ref, c.IsTag, df.Branch, df.Tag); err != nil {
		return fmt.Errorf("environment %s refuses %s at %s: %w (check out its ref, or pass --ref)", env.Name, describeRef(c), shortHash(c.Commit), err)
	}
	return nil
}

// describeRef names the checked-out ref for messages.
func describeRef(c *gitops.Checkout) string {
	switch {
	case c.Ref == "":
		return "a detached HEAD"
	case c.IsTag:
		return "tag " + c.Ref
	}
	return "branch " + c.Ref
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// lockAll takes the lock of every environment, in order, or none: a run
// that cannot have them all releases what it took.
func lockAll(ctx context.Context, req Request, envs []*state.Environment, run string, o Options) ([]*Lock, error) {
	info := NewLockInfo(run, req.Command, o.Now())
	var locks []*Lock
	for _, env := range envs {
		dir, err := LockDir(ctx, env, req.StateDir, req.Drivers.Connect)
		if err == nil {
			lo := req.Lock
			lo.Now = o.Now
			lo.Waiting = func(held *LockedError) {
				o.Progress.Event(Event{Env: env.Name, Kind: "note", Msg: fmt.Sprintf("waiting up to %s for the lock held by %s (pid %d, run %s)", lo.Wait, held.Info.Holder, held.Info.PID, held.Info.Run)})
			}
			lo.Broke = func(old LockInfo, why string) {
				o.Progress.Event(Event{Env: env.Name, Kind: "note", Msg: fmt.Sprintf("broke the stale lock of %s (pid %d, run %s): %s", old.Holder, old.PID, old.Run, why)})
			}
			var l *Lock
			if l, err = Acquire(ctx, dir, env.Name, info, lo); err == nil {
				locks = append(locks, l)
				continue
			}
		}
		releaseAll(ctx, locks, o)
		return nil, err
	}
	return locks, nil
}

func releaseAll(ctx context.Context, locks []*Lock, o Options) {
	for _, l := range locks {
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			o.Progress.Event(Event{Kind: "note", Env: "lock", Msg: err.Error()})
		}
	}
}

// Verdict is what a run's result means for its exit status.
type Verdict int

const (
	// VerdictDone: every unit runs its desired version healthily.
	VerdictDone Verdict = iota
	// VerdictHeld: nothing failed, but a policy the user chose denied or held
	// an action (the allowed ones were applied).
	VerdictHeld
	// VerdictFailed: an action failed or was rolled back, a unit could not be
	// observed, a version that failed before was not retried, or the
	// run was interrupted or could not be recorded.
	VerdictFailed
)

// VerdictOf judges a result.
func VerdictOf(r *Result) Verdict {
	if r.Failed() {
		return VerdictFailed
	}
	for _, e := range r.Environments {
		if e.BlockingViolations > 0 || e.Counts.Denied > 0 {
			return VerdictHeld
		}
		for _, u := range e.Units {
			if u.Outcome == Skipped && strings.HasPrefix(u.Reason, heldPrefix) {
				return VerdictHeld
			}
		}
	}
	return VerdictDone
}

// IsLocked reports whether err is another run holding a lock.
func IsLocked(err error) bool {
	var le *LockedError
	return errors.As(err, &le)
}
