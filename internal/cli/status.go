package cli

import (
	"context"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/report"
	"github.com/gearshift-dev/gearshift/internal/state"
)

func statusCmd() *command {
	var of observeFlags
	return &command{
		acts:     true,
		name:     "status",
		usage:    "status [ENV...]",
		summary:  "Show every unit of every environment: desired and running version, age, health, drift, waivers.",
		example:  "  gearshift status\n  gearshift status prod -o json",
		complete: argsEnvs,
		flags:    func(fs *pflag.FlagSet) { of.add(fs) },
		after:    of.deprecated,
		run: func(ctx context.Context, e *env, args []string) error {
			st, err := e.load(ctx, args)
			if err != nil {
				return err
			}
			ds := newDrivers(st.Root, e.now)
			defer ds.Close()
			now := e.now()
			s := &report.Status{FormatVersion: report.StatusFormatVersion, GeneratedAt: now.UTC()}
			prog := e.observeProgress()
			for _, n := range st.Names() {
				env := st.Environments[n]
				obs := driver.ObserveEnvironment(ctx, env, ds.resolve, false, driver.ObserveOptions{Parallelism: of.parallelism, Timeout: of.timeout, Progress: prog.Observing(n)})
				prog.Clear()
				if err := ctx.Err(); err != nil {
					return err
				}
				s.Rows = append(s.Rows, statusRows(env, obs, now)...)
			}
			if e.output == "json" {
				err = report.StatusJSON(e.stdout, s)
			} else {
				err = e.untrusted(func(w io.Writer) error { return report.StatusText(w, s, report.Style{Color: e.color}) })
			}
			if err != nil {
				return err
			}
			// Like plan: a unit that could not be observed fails the run,
			// since nothing can be said of it.
			for _, r := range s.Rows {
				if !r.Observed || r.Error != "" {
					return withCode(ExitFailure, nil)
				}
			}
			return nil
		},
	}
}

// statusRows is the status matrix of one environment. Drift comes from
// plan.Assess, the rule plan uses, so that status and plan never disagree.
func statusRows(env *state.Environment, obs observation.Environment, now time.Time) []report.StatusRow {
	var rows []report.StatusRow
	for _, un := range env.UnitNames() {
		u := env.Units[un]
		o, found := obs.Units[un]
		as := plan.Assess(env, u, o, found, now)
		row := report.StatusRow{Environment: env.Name, Unit: un, Desired: u.Version,
			Health: string(observation.HealthUnknown), Observed: as.Observed, Drift: as.Drift, Error: as.Error}
		if as.Observed {
			row.Running, row.DeployedAt, row.Health = o.Version, o.DeployedAt, string(o.Health)
			if !o.DeployedAt.IsZero() {
				row.Age = int64(now.Sub(o.DeployedAt).Seconds())
			}
		}
		for _, w := range u.Waivers {
			row.Waivers = append(row.Waivers, w.Rule+"@"+w.Until)
		}
		rows = append(rows, row)
	}
	return rows
}
