package apply

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Resolver returns the deployer of one of an environment's targets.
type Resolver func(env *state.Environment, target string) (driver.Deployer, error)

// Options tune a run. The zero value is usable.
type Options struct {
	// Parallelism bounds the actions of one wave that run at once
	// (DefaultParallelism).
	Parallelism int
	// ActionTimeout bounds one action: fetch, test, deploy, verify and
	// rollback (DefaultActionTimeout).
	ActionTimeout time.Duration
	// CacheDir keeps downloaded artifacts by checksum, and the run's
	// scratch directories ("" keeps nothing between runs).
	CacheDir string
	// RetryFailed deploys a version that failed and was rolled back before.
	RetryFailed bool
	Now         func() time.Time
	Progress    Progress
	Log         *slog.Logger
}

// Defaults of Options.
const (
	DefaultParallelism   = 8
	DefaultActionTimeout = 30 * time.Minute
)

// Input is one environment's run: its judged plan, how to reach its
// targets, and the lock the caller holds (its Dir holds the journal).
type Input struct {
	Env     *state.Environment
	Root    string // the state repository, where commands run
	Plan    *plan.Environment
	Resolve Resolver
	Lock    *Lock
	// Failed is the previous status record's Failed map: unit -> version
	// that failed and was rolled back.
	Failed map[string]string
}

// runner is one environment's run in progress.
type runner struct {
	in      Input
	o       Options
	env     *state.Environment
	journal *Journal
	hist    History
	work    string

	mu sync.Mutex
	// notOK are the units whose action did not succeed in this run, with
	// why, for skipping their dependents.
	notOK map[string]string
}

// Apply runs the applyable actions of in.Plan, wave after wave, and returns
// what happened to every unit. The caller holds in.Lock. Apply itself only
// fails for what makes a run unsafe (the journal cannot be read or
// written); everything else is in the result.
func Apply(ctx context.Context, in Input, o Options) (*EnvResult, error) {
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
	started := o.Now()
	run := in.Lock.Info().Run
	r := &runner{in: in, o: o, env: in.Env, notOK: map[string]string{}}
	res := &EnvResult{Name: in.Env.Name, Run: run, Started: started.UTC(), Units: []UnitResult{}}
	defer func() { res.Seconds = o.Now().Sub(started).Seconds() }()

	// 1. The journal: what earlier runs left unfinished, then our start.
	hist, err := ReadHistory(ctx, in.Lock.Dir(), in.Env.Name)
	if err != nil {
		return res, err
	}
	if hist.Torn > 0 {
		r.note(fmt.Sprintf("the journal has %d unreadable lines (a crash in mid-write); they were ignored", hist.Torn))
	}
	r.hist = hist
	r.journal = NewJournal(in.Lock.Dir(), in.Env.Name, run, o.Now)
	li := in.Lock.Info()
	if err := r.journal.Append(ctx, Entry{Event: EventRunStart, Environment: in.Env.Name, Holder: li.Holder, PID: li.PID, Command: li.Command}); err != nil {
		return res, err
	}
	if err := r.scratch(run); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	defer r.cleanScratch()

	// A run that did not end may have left temporary files of its atomic
	// writes on the targets: sweep them before anything reads or writes.
	if hist.Interrupted {
		r.sweep(ctx, res)
	}

	// 2. Units the plan could not observe: their dependents wait.
	for _, e := range in.Plan.Errors {
		r.notOK[e.Unit] = "could not be observed"
		res.Errors = append(res.Errors, e.Unit+": "+e.Error)
	}
	res.BlockingViolations = in.Plan.Summarize().Blocking

	// 3. Repair what an interrupted run left, before anything else.
	actions := append([]*plan.Action(nil), in.Plan.Actions...)
	for _, u := range hist.Unfinished {
		rs, extra := r.resume(ctx, u, actions)
		res.Resumed = append(res.Resumed, rs)
		if extra != nil {
			actions = append(actions, extra)
		}
	}

	// 4. The waves: each wave's actions in parallel, bounded.
	for _, wave := range waves(actions) {
		results := make([]UnitResult, len(wave))
		var wg sync.WaitGroup
		sem := make(chan struct{}, o.Parallelism)
		for i, a := range wave {
			if skip := r.skipReason(ctx, a); skip != "" {
				results[i] = r.skipped(a, skip)
				continue
			}
			// Take a slot before starting, so that actions start in
			// unit order and none starts once the run is interrupted.
			got := false
			select {
			case sem <- struct{}{}:
				got = true
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				if got {
					<-sem
				}
				results[i] = r.skipped(a, "the run was interrupted before it started")
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				results[i] = r.act(ctx, a)
			}()
		}
		wg.Wait()
		for _, ur := range results {
			res.Units = append(res.Units, ur)
			res.Counts.add(ur)
			if ur.Outcome == Skipped && strings.HasPrefix(ur.Reason, "denied by ") {
				res.Counts.Denied++
			}
		}
	}
	res.Interrupted = ctx.Err() != nil

	// 5. The end of the run, in the journal.
	result := "ok"
	switch {
	case res.Interrupted:
		result = "interrupted"
	case res.Failed():
		result = "failed"
	}
	if err := r.journal.Append(context.WithoutCancel(ctx), Entry{Event: EventRunEnd, Result: result}); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	return res, nil
}

// waves groups actions by wave, in order, units sorted within a wave.
func waves(actions []*plan.Action) [][]*plan.Action {
	by := map[int][]*plan.Action{}
	for _, a := range actions {
		by[a.Wave] = append(by[a.Wave], a)
	}
	ws := make([]int, 0, len(by))
	for w := range by {
		ws = append(ws, w)
	}
	sort.Ints(ws)
	out := make([][]*plan.Action, 0, len(ws))
	for _, w := range ws {
		as := by[w]
		sort.Slice(as, func(i, j int) bool { return as[i].Unit < as[j].Unit })
		out = append(out, as)
	}
	return out
}

// skipReason says why a is not run, or "" to run it. Policy verdicts come
// first, then earlier failures of the same version, then dependencies.
func (r *runner) skipReason(ctx context.Context, a *plan.Action) string {
	switch {
	case len(a.Denied) > 0:
		return "denied by " + strings.Join(a.Denied, ", ")
	case a.HeldUntil != nil:
		return "held by the deploy window until " + a.HeldUntil.UTC().Format(time.RFC3339)
	case !a.Applyable:
		return "not applyable"
	case ctx.Err() != nil:
		return "the run was interrupted before it started"
	}
	if v, ok := r.in.Failed[a.Unit]; ok && a.Type != plan.Prune && v == a.To && !r.o.RetryFailed {
		at := "in an earlier run"
		if f, ok := r.hist.Failures[a.Unit]; ok && f.Version == v {
			at = "at " + f.At.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("%s failed %s and was rolled back; change the desired version to retry, or --retry-failed", v, at)
	}
	if dep, why := r.failedDependency(a.Unit); dep != "" {
		return fmt.Sprintf("depends on %s, which %s", dep, why)
	}
	return ""
}

// failedDependency finds a unit that unit depends on, directly or through
// other units, whose action did not succeed in this run.
func (r *runner) failedDependency(unit string) (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var walk func(n string) (string, string)
	walk = func(n string) (string, string) {
		u := r.env.Units[n]
		if u == nil {
			return "", ""
		}
		for _, d := range u.DependsOn {
			if seen[d] {
				continue
			}
			seen[d] = true
			if why, bad := r.notOK[d]; bad {
				return d, why
			}
			if dep, why := walk(d); dep != "" {
				return dep, why
			}
		}
		return "", ""
	}
	return walk(unit)
}

func (r *runner) setNotOK(unit, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notOK[unit] = why
}

func (r *runner) skipped(a *plan.Action, why string) UnitResult {
	r.setNotOK(a.Unit, "was skipped ("+why+")")
	ur := UnitResult{Unit: a.Unit, Action: a.Type, Wave: a.Wave, From: a.From, To: a.To, Outcome: Skipped, Reason: why}
	r.o.Progress.Event(Event{Env: r.env.Name, Unit: a.Unit, Kind: "end", Outcome: Skipped, Msg: why})
	return ur
}

func (r *runner) note(msg string) {
	r.o.Progress.Event(Event{Env: r.env.Name, Kind: "note", Msg: msg})
}

func (r *runner) step(unit, msg string) {
	r.o.Progress.Event(Event{Env: r.env.Name, Unit: unit, Kind: "step", Msg: msg})
}

// resume repairs a unit an earlier run left unfinished: it observes the
// unit and, when its current release is broken, rolls it back to the
// version it ran before the interrupted action. The unit's action of this
// plan then runs in its wave; when the plan has none (the unit looks done),
// a redeploy is added so that its health and verify checks do run.
func (r *runner) resume(ctx context.Context, u Unfinished, actions []*plan.Action) (Resumed, *plan.Action) {
	rs := Resumed{Unit: u.Unit, Run: u.Run, Started: u.Started}
	r.note(fmt.Sprintf("resuming: %s was left unfinished by run %s at %s", u.Unit, u.Run, u.Started.UTC().Format(time.RFC3339)))
	closeAll := func(result string) {
		for _, run := range u.Runs {
			if err := r.journal.Append(ctx, Entry{Event: EventActionEnd, Unit: u.Unit, Type: u.Type, From: u.From, To: u.To, Result: result, Closes: run}); err != nil {
				r.o.Log.Warn("journal", "err", err)
			}
		}
	}
	var planned *plan.Action
	for _, a := range actions {
		if a.Unit == u.Unit {
			planned = a
		}
	}
	unit := r.env.Units[u.Unit]
	if unit == nil || u.Type == string(plan.Prune) {
		rs.Repair = "none needed: an undeclared unit is pruned by the plan if it still runs"
		closeAll("resumed")
		return rs, nil
	}
	d, err := r.in.Resolve(r.env, unit.Target)
	if err != nil {
		rs.Repair = "cannot repair: " + err.Error()
		return rs, nil
	}
	octx, cancel := context.WithTimeout(ctx, r.o.ActionTimeout)
	obs := d.Observe(octx, r.env, unit)
	cancel()
	broken := obs.Failed() || obs.Health == driver.HealthUnhealthy || obs.Health == driver.HealthMissing ||
		(obs.Deployed && obs.Version == "")
	var extra *plan.Action
	switch {
	case broken && u.From != "" && obs.Version != u.From:
		var ok bool
		rs.Repair, ok = r.resumeRollback(ctx, d, unit, u, obs)
		if ok {
			obs = driver.Observation{Unit: unit.Name, Deployed: true, Version: u.From}
		}
		switch {
		case ok && planned == nil && unit.Version != u.From:
			extra = r.resumeAction(unit, obs, actions, plan.Deploy)
		case ok && planned != nil && planned.To != "":
			// The plan was made before the rollback: its action now
			// starts from the version rolled back to.
			planned.From = u.From
			if planned.To != u.From {
				planned.Type = plan.Deploy
			}
		}
	case planned != nil:
		rs.Repair = fmt.Sprintf("none needed first; its planned %s runs in wave %d", planned.Type, planned.Wave)
	case obs.Failed():
		rs.Repair = "cannot repair: " + obs.Error
	case !obs.Deployed || obs.Version != unit.Version:
		rs.Repair = "deploy again"
		extra = r.resumeAction(unit, obs, actions, plan.Deploy)
	default:
		rs.Repair = "redeploy, to run its checks"
		extra = r.resumeAction(unit, obs, actions, plan.Redeploy)
	}
	closeAll("resumed")
	return rs, extra
}

// resumeRollback rolls an interrupted unit back to the version it ran
// before, journalled as an action of this run.
func (r *runner) resumeRollback(ctx context.Context, d driver.Deployer, unit *state.Unit, u Unfinished, obs driver.Observation) (string, bool) {
	ctx = context.WithoutCancel(ctx)
	_ = r.journal.Append(ctx, Entry{Event: EventActionStart, Unit: unit.Name, Type: "rollback", From: obs.Version, To: u.From})
	rctx, cancel := context.WithTimeout(ctx, r.o.ActionTimeout)
	defer cancel()
	r.step(unit.Name, "rolling back to "+u.From)
	dr, err := d.Rollback(rctx, r.env, unit, u.From)
	end := Entry{Event: EventActionEnd, Unit: unit.Name, Type: "rollback", From: obs.Version, To: u.From, Release: dr.ReleaseID, Result: "rolled-back-to"}
	if err != nil {
		end.Result, end.Error = string(Failed), err.Error()
		_ = r.journal.Append(ctx, end)
		return "rollback to " + u.From + " failed: " + err.Error(), false
	}
	_ = r.journal.Append(ctx, end)
	return "its release was broken (" + describe(obs) + "); rolled back to " + u.From, true
}

func describe(o driver.Observation) string {
	switch {
	case o.Error != "":
		return o.Error
	case o.HealthDetail != "":
		return string(o.Health) + ": " + o.HealthDetail
	}
	return string(o.Health)
}

// resumeAction makes the action that re-deploys an interrupted unit,
// placed after the waves of the units it depends on.
func (r *runner) resumeAction(u *state.Unit, obs driver.Observation, actions []*plan.Action, typ plan.ActionType) *plan.Action {
	wave := 0
	waveOf := map[string]int{}
	for _, a := range actions {
		waveOf[a.Unit] = a.Wave
	}
	var deps func(n string, depth int)
	deps = func(n string, depth int) {
		if x := r.env.Units[n]; x != nil && depth < len(r.env.Units) {
			for _, d := range x.DependsOn {
				if w, ok := waveOf[d]; ok {
					wave = max(wave, w+1)
				}
				deps(d, depth+1)
			}
		}
	}
	deps(u.Name, 0)
	return &plan.Action{
		Unit: u.Name, Kind: u.Kind, Type: typ, Target: u.Target, Strategy: u.Strategy,
		From: obs.Version, To: u.Version, Wave: wave, DependsOn: u.DependsOn, Applyable: true,
		Reasons: []plan.Reason{{Code: "interrupted", Message: "an earlier run was interrupted while changing it"}},
	}
}

// scratch makes this run's scratch directory for artifacts, after removing
// what earlier runs of the environment left (we hold its lock: no run of
// it can be using them).
func (r *runner) scratch(run string) error {
	base := r.o.CacheDir
	if base == "" {
		base = os.TempDir()
	}
	base = filepath.Join(base, "work")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(base, r.env.Name+".*"))
	for _, p := range old {
		os.RemoveAll(p)
	}
	dir, err := os.MkdirTemp(base, r.env.Name+"."+run+".")
	if err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}
	r.work = dir
	return nil
}

func (r *runner) cleanScratch() {
	if r.work != "" {
		os.RemoveAll(r.work)
	}
}

// sweep asks every target's driver that can to remove what an interrupted
// run left. A failure is reported, not fatal: the files are inert.
func (r *runner) sweep(ctx context.Context, res *EnvResult) {
	for _, t := range sortedTargets(r.env) {
		d, err := r.in.Resolve(r.env, t)
		if err != nil {
			continue
		}
		if s, ok := d.(driver.Sweeper); ok {
			if err := s.Sweep(ctx, r.env, t); err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("target %s: removing what the interrupted run left: %v", t, err))
			}
		}
	}
}

func sortedTargets(env *state.Environment) []string {
	ts := make([]string, 0, len(env.Targets))
	for t := range env.Targets {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}
