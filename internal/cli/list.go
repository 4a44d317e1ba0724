package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// listFormatVersion is the version of the list JSON document
// (docs/json.md). 2: snake_case fields, environments as a list with a
// name, and a unit's version is "desired" as in status.
const listFormatVersion = "2"

// listDoc is `gearshift list -o json`.
type listDoc struct {
	FormatVersion string    `json:"format_version"`
	Environments  []listEnv `json:"environments"`
}

type listEnv struct {
	Name       string           `json:"name"`
	DeployFrom state.DeployFrom `json:"deploy_from"`
	// PromotedFrom and Soak are the environment's promotion, if any.
	PromotedFrom string     `json:"promoted_from,omitempty"`
	Soak         string     `json:"soak,omitempty"`
	Units        []listUnit `json:"units"`
}

type listUnit struct {
	Unit      string   `json:"unit"`
	Kind      string   `json:"kind"`
	Desired   string   `json:"desired"`
	Target    string   `json:"target"`
	Strategy  string   `json:"strategy"`
	DependsOn []string `json:"depends_on"`
}

func newListDoc(st *state.State) listDoc {
	doc := listDoc{FormatVersion: listFormatVersion, Environments: []listEnv{}}
	for _, n := range st.Names() {
		env := st.Environments[n]
		le := listEnv{Name: n, DeployFrom: env.DeployFrom, Units: []listUnit{}}
		if env.Promotion != nil {
			le.PromotedFrom, le.Soak = env.Promotion.From, env.Promotion.Soak.String()
		}
		for _, un := range env.UnitNames() {
			u := env.Units[un]
			deps := u.DependsOn
			if deps == nil {
				deps = []string{}
			}
			le.Units = append(le.Units, listUnit{Unit: u.Name, Kind: u.Kind, Desired: u.Version, Target: u.Target, Strategy: u.Strategy, DependsOn: deps})
		}
		doc.Environments = append(doc.Environments, le)
	}
	return doc
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
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(newListDoc(st))
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
