package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/actions"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/proc"
	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

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

	// co is the state repo checked out by e.checkout, once per run;
	// noCommit says it is a local git repository without a commit, read
	// from its files (apply and rollback refuse it).
	co       *gitops.Checkout
	noCommit bool
	// cmdName is the command running ("plan"), for messages.
	cmdName string
	// gha is the GitHub Actions run, read once by e.actions.
	gha *actions.Actions
}

type command struct {
	name    string
	aliases []string
	usage   string
	summary string
	// example is shown under Examples in the command's help: every
	// command has one.
	example string
	// flags adds the command's own flags; run gets the positional args.
	flags func(fs *pflag.FlagSet)
	run   func(ctx context.Context, e *env, args []string) error
	// complete says what the positional arguments name, for shell
	// completion from the state of --repo.
	complete argKind
	// envFlags are the command's flags whose value is an environment
	// name, completed like an argsEnvs argument.
	envFlags []string
	// noState marks a command that reads no state repository (version,
	// schema): it has none of the state-repo flags.
	noState bool
	// writesStatus adds --no-status: the command writes status records
	// with writeStatus (apply, rollback).
	writesStatus bool
	// acts marks a command that runs the state's commands, observes its
	// targets or changes something (apply, rollback, status, bump,
	// promote): it is refused in a run about a pull request
	// (actions.Untrusted), where the state is the PR author's.
	acts bool
	// after runs once the flags are parsed, before the checks of run:
	// a deprecated flag says so there.
	after func(e *env, fs *pflag.FlagSet)
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
		serveCmd(),
		schemaCmd(),
		versionCmd(),
		initCmd(),
	}
}

// Main runs gearshift with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, stdout, stderr, os.Getenv)
}

// usageError is a mistake on the command line (an unknown flag, a bad
// value, a missing one): cobra's message names the flag.
type usageError struct{ err error }

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

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
	code := ExitOK
	root := e.rootCommand(ctx, &code)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	c, err := root.ExecuteContextC(ctx)
	if err != nil {
		// cobra's own errors: a flag, an argument or a command that does
		// not exist. The command's errors were handled in RunE.
		msg := strings.TrimRight(err.Error(), "\n")
		if c.Name() == "help" {
			c = c.Root()
		}
		fmt.Fprintf(stderr, "%s: %s\n", c.CommandPath(), msg)
		if strings.Contains(msg, "\n") {
			// A suggestion ("Did you mean this?") ends in a list.
			fmt.Fprintln(stderr)
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", c.CommandPath())
		return ExitFailure
	}
	return code
}

// rootCommand builds the command tree; each command's outcome is written
// to *code.
func (e *env) rootCommand(ctx context.Context, code *int) *cobra.Command {
	v := buildVersion()
	root := &cobra.Command{
		Use:   "gearshift",
		Short: "gearshift reconciles gears and stacks with the state kept as CUE in git.",
		Long: "gearshift reconciles gears and stacks with the state kept as CUE in git.\n\n" +
			"Exit codes: 0 ok, 1 failure, 2 changes (--detailed-exitcode), 3 denied, 4 invalid state, 5 locked.",
		Example: "  gearshift validate\n  gearshift plan dev --repo https://github.com/acme/state\n  gearshift -o json status prod",
		Version: v.String(),
		// The command's own errors are reported in RunE with their exit
		// code; cobra's usage errors once, by run.
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
	}
	root.SetVersionTemplate("gearshift {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	root.SetHelpCommand(helpCommand())
	// --version without cobra's -v, which tools keep for verbosity.
	root.Flags().Bool("version", false, "print gearshift's version and the commit it was built from")
	pf := root.PersistentFlags()
	pf.StringVarP(&e.output, "output", "o", "text", "output format: text or json (plan: markdown too)")
	noColor := pf.Bool("no-color", false, "never colour the output (also NO_COLOR)")
	logLevel := pf.String("log-level", "warn", "log level on stderr: debug, info, warn, error")
	for _, cmd := range commands() {
		cc := &cobra.Command{
			Use:               cmd.usage,
			Aliases:           cmd.aliases,
			Short:             cmd.summary,
			Example:           cmd.example,
			ValidArgsFunction: e.completer(ctx, cmd.complete),
		}
		fs := cc.Flags()
		if !cmd.noState {
			fs.StringVar(&e.repo, "repo", ".", "the state repository: a directory, or a git URL cloned into the cache ($XDG_CACHE_HOME/gearshift)")
			fs.StringVar(&e.ref, "ref", "", "the branch or tag of the state repository to use (with a directory: must be the one checked out)")
			fs.StringVar(&e.statusBranch, "status-branch", gitops.DefaultStatusBranch, "the branch of the state repository that holds the status records")
			fs.StringVar(&e.githubRepo, "github-repo", "", "the GitHub repository (owner/repo) for pull requests and comments (default $GITHUB_REPOSITORY)")
			e.loadLimits = state.Limits{Timeout: state.DefaultLoadTimeout, Memory: state.DefaultLoadMemory}
			fs.DurationVar(&e.loadLimits.Timeout, "load-timeout", state.DefaultLoadTimeout, "the time evaluating one environment of the state may take")
			fs.Var(&e.loadLimits.Memory, "load-memory", "the memory evaluating one environment of the state may use")
		}
		if cmd.writesStatus {
			fs.BoolVar(&e.noStatus, "no-status", false, "do not write the status record to the status branch")
		}
		if cmd.flags != nil {
			cmd.flags(fs)
		}
		for _, name := range cmd.envFlags {
			_ = cc.RegisterFlagCompletionFunc(name, e.completer(ctx, argsEnvs))
		}
		cc.RunE = func(cc *cobra.Command, args []string) error {
			*code = e.runCommand(ctx, cmd, cc.Flags(), args, *noColor, *logLevel)
			return nil
		}
		root.AddCommand(cc)
	}
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"text", "json", "markdown"}, cobra.ShellCompDirectiveNoFileComp))
	return root
}

// helpCommand is cobra's help command, except that help for a command
// that does not exist is a usage error (exit 1, with suggestions), not the
// top-level help and exit 0.
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  gearshift help plan",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var names []string
			for _, sub := range c.Root().Commands() {
				if sub.IsAvailableCommand() || sub == c {
					names = append(names, sub.Name())
				}
			}
			return matching(names, args, toComplete), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return &usageError{err}
			}
			// As cobra's own help command: the flags cobra adds when a
			// command runs are listed too.
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

// runCommand runs one command once its flags are parsed and returns its
// exit code, having said on stderr why it is not 0.
func (e *env) runCommand(ctx context.Context, cmd *command, fs *pflag.FlagSet, args []string, noColor bool, logLevel string) int {
	stderr := e.stderr
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		fmt.Fprintf(stderr, "gearshift: --log-level: %v\n", err)
		return ExitFailure
	}
	e.redact.AddURL(e.repo)
	e.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	e.color = !noColor && e.getenv("NO_COLOR") == "" && isTerminal(e.rawStdout)
	if cmd.after != nil {
		cmd.after(e, fs)
	}
	if err := e.maskSecrets(); err != nil {
		fmt.Fprintf(stderr, "gearshift: %v\n", err)
		return ExitFailure
	}
	if !cmd.noState {
		// A bad allow-list is said before anything runs, not when the
		// first command of an apply would start.
		if _, err := proc.Inherited(func(k string) (string, bool) { v := e.getenv(k); return v, v != "" }); err != nil {
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
	e.cmdName = cmd.name
	err := cmd.run(ctx, e, args)
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
	if err := checkEnvironments(c.Dir, names...); err != nil {
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
