package cli

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// argKind says what a command's positional arguments name, for shell
// completion.
type argKind int

const (
	argsNone argKind = iota
	// argsEnvs: any number of environment names (plan, apply, ...).
	argsEnvs
	// argsEnvUnit: an environment, then one of its units (rollback).
	argsEnvUnit
)

// completer returns the ValidArgsFunction of a command whose arguments are
// of kind k. It reads the state of --repo (flags are parsed before it
// runs): environments from the directories alone, units by loading the one
// environment, with the same bounds as any load. A state that cannot be
// read completes nothing rather than printing an error into the shell.
func (e *env) completer(ctx context.Context, k argKind) cobra.CompletionFunc {
	if k == argsNone {
		return cobra.NoFileCompletions
	}
	return func(cc *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		// The shell shows nothing of stderr: a load says nothing.
		e.log = slog.New(slog.DiscardHandler)
		e.redact.AddURL(e.repo)
		switch {
		case k == argsEnvs || (k == argsEnvUnit && len(args) == 0):
			c, err := e.checkout(ctx)
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			names, err := state.Discover(c.Dir)
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			return matching(names, args, toComplete), cobra.ShellCompDirectiveNoFileComp
		case k == argsEnvUnit && len(args) == 1:
			st, err := e.load(ctx, args[:1])
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			env, ok := st.Environments[args[0]]
			if !ok {
				return nil, cobra.ShellCompDirectiveError
			}
			return matching(env.UnitNames(), nil, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// matching is the names that start with prefix and are not already given.
func matching(names, given []string, prefix string) []cobra.Completion {
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && !slices.Contains(given, n) {
			out = append(out, n)
		}
	}
	return out
}
