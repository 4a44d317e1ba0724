package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/driver"
	execdrv "github.com/gearshift-dev/gearshift/internal/driver/exec"
	"github.com/gearshift-dev/gearshift/internal/driver/host"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/driver/kubernetes"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/policy"
	"github.com/gearshift-dev/gearshift/internal/report"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// observeFlags are shared by plan, status and apply.
type observeFlags struct {
	parallelism int
	timeout     time.Duration
	// fromStatus plans with the status records of the status branch
	// instead of observing the targets (plan --from-status).
	fromStatus bool
}

// add adds the observation flags of plan and status. They are named
// --observe-* as in apply, where --parallelism is the actions'; plan's
// and status's old --parallelism stays as a hidden, deprecated alias.
func (o *observeFlags) add(fs *pflag.FlagSet) {
	fs.IntVar(&o.parallelism, "observe-parallelism", 32, "how many units are observed at once")
	fs.IntVar(&o.parallelism, "parallelism", 32, "deprecated: --observe-parallelism")
	_ = fs.MarkHidden("parallelism")
	fs.DurationVar(&o.timeout, "observe-timeout", 30*time.Second, "how long one unit's observation may take (for each 32 hosts of a host target)")
}

// deprecated says on stderr that the old spelling was used. (pflag's own
// notice would go where cobra prints, which is stdout here.)
func (o *observeFlags) deprecated(e *env, fs *pflag.FlagSet) {
	if fs.Changed("parallelism") {
		fmt.Fprintln(e.stderr, "gearshift: --parallelism is deprecated here: use --observe-parallelism (apply's --parallelism is how many actions run at once)")
	}
}

// drivers resolves targets to drivers for one run and holds their
// connections.
type drivers struct {
	root string
	pool *host.Pool
	// kube holds the kubernetes clients and the lists observation
	// shares between units, for the run.
	kube *kubernetes.Pool
	// now is the run's clock (GEARSHIFT_NOW): the times drivers record,
	// such as the deployed_at a rollback renews, come from it.
	now func() time.Time
}

func newDrivers(root string, now func() time.Time) *drivers {
	return &drivers{root: root, pool: host.NewPool(), kube: kubernetes.NewPool(root), now: now}
}

func (d *drivers) Close() error { return d.pool.Close() }

func (d *drivers) resolve(env *state.Environment, target string) (driver.Observer, error) {
	t, ok := env.Targets[target]
	if !ok {
		return nil, fmt.Errorf("no target %q in %s", target, env.Name)
	}
	switch {
	case t.Host != nil:
		return &host.Driver{Name: target, Target: t.Host, Connect: d.pool.Connector(), Now: d.now}, nil
	case t.Exec != nil:
		return &execdrv.Driver{Target: t.Exec, Dir: d.root}, nil
	case t.Kubernetes != nil:
		return d.kube.Driver(target, t.Kubernetes, d.now), nil
	}
	return nil, fmt.Errorf("target %q has no driver", target)
}

// differ is a driver that can say what a deploy would change without
// changing it (the kubernetes driver's server-side dry run).
type differ interface {
	Diff(ctx context.Context, env *state.Environment, u *state.Unit) (string, error)
}

// dryRun fills in the Diff of each deploy and redeploy whose driver can
// tell (a live plan only: a plan from the status records touches no
// target). A dry run that fails says so in the Diff; the plan stands.
func (d *drivers) dryRun(ctx context.Context, env *state.Environment, pe *plan.Environment, timeout time.Duration) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, a := range pe.Actions {
		u := env.Units[a.Unit]
		if a.Type == plan.Prune || u == nil {
			continue
		}
		o, err := d.resolve(env, a.Target)
		df, ok := o.(differ)
		if err != nil || !ok {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			diff, err := df.Diff(dctx, env, u)
			if err != nil {
				diff = "dry run failed: " + err.Error()
			}
			a.Diff = diff
		})
	}
	wg.Wait()
}

// deployer resolves a target to the write side of its driver, for apply
// and rollback. A driver that cannot deploy yet says so per unit.
func (d *drivers) deployer(env *state.Environment, target string) (driver.Deployer, error) {
	o, err := d.resolve(env, target)
	if err != nil {
		return nil, err
	}
	dep, ok := o.(driver.Deployer)
	if !ok {
		return nil, fmt.Errorf("the %s driver of target %q cannot deploy in this version of gearshift", env.Targets[target].Driver(), target)
	}
	return dep, nil
}

// planRun is the result of planning the named environments.
type planRun struct {
	state *state.State
	plan  *plan.Plan
}

// makePlan is the data flow of plan: load desired -> observe running ->
// plan -> judge. The promotion source of an environment is observed too.
// With of.fromStatus, "observe" reads the status records instead, so the
// plan needs no credentials for any target.
func (e *env) makePlan(ctx context.Context, names []string, of observeFlags) (*planRun, error) {
	st, err := e.loadAll(ctx, names...)
	if err != nil {
		return nil, err
	}
	return e.planState(ctx, st, names, of)
}

// loadAll loads every environment of the checked-out state repository, as
// plan and apply need it: a promotion source may not be among the
// environments named, and expired waivers are violations, not mistakes.
// Each of names must be an environment of it (checkEnvironments).
func (e *env) loadAll(ctx context.Context, names ...string) (*state.State, error) {
	c, err := e.checkout(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkEnvironments(c.Dir, names...); err != nil {
		return nil, err
	}
	return state.Load(ctx, c.Dir, nil, state.Options{Now: e.now, Limits: e.loadLimits, KeepExpiredWaivers: true})
}

// planState is makePlan on a state already loaded (by loadAll).
func (e *env) planState(ctx context.Context, st *state.State, names []string, of observeFlags) (*planRun, error) {
	c, err := e.checkout(ctx)
	if err != nil {
		return nil, err
	}
	var records *statusRecords
	observedFrom := "live"
	if of.fromStatus {
		if records, err = readStatus(ctx, e, c); err != nil {
			return nil, fmt.Errorf("plan --from-status: %w", err)
		}
		observedFrom = "status"
	}
	if len(names) == 0 {
		names = st.Names()
	}
	for _, n := range names {
		if st.Environments[n] == nil {
			return nil, noEnvironment(n, st.Names())
		}
	}
	ds := newDrivers(st.Root, e.now)
	defer ds.Close()
	now := e.now()
	oo := driver.ObserveOptions{Parallelism: of.parallelism, Timeout: of.timeout}
	prog := e.observeProgress()
	observed := map[string]driver.Observed{}
	observe := func(n string) driver.Observed {
		if o, ok := observed[n]; ok {
			return o
		}
		env := st.Environments[n]
		var o driver.Observed
		if records != nil {
			o = records.observed(env)
		} else {
			po := oo
			po.Progress = prog.Observing(n)
			o = driver.ObserveEnvironment(ctx, env, ds.resolve, env.Policies.Prune, po)
			prog.Clear()
		}
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
		pe := plan.Compute(plan.Input{Env: env, Observed: obs, ObservedFrom: observedFrom, StatusRecord: records.recordOf(n), Now: now})
		if records == nil {
			ds.dryRun(ctx, env, pe, of.timeout)
		}
		var src *policy.Source
		if pr := env.Promotion; pr != nil {
			if st.Environments[pr.From] == nil {
				src = &policy.Source{Env: pr.From, Err: fmt.Sprintf("no environment %q", pr.From)}
			} else if records != nil && records.records[pr.From] == nil {
				src = &policy.Source{Env: pr.From, Err: fmt.Sprintf("no status record of %s on %s", pr.From, records.branch)}
			} else {
				so := observe(pr.From)
				src = &policy.Source{Env: pr.From, Observed: so.Units}
			}
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
		name:     "plan",
		usage:    "plan [ENV...]",
		summary:  "Show what would change in each environment, why, and which policies forbid it.",
		example:  "  gearshift plan\n  gearshift plan prod --detailed-exitcode\n  gearshift plan staging -o json --json-out plan.json\n  gearshift plan --from-status    # no target credentials: the status branch's observations",
		complete: argsEnvs,
		after:    of.deprecated,
		flags: func(fs *pflag.FlagSet) {
			of.add(fs)
			fs.BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when the plan has changes")
			fs.StringVar(&jsonOut, "json-out", "", "also write the plan's JSON document to this file")
			fs.BoolVar(&of.fromStatus, "from-status", false, "plan with the status records of the status branch instead of observing the targets (needs no target credentials)")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			gha, err := e.actions()
			if err != nil {
				return err
			}
			if !of.fromStatus && e.untrustedPlan(gha) {
				// The state is the pull request author's: its commands
				// must not run, so the status records are what there is.
				of.fromStatus = true
			}
			run, err := e.makePlan(ctx, args, of)
			var diags state.Diagnostics
			if gha.Active() && errors.As(err, &diags) {
				// The mistakes quote the user's files: Main prints them
				// on stderr, framed.
				e.publishInvalid(ctx, gha, diags, args)
				return diags
			}
			if err != nil {
				return err
			}
			p := run.plan
			if gha.Active() {
				if jsonOut, err = e.planJSONPath(jsonOut); err != nil {
					return err
				}
			}
			if jsonOut != "" {
				var b bytes.Buffer
				if err := report.JSON(&b, p); err != nil {
					return err
				}
				// Atomically: a reader never sees half a plan.
				if err := transport.Local().WriteFileAtomic(ctx, jsonOut, e.redact.Bytes(b.Bytes()), 0o644); err != nil {
					return err
				}
			}
			switch e.output {
			case "json":
				// Every line of indented JSON starts with a bracket or a
				// quote after its indentation: never a workflow command.
				err = report.JSON(e.stdout, p)
			case "markdown":
				err = e.untrusted(func(w io.Writer) error {
					_, err := fmt.Fprint(w, report.Markdown(p, report.MarkdownOptions{}))
					return err
				})
			default:
				err = e.untrusted(func(w io.Writer) error { return report.Text(w, p, report.Style{Color: e.color}) })
			}
			if err != nil {
				return err
			}
			if gha.Active() {
				if err := e.publishPlan(ctx, gha, p, args, jsonOut); err != nil {
					return err
				}
			}
			s := p.Summarize()
			for _, pe := range p.Environments {
				if pe.Unrecorded() {
					// An environment never applied has no record yet:
					// the plan says so plainly, and a pull request that
					// adds it is not failed for it.
					es := pe.Summarize()
					s.Errors -= es.Errors
				}
			}
			return planExit(s, detailed)
		},
	}
}

// recordOf describes the status record env was planned from; nil for a
// live plan (sr nil).
func (sr *statusRecords) recordOf(env string) *plan.StatusRecord {
	if sr == nil {
		return nil
	}
	out := &plan.StatusRecord{Branch: sr.branch}
	if err := sr.errs[env]; err != nil {
		out.Error = err.Error()
		return out
	}
	if r := sr.records[env]; r != nil {
		out.Found, out.WrittenAt, out.Commit = true, r.WrittenAt, r.Commit
	}
	return out
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

// observeProgress is the indicator of an observation: on stderr when it
// is a terminal (not a dumb one) and the output is not JSON, else silent.
func (e *env) observeProgress() *report.Progress {
	return report.NewProgress(e.stderr, e.output != "json" && isTerminal(e.rawStderr) && e.getenv("TERM") != "dumb")
}
