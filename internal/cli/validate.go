package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
			if errors.As(err, &diags) {
				// In Actions, each mistake annotated at its line, as plan does.
				gha, aerr := e.actions()
				if aerr != nil {
					return aerr
				}
				if gha.Active() {
					e.annotateInvalid(gha, diags)
				}
			}
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
					"format_version": state.DiagnosticsFormatVersion, "valid": true,
					"environments": st.Names(), "unit_count": units,
				})
			}
			fmt.Fprintf(e.stdout, "ok: %s, %s\n", plural(len(st.Environments), "environment", "environments"), plural(units, "unit", "units"))
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
