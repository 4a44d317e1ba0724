package apply

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// runner is one environment's run in progress.
type runner struct {
	c       *pass
	o       Options
	env     *state.Environment
	root    string // the state repository, where commands run
	resolve Resolver
	lock    *Lock
	journal *Journal
	started time.Time
	// now is the run's one clock reading, for planning and judging.
	now  time.Time
	work string

	// observed is the environment's one observation (haveObserved),
	// with the units this run changed read again.
	observed     observation.Environment
	haveObserved bool
	// repaired are the units the repair of an interrupted run changed.
	repaired []string
	resumed  []Unfinished

	mu sync.Mutex
	// hist is what the journal said when the run began, kept up to date
	// with this run's own action ends (the failed versions).
	hist History
	// open are the unfinished actions of earlier runs still to be
	// settled, by unit: the unit's action in this run settles them.
	open map[string]Unfinished
	// notOK are the units whose action did not succeed in this run, with
	// why, for skipping their dependents.
	notOK map[string]string
	// failedBefore are the units skipped because their version failed
	// before.
	failedBefore map[string]bool
}

func newRunner(c *pass, env *state.Environment, lock *Lock) *runner {
	now := c.o.Now()
	return &runner{c: c, o: c.o, env: env, root: c.req.State.Root, resolve: c.req.Drivers.Resolve, lock: lock,
		started: now, now: now, open: map[string]Unfinished{}, notOK: map[string]string{}, failedBefore: map[string]bool{}}
}

func (r *runner) observer(env *state.Environment, target string) (driver.Observer, error) {
	return r.resolve(env, target)
}

// execute carries out exactly the judged plan pe, wave after wave, each
// wave's actions in parallel (bounded). It never adds, removes or edits an
// action: an action the policies did not allow, one whose version failed
// before, one whose dependency did not succeed, and every action not
// started when the run is interrupted are skipped, with why.
func (r *runner) execute(ctx context.Context, pe *plan.Environment, res *EnvResult) {
	for _, e := range pe.Errors {
		r.notOK[e.Unit] = "could not be observed"
		res.Errors = append(res.Errors, e.Unit+": "+e.Error)
	}
	res.BlockingViolations = pe.Summarize().Blocking
	for _, wave := range waves(pe.Actions) {
		results := make([]UnitResult, len(wave))
		var wg sync.WaitGroup
		sem := make(chan struct{}, r.o.Parallelism)
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
			if ur.Outcome == Skipped && strings.HasPrefix(ur.Reason, deniedPrefix) {
				res.Counts.Denied++
			}
			if ur.Outcome == Skipped && r.failedBefore[ur.Unit] {
				// Not the desired state, and not a policy the user
				// chose: the run fails, saying how to retry.
				res.Errors = append(res.Errors, fmt.Sprintf("%s is not at its desired version: %s", ur.Unit, ur.Reason))
			}
		}
	}
	res.Interrupted = ctx.Err() != nil
}

// Skip reasons that decide the verdict.
const (
	deniedPrefix = "denied by "
	heldPrefix   = "held by "
)

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
		return deniedPrefix + strings.Join(a.Denied, ", ")
	case a.HeldUntil != nil && a.HeldUntil.IsZero():
		return heldPrefix + "the deploy windows (none opens again)"
	case a.HeldUntil != nil:
		return heldPrefix + "the deploy window until " + a.HeldUntil.UTC().Format(time.RFC3339)
	case !a.Applyable:
		return "not applyable"
	case ctx.Err() != nil:
		return "the run was interrupted before it started"
	}
	if a.Type != plan.Prune && !r.o.RetryFailed {
		r.mu.Lock()
		f, failed := r.hist.Failed(a.Unit, a.To)
		if failed {
			r.failedBefore[a.Unit] = true
		}
		r.mu.Unlock()
		if failed {
			return fmt.Sprintf("%s failed at %s and was rolled back; change the desired version to retry, or --retry-failed", a.To, f.At.UTC().Format(time.RFC3339))
		}
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

// scratch makes this run's scratch directory for artifacts, after removing
// what earlier runs of the environment left (we hold its lock: no run of
// it can be using them).
func (r *runner) scratch() error {
	run := r.lock.Info().Run
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
	for _, t := range slices.Sorted(maps.Keys(r.env.Targets)) {
		d, err := r.resolve(r.env, t)
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
