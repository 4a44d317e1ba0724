package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/report"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// applyFlags are apply's flags; the lock flags are shared with rollback.
type applyFlags struct {
	observe       observeFlags
	parallelism   int
	actionTimeout time.Duration
	cacheDir      string
	retryFailed   bool
	lock          lockFlags
}

type lockFlags struct {
	stateDir  string
	timeout   time.Duration
	breakLock bool
}

func (l *lockFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&l.stateDir, "state-dir", "", "local state: locks and journals of exec targets, status records (default $XDG_STATE_HOME/gearshift or ~/.local/state/gearshift)")
	fs.DurationVar(&l.timeout, "lock-timeout", apply.DefaultLockTimeout, "a lock older than this is stale")
	fs.BoolVar(&l.breakLock, "break-lock", false, "break a stale lock that gearshift cannot prove abandoned: its pid is not running but the lock has no boot id or comes from another boot, or it is older than --lock-timeout (a lock whose process is provably gone from this machine is taken over without it)")
}

// dir is the local state directory.
func (l *lockFlags) dir(e *env) string {
	if l.stateDir != "" {
		return l.stateDir
	}
	return xdgDir(e, "XDG_STATE_HOME", ".local/state")
}

func xdgDir(e *env, xdg, fallback string) string {
	if d := e.getenv(xdg); d != "" {
		return filepath.Join(d, "gearshift")
	}
	if h := e.getenv("HOME"); h != "" {
		return filepath.Join(h, fallback, "gearshift")
	}
	return ""
}

func applyCmd() *command {
	var f applyFlags
	return &command{
		acts:         true,
		name:         "apply",
		aliases:      []string{"reconcile"},
		writesStatus: true,
		usage:        "apply [ENV...]",
		summary:      "Apply the plan: deploy, redeploy and prune in dependency order, roll back failures.",
		flags: func(fs *pflag.FlagSet) {
			fs.IntVar(&f.parallelism, "parallelism", apply.DefaultParallelism, "how many actions of a wave run at once")
			fs.IntVar(&f.observe.parallelism, "observe-parallelism", 32, "how many units are observed at once")
			fs.DurationVar(&f.observe.timeout, "observe-timeout", 30*time.Second, "how long one unit's observation may take")
			fs.DurationVar(&f.actionTimeout, "action-timeout", apply.DefaultActionTimeout, "how long one action (fetch, test, deploy, verify, rollback) may take")
			fs.StringVar(&f.cacheDir, "cache-dir", "", "artifact cache (default $XDG_CACHE_HOME/gearshift or ~/.cache/gearshift)")
			fs.BoolVar(&f.retryFailed, "retry-failed", false, "deploy a version that failed and was rolled back before")
			f.lock.add(fs)
		},
		run: func(ctx context.Context, e *env, args []string) error { return e.apply(ctx, args, f) },
	}
}

// apply is the data flow of apply: load -> lock -> observe -> plan ->
// judge -> render the plan -> apply each environment -> status record ->
// render the result. The ref is checked before anything is locked; the
// locks are taken before observing, so that the plan is made from a state
// no other run is changing.
func (e *env) apply(ctx context.Context, names []string, f applyFlags) error {
	start := e.now()
	st, err := e.loadAll(ctx)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = st.Names()
	}
	for _, n := range names {
		if st.Environments[n] == nil {
			return state.Diagnostics{{Pos: state.Pos{File: state.EnvironmentsDir + "/" + n}, Msg: fmt.Sprintf("no environment %q (have %s)", n, strings.Join(st.Names(), ", "))}}
		}
	}
	// An environment deploys only from its declared branch or tag pattern.
	// A state directory that is not a git checkout has no ref to check.
	c, err := e.checkout(ctx)
	if err != nil {
		return err
	}
	if c.Commit != "" {
		for _, n := range names {
			df := st.Environments[n].DeployFrom
			if err := gitops.RefAllowed(c.Ref, c.IsTag, df.Branch, df.Tag); err != nil {
				return fmt.Errorf("environment %s refuses %s at %s: %w (check out its ref, or pass --ref)", n, describeRef(c), shortHash(c.Commit), err)
			}
		}
	}

	stateDir := f.lock.dir(e)
	cacheDir := f.cacheDir
	if cacheDir == "" {
		cacheDir = xdgDir(e, "XDG_CACHE_HOME", ".cache")
	}
	ds := newDrivers(st.Root)
	defer ds.Close()
	progress, closeProgress := e.progress()
	defer closeProgress()

	run := apply.NewRunID(e.now())
	locks, err := e.lockAll(ctx, st, names, run, stateDir, ds, f.lock, progress)
	if err != nil {
		return err
	}
	defer func() {
		for _, l := range locks {
			if err := l.Release(context.WithoutCancel(ctx)); err != nil {
				fmt.Fprintf(e.stderr, "gearshift apply: %v\n", err)
			}
		}
	}()

	pr, err := e.planState(ctx, st, names, f.observe)
	if err != nil {
		return err
	}
	if e.output == "text" {
		if err := report.Text(e.stdout, pr.plan, report.Style{Color: e.color}); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout)
	}

	result := &apply.Result{FormatVersion: apply.FormatVersion}
	var records []*statusrec.Record
	for i, pe := range pr.plan.Environments {
		env := pr.state.Environments[pe.Name]
		statusFile := ""
		var failed map[string]string
		if stateDir != "" {
			statusFile = apply.StatusFile(stateDir, env.Name)
			prev, err := apply.ReadStatusFile(statusFile)
			if err != nil {
				return fmt.Errorf("status record of %s: %w", env.Name, err)
			}
			if prev != nil {
				failed = prev.Failed
			}
		}
		in := apply.Input{Env: env, Root: pr.state.Root, Plan: pe, Resolve: ds.deployer, Lock: locks[i], Failed: failed}
		res, err := apply.Apply(ctx, in, apply.Options{
			Parallelism: f.parallelism, ActionTimeout: f.actionTimeout, CacheDir: cacheDir,
			RetryFailed: f.retryFailed, Now: e.now, Progress: progress, Log: e.log,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", env.Name, err)
		}
		if statusFile != "" {
			rec, err := e.writeStatusFile(context.WithoutCancel(ctx), env, ds, f.observe, statusFile, res)
			if err != nil {
				res.Errors = append(res.Errors, "status record: "+err.Error())
			} else {
				records = append(records, rec)
			}
		}
		result.Add(res)
	}
	// The status branch lets pull-request plans judge with what runs,
	// without target credentials. A failure to write it is reported; the
	// apply itself stands.
	statusErr := error(nil)
	if c.Commit != "" && len(records) > 0 {
		if statusErr = writeStatus(context.WithoutCancel(ctx), e, c, records); statusErr != nil {
			fmt.Fprintf(e.stderr, "gearshift apply: status branch %s: %v\n", e.statusBranch, statusErr)
		}
	}
	closeProgress()
	result.Seconds = e.now().Sub(start).Seconds()
	if e.output == "json" {
		err = result.JSON(e.stdout)
	} else {
		err = result.Text(e.stdout)
	}
	if err != nil {
		return err
	}
	switch {
	case result.Failed(), statusErr != nil:
		return withCode(ExitFailure, nil)
	case result.Denied():
		return withCode(ExitDenied, nil)
	}
	return nil
}

// loadForApply loads the named environments from the checked-out state
// repository, as plan does (expired waivers are violations, not mistakes).
func (e *env) loadForApply(ctx context.Context, names []string) (*state.State, error) {
	c, err := e.checkout(ctx)
	if err != nil {
		return nil, err
	}
	return state.Load(ctx, c.Dir, names, state.Options{Now: e.now, Limits: e.loadLimits, KeepExpiredWaivers: true})
}

// lockAll takes the lock of every named environment, in order, or none:
// a run that cannot have them all releases what it took and exits 5.
func (e *env) lockAll(ctx context.Context, st *state.State, names []string, run, stateDir string, ds *drivers, lf lockFlags, progress apply.Progress) ([]*apply.Lock, error) {
	info := apply.NewLockInfo(run, append([]string{"gearshift"}, os.Args[1:]...), e.now())
	var locks []*apply.Lock
	release := func() {
		for _, l := range locks {
			l.Release(context.WithoutCancel(ctx))
		}
	}
	for _, n := range names {
		env := st.Environments[n]
		dir, err := apply.LockDir(ctx, env, stateDir, ds.pool.Get)
		if err != nil {
			release()
			return nil, err
		}
		l, err := apply.Acquire(ctx, dir, n, info, apply.LockOptions{
			Timeout: lf.timeout, BreakStale: lf.breakLock, Now: e.now,
			Broke: func(old apply.LockInfo, why string) {
				progress.Event(apply.Event{Env: n, Kind: "note", Msg: fmt.Sprintf("broke the stale lock of %s (pid %d, run %s): %s", old.Holder, old.PID, old.Run, why)})
			},
		})
		if err != nil {
			release()
			var le *apply.LockedError
			if errors.As(err, &le) {
				return nil, withCode(ExitLocked, err)
			}
			return nil, err
		}
		locks = append(locks, l)
	}
	return locks, nil
}

// writeStatusFile observes the environment afresh and writes its status
// record to the local state directory. (The status branch of the state
// repository is written from the same apply.StatusRecord.)
func (e *env) writeStatusFile(ctx context.Context, env *state.Environment, ds *drivers, of observeFlags, file string, res *apply.EnvResult) (*statusrec.Record, error) {
	prev, err := apply.ReadStatusFile(file)
	if err != nil {
		return nil, err
	}
	obs := driver.ObserveEnvironment(ctx, env, ds.resolve, false, driver.ObserveOptions{Parallelism: of.parallelism, Timeout: of.timeout})
	desired := map[string]string{}
	for n, u := range env.Units {
		desired[n] = u.Version
	}
	rec := apply.StatusRecord(env.Name, obs, desired, prev, res, e.now())
	return rec, apply.WriteStatusFile(file, rec)
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

// progress reports on stderr: live lines on a terminal, one line per event
// otherwise. The returned function stops it; calling it twice is fine.
func (e *env) progress() (apply.Progress, func()) {
	if f, ok := e.rawStderr.(*os.File); ok && apply.IsTerminal(f) && e.getenv("TERM") != "dumb" {
		l := apply.NewLive(e.stderr, int(f.Fd()))
		done := false
		return l, func() {
			if !done {
				done = true
				l.Close()
			}
		}
	}
	return &apply.Lines{W: e.stderr}, func() {}
}
