package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/bump"
	"github.com/gearshift-dev/gearshift/internal/state"
)

func promoteCmd() *command {
	var pf prFlags
	var from, to string
	return &command{
		acts:     true,
		name:     "promote",
		usage:    "promote --to ENV [--from ENV] [--dry-run]",
		summary:  "Open one pull request that takes the versions the source environment has soaked (from its status record).",
		example:  "  gearshift promote --to prod --dry-run\n  gearshift promote --from staging --to prod",
		envFlags: []string{"from", "to"},
		flags: func(fs *pflag.FlagSet) {
			pf.add(fs)
			fs.StringVar(&from, "from", "", "the environment to promote from (default: the target's environment.promotion.from)")
			fs.StringVar(&to, "to", "", "the environment to promote to")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected arguments %q: use --from and --to", args)
			}
			if to == "" {
				return errors.New("--to is required: the environment to promote to")
			}
			// load desired -> read the source's status record -> choose the
			// soaked versions -> one pull request
			c, err := e.checkout(ctx)
			if err != nil {
				return err
			}
			if err := checkEnvironments(c.Dir, to, from); err != nil {
				return err
			}
			st, err := state.Load(ctx, c.Dir, nil, state.Options{Now: e.now, Limits: e.loadLimits, KeepExpiredWaivers: true})
			if err != nil {
				return err
			}
			target := st.Environments[to]
			if target == nil {
				return noEnvironment(to, st.Names())
			}
			if from == "" && target.Promotion != nil {
				from = target.Promotion.From
			}
			records, err := readStatus(ctx, e, c)
			if err != nil {
				return fmt.Errorf("read the status record of %s: %w", from, err)
			}
			if rerr := records.errs[from]; rerr != nil {
				return rerr
			}
			p, skipped, err := bump.Promote(bump.PromoteInput{State: st, From: from, To: to, Record: records.records[from], Now: e.now()})
			if err != nil {
				return err
			}
			out := proposalsOut{Command: "promote", DryRun: pf.dryRun, Skipped: skipped}
			var ps []*bump.Proposal
			if p != nil {
				ps = append(ps, p)
			}
			failed := e.proposeAll(ctx, c, pf, ps, skipped, &out)
			if err := e.renderProposals(out); err != nil {
				return err
			}
			if failed > 0 {
				return withCode(ExitFailure, nil)
			}
			return nil
		},
	}
}
