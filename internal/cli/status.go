package cli

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/report"
)

func statusCmd() *command {
	var of observeFlags
	return &command{
		acts:    true,
		name:    "status",
		usage:   "status [ENV...]",
		summary: "Show every unit of every environment: desired and running version, age, health, drift, waivers.",
		flags:   func(fs *pflag.FlagSet) { of.add(fs) },
		run: func(ctx context.Context, e *env, args []string) error {
			st, err := e.load(ctx, args)
			if err != nil {
				return err
			}
			ds := newDrivers(st.Root)
			defer ds.Close()
			now := e.now()
			s := &report.Status{FormatVersion: report.StatusFormatVersion, GeneratedAt: now.UTC()}
			for _, n := range st.Names() {
				env := st.Environments[n]
				obs := driver.ObserveEnvironment(ctx, env, ds.resolve, false, driver.ObserveOptions{Parallelism: of.parallelism, Timeout: of.timeout})
				for _, un := range env.UnitNames() {
					u := env.Units[un]
					o := obs.Units[un]
					row := report.StatusRow{Environment: n, Unit: un, Desired: u.Version, Running: o.Version,
						DeployedAt: o.DeployedAt, Health: string(o.Health), Error: o.Error}
					if !o.DeployedAt.IsZero() {
						row.Age = int64(now.Sub(o.DeployedAt).Seconds())
					}
					row.Drift = o.Error == "" && (!o.Deployed || o.Version != u.Version)
					for _, w := range u.Waivers {
						row.Waivers = append(row.Waivers, w.Rule+"@"+w.Until)
					}
					s.Rows = append(s.Rows, row)
				}
			}
			if e.output == "json" {
				return report.StatusJSON(e.stdout, s)
			}
			return report.StatusText(e.stdout, s, report.Style{Color: e.color})
		},
	}
}
