package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/driver"
	execdrv "github.com/gearshift-dev/gearshift/internal/driver/exec"
	"github.com/gearshift-dev/gearshift/internal/driver/host"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/policy"
	"github.com/gearshift-dev/gearshift/internal/report"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// observeFlags are shared by plan, status and apply.
type observeFlags struct {
	parallelism int
	timeout     time.Duration
}

func (o *observeFlags) add(fs *pflag.FlagSet) {
	fs.IntVar(&o.parallelism, "parallelism", 32, "how many units are observed at once")
	fs.DurationVar(&o.timeout, "observe-timeout", 30*time.Second, "how long one unit's observation may take")
}

// drivers resolves targets to drivers for one run and holds their
// connections.
type drivers struct {
	root string
	pool *host.Pool
}

func newDrivers(root string) *drivers { return &drivers{root: root, pool: host.NewPool()} }

func (d *drivers) Close() error { return d.pool.Close() }

func (d *drivers) resolve(env *state.Environment, target string) (driver.Observer, error) {
	t, ok := env.Targets[target]
	if !ok {
		return nil, fmt.Errorf("no target %q in %s", target, env.Name)
	}
	switch {
	case t.Host != nil:
		return &host.Driver{Name: target, Target: t.Host, Connect: d.pool.Connector()}, nil
	case t.Exec != nil:
		return &execdrv.Driver{Target: t.Exec, Dir: d.root}, nil
	case t.Kubernetes != nil:
		return nil, errors.New("the kubernetes driver is not built into this version of gearshift")
	}
	return nil, fmt.Errorf("target %q has no driver", target)
}

// planRun is the result of planning the named environments.
type planRun struct {
	state *state.State
	plan  *plan.Plan
}

// makePlan is the data flow of plan: load desired -> observe running ->
// plan -> judge. The promotion source of an environment is observed too.
func (e *env) makePlan(ctx context.Context, names []string, of observeFlags) (*planRun, error) {
	// Load every environment: a promotion source may not be among names.
	st, err := state.Load(ctx, e.repo, nil, state.Options{Now: e.now, KeepExpiredWaivers: true})
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		names = st.Names()
	}
	for _, n := range names {
		if st.Environments[n] == nil {
			return nil, state.Diagnostics{{Pos: state.Pos{File: state.EnvironmentsDir + "/" + n}, Msg: fmt.Sprintf("no environment %q", n)}}
		}
	}
	ds := newDrivers(st.Root)
	defer ds.Close()
	now := e.now()
	oo := driver.ObserveOptions{Parallelism: of.parallelism, Timeout: of.timeout}
	observed := map[string]driver.Observed{}
	observe := func(n string) driver.Observed {
		if o, ok := observed[n]; ok {
			return o
		}
		env := st.Environments[n]
		o := driver.ObserveEnvironment(ctx, env, ds.resolve, env.Policies.Prune, oo)
		observed[n] = o
		return o
	}
	p := &plan.Plan{FormatVersion: plan.FormatVersion, GeneratedAt: now.UTC()}
	for _, n := range names {
		env := st.Environments[n]
		obs := observe(n)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pe := plan.Compute(plan.Input{Env: env, Observed: obs, ObservedFrom: "live", Now: now})
		var src *policy.Source
		if pr := env.Promotion; pr != nil {
			so := observe(pr.From)
			src = &policy.Source{Env: pr.From, Observed: so.Units}
		}
		policy.Judge(pe, policy.Input{Env: env, Source: src, Now: now})
		p.Environments = append(p.Environments, pe)
	}
	return &planRun{state: st, plan: p}, nil
}

func planCmd() *command {
	var of observeFlags
	var detailed bool
	var jsonOut string
	return &command{
		name:    "plan",
		usage:   "plan [ENV...]",
		summary: "Show what would change in each environment, why, and which policies forbid it.",
		flags: func(fs *pflag.FlagSet) {
			of.add(fs)
			fs.BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when the plan has changes")
			fs.StringVar(&jsonOut, "json-out", "", "also write the plan's JSON document to this file")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			run, err := e.makePlan(ctx, args, of)
			if err != nil {
				return err
			}
			p := run.plan
			if jsonOut != "" {
				if err := writeJSONFile(jsonOut, func(f *os.File) error { return report.JSON(f, p) }); err != nil {
					return err
				}
			}
			switch e.output {
			case "json":
				err = report.JSON(e.stdout, p)
			case "markdown":
				_, err = fmt.Fprint(e.stdout, report.Markdown(p, report.MarkdownOptions{}))
			default:
				err = report.Text(e.stdout, p, report.Style{Color: e.color})
			}
			if err != nil {
				return err
			}
			return planExit(p.Summarize(), detailed)
		},
	}
}

// planExit maps a plan to the exit codes of the contract: a deny is 3, a
// unit that could not be observed 1, changes 2 with --detailed-exitcode.
func planExit(s plan.Summary, detailed bool) error {
	switch {
	case s.Blocking > 0:
		return withCode(ExitDenied, nil)
	case s.Errors > 0:
		return withCode(ExitFailure, nil)
	case detailed && s.HasChanges():
		return withCode(ExitChanges, nil)
	}
	return nil
}

// writeJSONFile writes a file atomically: a temporary file in the same
// directory, synced, then renamed into place.
func writeJSONFile(path string, write func(*os.File) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".gearshift-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
