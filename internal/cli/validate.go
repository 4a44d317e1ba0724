package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/schema"
)

func validateCmd() *command {
	return &command{
		name:     "validate",
		usage:    "validate [ENV...]",
		summary:  "Check the state repository: every mistake with its file:line:column (exit 4).",
		example:  "  gearshift validate\n  gearshift validate prod --repo ../state\n  gearshift -o json validate",
		complete: argsEnvs,
		run: func(ctx context.Context, e *env, args []string) error {
			st, err := e.load(ctx, args)
			var diags state.Diagnostics
			if e.output == "json" && errors.As(err, &diags) {
				// The document on stdout, the mistakes on stderr as ever.
				if jerr := diags.JSON(e.stdout); jerr != nil {
					return jerr
				}
			}
			if err != nil {
				return err
			}
			units := 0
			for _, env := range st.Environments {
				units += len(env.Units)
			}
			if e.output == "json" {
				return json.NewEncoder(e.stdout).Encode(map[string]any{
					"format_version": "1", "valid": true,
					"environments": st.Names(), "units": units,
				})
			}
			fmt.Fprintf(e.stdout, "ok: %s, %s\n", plural(len(st.Environments), "environment", "environments"), plural(units, "unit", "units"))
			return nil
		},
	}
}

func listCmd() *command {
	return &command{
		name:     "list",
		usage:    "list [ENV...]",
		summary:  "List the environments and their units with the desired versions.",
		example:  "  gearshift list\n  gearshift list prod -o json",
		complete: argsEnvs,
		run: func(ctx context.Context, e *env, args []string) error {
			st, err := e.load(ctx, args)
			if err != nil {
				return err
			}
			if e.output == "json" {
				type unit struct {
					Name, Kind, Version, Target, Strategy string
					DependsOn                             []string `json:",omitempty"`
				}
				out := map[string][]unit{}
				for _, n := range st.Names() {
					env := st.Environments[n]
					out[n] = []unit{}
					for _, un := range env.UnitNames() {
						u := env.Units[un]
						out[n] = append(out[n], unit{u.Name, u.Kind, u.Version, u.Target, u.Strategy, u.DependsOn})
					}
				}
				return json.NewEncoder(e.stdout).Encode(map[string]any{"format_version": "1", "environments": out})
			}
			// Versions and patterns are the state's text: escaped (inert).
			stdout := inert.NewWriter(e.stdout)
			for i, n := range st.Names() {
				env := st.Environments[n]
				if i > 0 {
					fmt.Fprintln(stdout)
				}
				from := "branch " + env.DeployFrom.Branch
				if env.DeployFrom.Tag != "" {
					from = "tags " + env.DeployFrom.Tag
				}
				fmt.Fprintf(stdout, "%s (deploys from %s", n, from)
				if env.Promotion != nil {
					fmt.Fprintf(stdout, "; promoted from %s after %s", env.Promotion.From, env.Promotion.Soak)
				}
				fmt.Fprintln(stdout, ")")
				for _, un := range env.UnitNames() {
					u := env.Units[un]
					line := fmt.Sprintf("  %-18s %-5s %-10s %-9s target=%s", u.Name, u.Kind, u.Version, u.Strategy, u.Target)
					if len(u.DependsOn) > 0 {
						line += fmt.Sprintf(" dependsOn=%v", u.DependsOn)
					}
					fmt.Fprintln(stdout, line)
				}
			}
			return nil
		},
	}
}

func schemaCmd() *command {
	return &command{
		name:    "schema",
		usage:   "schema",
		summary: "Print the embedded CUE schema (to vet a state repository with cue alone).",
		example: "  gearshift schema > schema/schema.cue\n  cue vet -c schema/schema.cue environments/*.cue environments/prod/*.cue",
		noState: true,
		run: func(ctx context.Context, e *env, args []string) error {
			_, err := e.stdout.Write(schema.CUE)
			return err
		},
	}
}

var _ = state.Load
