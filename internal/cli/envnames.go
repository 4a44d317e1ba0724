package cli

import (
	"fmt"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// noEnvironment is the one error of every command for an environment the
// state does not have (plan, status, apply, validate, bump --env, promote
// --to/--from, rollback): an invalid request against the state, which exits
// 4 like an invalid state and lists the environments there are.
func noEnvironment(name string, all []string) error {
	have := "none"
	if len(all) > 0 {
		have = strings.Join(all, ", ")
	}
	return withCode(ExitInvalid, fmt.Errorf("no environment %q (the environments are: %s)", name, have))
}

// checkEnvironments returns noEnvironment for the first of names that is
// not an environment of the state repository at dir, before anything is
// loaded. A repository that cannot be listed is left to state.Load to
// report.
func checkEnvironments(dir string, names ...string) error {
	var named []string
	for _, n := range names {
		if n != "" {
			named = append(named, n)
		}
	}
	if len(named) == 0 {
		return nil
	}
	all, err := state.Discover(dir)
	if err != nil {
		return nil
	}
	known := map[string]bool{}
	for _, n := range all {
		known[n] = true
	}
	for _, n := range named {
		if !known[n] {
			return noEnvironment(n, all)
		}
	}
	return nil
}
