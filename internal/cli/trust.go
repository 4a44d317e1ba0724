package cli

import (
	"fmt"

	"github.com/gearshift-dev/gearshift/internal/actions"
)

// refuseUntrusted refuses a command that acts (cmd.acts) in a run about a
// pull request: there the state is written by whoever opened it, so its
// commands must not run and no credential may act on what it says. plan
// is what such a run is for; it reads the status branch (untrustedPlan).
func (e *env) refuseUntrusted(name string) error {
	a, err := e.actions()
	if err != nil {
		return err
	}
	if why := a.Untrusted(); why != "" {
		return fmt.Errorf("refused: %s; run it on push, schedule or workflow_dispatch, and use `gearshift plan` (which reads the status branch) in pull request runs (%s=true trusts the base repository's own branches)", why, actions.TrustSameRepoVar)
	}
	return nil
}

// untrustedPlan reports whether plan must read the status branch instead
// of observing the targets, and says so once as a notice: in a run about a
// pull request (or a fork's, which has no secrets anyway) nothing the
// state names is run.
func (e *env) untrustedPlan(a *actions.Actions) bool {
	why := a.Untrusted()
	if why == "" && !a.IsForkPR() {
		return false
	}
	if why == "" {
		why = "a pull request from a fork has no credentials for the targets"
	}
	a.Annotate(actions.LevelNotice, "", 0, 0, "gearshift plan", why+": planned from the status records (--from-status), running nothing from the state")
	return true
}
