package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/notify"
	"github.com/gearshift-dev/gearshift/internal/plan"
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
	wait      time.Duration
}

func (l *lockFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&l.stateDir, "state-dir", "", "local state: locks and journals of exec targets, status records (default $XDG_STATE_HOME/gearshift or ~/.local/state/gearshift)")
	fs.DurationVar(&l.timeout, "lock-timeout", apply.DefaultLockTimeout, "a lock older than this is stale")
	fs.DurationVar(&l.wait, "lock-wait", 0, "wait this long for a lock another run holds; apply then plans from the newest commit of its ref, asked of the --repo URL or the checkout's origin; 0 exits 5 at once")
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
		example:      "  gearshift apply dev\n  gearshift apply prod --ref v1.4.0-rel --parallelism 4\n  gearshift apply dev --no-status -o json",
		complete:     argsEnvs,
		flags: func(fs *pflag.FlagSet) {
			fs.IntVar(&f.parallelism, "parallelism", apply.DefaultParallelism, "how many actions of a wave run at once")
			fs.IntVar(&f.observe.parallelism, "observe-parallelism", 32, "how many units are observed at once")
			fs.DurationVar(&f.observe.timeout, "observe-timeout", 30*time.Second, "how long one unit's observation may take (for each 32 hosts of a host target)")
			fs.DurationVar(&f.actionTimeout, "action-timeout", apply.DefaultActionTimeout, "how long one action (fetch, test, deploy, verify, rollback) may take")
			fs.StringVar(&f.cacheDir, "cache-dir", "", "artifact cache (default $XDG_CACHE_HOME/gearshift or ~/.cache/gearshift)")
			fs.BoolVar(&f.retryFailed, "retry-failed", false, "deploy a version that failed and was rolled back before")
			f.lock.add(fs)
		},
		run: func(ctx context.Context, e *env, args []string) error { return e.apply(ctx, args, f) },
	}
}

// apply parses nothing more and computes nothing itself: it loads the
// state, builds the drivers once, hands the run to apply.Reconcile (ref ->
// lock -> journal -> repair -> observe -> plan -> judge -> execute ->
// status record, per environment), prints each judged plan and the
// result, publishes the status records on the status branch and maps the
// verdict to the exit code.
func (e *env) apply(ctx context.Context, names []string, f applyFlags) error {
	if err := e.requireCommit(ctx, "apply"); err != nil {
		return err
	}
	st, err := e.loadAll(ctx, names...)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = st.Names()
	}
	for _, n := range names {
		if st.Environments[n] == nil {
			return noEnvironment(n, st.Names())
		}
	}
	c, err := e.checkout(ctx)
	if err != nil {
		return err
	}
	cacheDir := f.cacheDir
	if cacheDir == "" {
		cacheDir = xdgDir(e, "XDG_CACHE_HOME", ".cache")
	}
	ds := newDrivers(st.Root, e.now)
	defer ds.Close()
	progress, closeProgress := e.progress()
	defer closeProgress()

	req := e.applyRequest(st, names, c, ds, f.lock)
	req.Reload = func(ctx context.Context) (*state.State, *gitops.Checkout, error) {
		// The newest commit of the ref, from the URL or from a local
		// repository's origin (lockwait_reload.go).
		nst, nc, err := e.reloadNewest(ctx, st, names, func(msg string) {
			for _, n := range names {
				progress.Event(apply.Event{Env: n, Kind: "note", Msg: msg})
			}
		})
		if err != nil {
			return nil, nil, err
		}
		c, ds.root = nc, nst.Root
		return nst, nc, nil
	}
	// Release tags, GitHub deployments and notifications (internal/notify).
	pub := &notify.Run{Getenv: e.getenv, Redactor: e.redact, Checkout: func() *gitops.Checkout { return c },
		Auth: e.gitAuth(), Now: e.now, GitHub: e.githubFor, Stderr: e.stderr}
	result, records, err := apply.Reconcile(ctx, req, apply.Options{
		Started: pub.Started, Finished: pub.Finished,
		Parallelism: f.parallelism, ActionTimeout: f.actionTimeout, CacheDir: cacheDir,
		Observe:     driver.ObserveOptions{Parallelism: f.observe.parallelism, Timeout: f.observe.timeout},
		RetryFailed: f.retryFailed, Now: e.now, Progress: progress, Log: e.log,
		Planned: func(pe *plan.Environment) {
			if e.output == "text" {
				report.Text(e.stdout, &plan.Plan{FormatVersion: plan.FormatVersion, GeneratedAt: e.now().UTC(), Environments: []*plan.Environment{pe}}, report.Style{Color: e.color})
				fmt.Fprintln(e.stdout)
			}
		},
	})
	if err != nil {
		if apply.IsLocked(err) {
			return withCode(ExitLocked, err)
		}
		return err
	}
	// The status branch lets pull-request plans judge with what runs,
	// without target credentials. A failure to write it is reported; the
	// apply itself stands.
	statusErr := e.publishStatus(ctx, c, records, "apply")
	closeProgress()
	if e.output == "json" {
		err = result.JSON(e.stdout)
	} else {
		err = result.Text(e.stdout)
	}
	if err != nil {
		return err
	}
	e.publishApply(result, apply.VerdictOf(result) == apply.VerdictFailed || statusErr != nil)
	switch {
	case apply.VerdictOf(result) == apply.VerdictFailed, statusErr != nil:
		return withCode(ExitFailure, nil)
	case apply.VerdictOf(result) == apply.VerdictHeld:
		return withCode(ExitDenied, nil)
	}
	return nil
}

// githubFor is the GitHub client of owner/repo ("": --github-repo or
// GITHUB_REPOSITORY) with GITHUB_TOKEN and GITHUB_API_URL, for what apply
// publishes; request bodies are redacted.
func (e *env) githubFor(repo string) (*forge.GitHub, error) {
	if repo == "" {
		if repo = e.githubRepo; repo == "" {
			repo = e.getenv("GITHUB_REPOSITORY")
		}
	}
	token := e.getenv("GITHUB_TOKEN")
	if repo == "" || token == "" {
		return nil, errors.New("no GitHub token and repository (GITHUB_TOKEN, GITHUB_REPOSITORY)")
	}
	owner, name, err := forge.ParseRepository(repo)
	if err != nil {
		return nil, err
	}
	opts := []forge.Option{forge.WithLogger(e.log), forge.WithHTTPClient(&http.Client{Transport: e.redact.Transport(nil)})}
	if api := e.getenv("GITHUB_API_URL"); api != "" {
		opts = append(opts, forge.WithBaseURL(strings.TrimSuffix(api, "/")+"/"))
	}
	return forge.NewGitHub(owner, name, token, opts...)
}

// applyRequest is what apply and rollback hand to package apply.
func (e *env) applyRequest(st *state.State, names []string, c *gitops.Checkout, ds *drivers, lf lockFlags) apply.Request {
	return apply.Request{
		State: st, Names: names, Checkout: c,
		Drivers:  apply.Drivers{Resolve: ds.deployer, Connect: ds.pool.Get},
		StateDir: lf.dir(e),
		Command:  append([]string{"gearshift"}, os.Args[1:]...),
		Lock:     apply.LockOptions{Timeout: lf.timeout, BreakStale: lf.breakLock, Wait: lf.wait},
	}
}

// publishStatus writes the records to the status branch of a state
// repository that is a git checkout; a failure is said on stderr and
// returned.
func (e *env) publishStatus(ctx context.Context, c *gitops.Checkout, records []*statusrec.Record, cmd string) error {
	if c == nil || c.Commit == "" || len(records) == 0 {
		return nil
	}
	err := writeStatus(context.WithoutCancel(ctx), e, c, records)
	if err != nil {
		fmt.Fprintf(e.stderr, "gearshift %s: status branch %s: %v\n", cmd, e.statusBranch, err)
	}
	return err
}

// publishApply sets apply's step outputs in GitHub Actions: result_json,
// the path of the result's JSON document (docs/apply-json.md) in
// $RUNNER_TEMP, and failed and denied ("true" or "false"). An output that
// cannot be written is a warning: the apply itself stands.
func (e *env) publishApply(result *apply.Result, failed bool) {
	a, err := e.actions()
	if err != nil || !a.Active() {
		return
	}
	var b bytes.Buffer
	path := ""
	if err := result.JSON(&b); err == nil {
		path, err = writeTemp(e.getenv("RUNNER_TEMP"), "gearshift-apply-*.json", e.redact.Bytes(b.Bytes()))
		if err != nil {
			e.log.Warn("apply result JSON", "err", err)
		}
	}
	denied := apply.VerdictOf(result) == apply.VerdictHeld || result.Denied()
	for _, kv := range [][2]string{{"result_json", path}, {"failed", strconv.FormatBool(failed)}, {"denied", strconv.FormatBool(denied)}} {
		if err := a.SetOutput(kv[0], kv[1]); err != nil {
			e.log.Warn("step output", "name", kv[0], "err", err)
		}
	}
}

// writeTemp writes data to a new file in dir (the system's temporary
// directory when dir is empty) named by pattern, and returns its path.
func writeTemp(dir, pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// loadForApply loads the named environments from the checked-out state
// repository, as plan does (expired waivers are violations, not mistakes).
func (e *env) loadForApply(ctx context.Context, names []string) (*state.State, error) {
	c, err := e.checkout(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkEnvironments(c.Dir, names...); err != nil {
		return nil, err
	}
	return state.Load(ctx, c.Dir, names, state.Options{Now: e.now, Limits: e.loadLimits, KeepExpiredWaivers: true})
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
