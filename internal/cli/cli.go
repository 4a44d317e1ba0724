package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/actions"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/proc"
	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// env is what every command gets: its streams, its flags and the clock.
type env struct {
	stdout, stderr io.Writer
	// rawStdout and rawStderr are the streams before redaction: the
	// runner's add-mask commands must carry the secret, and a terminal is
	// recognised on them.
	rawStdout, rawStderr io.Writer
	// redact masks every secret of the run; stdout and stderr pass
	// through it, and the sinks find it in the context.
	redact *redact.Redactor
	getenv func(string) string
	now    func() time.Time
	log    *slog.Logger

	// common flags
	repo   string
	ref    string
	output string
	color  bool
	// statusBranch is the branch of the state repo holding the status
	// records; noStatus (apply's --no-status) skips writing them.
	statusBranch string
	noStatus     bool
	// githubRepo is owner/repo for pull requests and comments
	// (--github-repo, else GITHUB_REPOSITORY).
	githubRepo string
	// loadLimits bound each environment's evaluation (--load-timeout,
	// --load-memory): a state is untrusted input.
	loadLimits state.Limits

	// co is the state repo checked out by e.checkout, once per run.
	co *gitops.Checkout
	// gha is the GitHub Actions run, read once by e.actions.
	gha *actions.Actions
}

type command struct {
	name    string
	aliases []string
	usage   string
	summary string
	// flags adds the command's own flags; run gets the positional args.
	flags func(fs *pflag.FlagSet)
	run   func(ctx context.Context, e *env, args []string) error
	// writesStatus adds --no-status: the command writes status records
	// with writeStatus (apply, rollback).
	writesStatus bool
	// acts marks a command that runs the state's commands, observes its
	// targets or changes something (apply, rollback, status, bump,
	// promote): it is refused in a run about a pull request
	// (actions.Untrusted), where the state is the PR author's.
	acts bool
}

func commands() []*command {
	return []*command{
		validateCmd(),
		listCmd(),
		planCmd(),
		bumpCmd(),
		promoteCmd(),
		statusCmd(),
		applyCmd(),
		rollbackCmd(),
		schemaCmd(),
		versionCmd(),
	}
}

// Main runs gearshift with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, stdout, stderr, os.Getenv)
}

// run is Main with the process environment read through getenv, so that
// tests can run commands in parallel, each with its own variables.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{rawStdout: stdout, rawStderr: stderr, getenv: getenv, now: time.Now, redact: runSecrets(getenv)}
	outW, errW := e.redact.Writer(stdout), e.redact.Writer(stderr)
	defer outW.Flush()
	defer errW.Flush()
	e.stdout, e.stderr = outW, errW
	stdout, stderr = outW, errW
	ctx = redact.NewContext(ctx, e.redact)
	if v := getenv("GEARSHIFT_NOW"); v != "" {
		// A fixed clock for reproducible plans in tests and demos.
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			fmt.Fprintf(stderr, "gearshift: GEARSHIFT_NOW=%q is not an RFC 3339 time\n", v)
			return ExitFailure
		}
		e.now = func() time.Time { return t }
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return ExitOK
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] || contains(c.aliases, args[0]) {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "gearshift: unknown command %q\n\n", args[0])
		usage(stderr)
		return ExitFailure
	}
	fs := pflag.NewFlagSet(cmd.name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gearshift %s\n\n%s\n\nFlags:\n%s", cmd.usage, cmd.summary, fs.FlagUsages())
	}
	fs.StringVar(&e.repo, "repo", ".", "the state repository: a directory, or a git URL cloned into the cache ($XDG_CACHE_HOME/gearshift)")
	fs.StringVar(&e.ref, "ref", "", "the branch or tag of the state repository to use (with a directory: must be the one checked out)")
	fs.StringVar(&e.statusBranch, "status-branch", gitops.DefaultStatusBranch, "the branch of the state repository that holds the status records")
	fs.StringVar(&e.githubRepo, "github-repo", "", "the GitHub repository (owner/repo) for pull requests and comments (default $GITHUB_REPOSITORY)")
	if cmd.name != "schema" && cmd.name != "version" {
		e.loadLimits = state.Limits{Timeout: state.DefaultLoadTimeout, Memory: state.DefaultLoadMemory}
		fs.DurationVar(&e.loadLimits.Timeout, "load-timeout", state.DefaultLoadTimeout, "the time evaluating one environment of the state may take")
		fs.Var(&e.loadLimits.Memory, "load-memory", "the memory evaluating one environment of the state may use")
	}
	if cmd.writesStatus {
		fs.BoolVar(&e.noStatus, "no-status", false, "do not write the status record to the status branch")
	}
	fs.StringVarP(&e.output, "output", "o", "text", "output format: text or json")
	noColor := fs.Bool("no-color", false, "never colour the output (also NO_COLOR)")
	logLevel := fs.String("log-level", "warn", "log level on stderr: debug, info, warn, error")
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return ExitOK
		}
		return ExitFailure
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "gearshift: --log-level: %v\n", err)
		return ExitFailure
	}
	e.redact.AddURL(e.repo)
	e.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	e.color = !*noColor && getenv("NO_COLOR") == "" && isTerminal(e.rawStdout)
	if err := e.maskSecrets(); err != nil {
		fmt.Fprintf(stderr, "gearshift: %v\n", err)
		return ExitFailure
	}
	if cmd.name != "version" && cmd.name != "schema" {
		// A bad allow-list is said before anything runs, not when the
		// first command of an apply would start.
		if _, err := proc.Inherited(func(k string) (string, bool) { v := getenv(k); return v, v != "" }); err != nil {
			fmt.Fprintf(stderr, "gearshift: %v\n", err)
			return ExitFailure
		}
	}
	if cmd.acts {
		if err := e.refuseUntrusted(cmd.name); err != nil {
			fmt.Fprintf(stderr, "gearshift %s: %v\n", cmd.name, err)
			return ExitFailure
		}
	}
	if e.output != "text" && e.output != "json" && !(cmd.name == "plan" && e.output == "markdown") {
		fmt.Fprintf(stderr, "gearshift: --output must be text or json, not %q\n", e.output)
		return ExitFailure
	}
	err := cmd.run(ctx, e, fs.Args())
	if err == nil {
		return ExitOK
	}
	var diags state.Diagnostics
	if errors.As(err, &diags) {
		e.framed(stderr, func(w io.Writer) { printDiagnostics(w, diags) })
		return ExitInvalid
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		return ee.code
	}
	e.framed(stderr, func(w io.Writer) { fmt.Fprintf(w, "gearshift %s: %s\n", cmd.name, inert.Lines(err.Error())) })
	return codeOf(err)
}

func printDiagnostics(w io.Writer, diags state.Diagnostics) {
	for _, d := range diags {
		fmt.Fprintln(w, inert.Text(d.String()))
	}
	noun := "mistakes"
	if len(diags) == 1 {
		noun = "mistake"
	}
	fmt.Fprintf(w, "gearshift: the state is invalid: %d %s\n", len(diags), noun)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "gearshift reconciles gears and stacks with the state kept as CUE in git.")
	fmt.Fprintln(w, "\nUsage: gearshift COMMAND [flags] [args]\n\nCommands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nExit codes: 0 ok, 1 failure, 2 changes (--detailed-exitcode), 3 denied, 4 invalid state, 5 locked.")
	fmt.Fprintln(w, "Run 'gearshift COMMAND --help' for a command's flags.")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// load reads the state repository named by --repo and --ref.
func (e *env) load(ctx context.Context, names []string) (*state.State, error) {
	c, err := e.checkout(ctx)
	if err != nil {
		return nil, err
	}
	return state.Load(ctx, c.Dir, names, state.Options{Now: e.now, Limits: e.loadLimits})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
