package plan

import (
	"time"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Assessment is what gearshift concludes about one declared unit from its
// observation: whether anything is known of it, whether it drifted from
// the desired state, and the action it needs. Compute (plan) and the status
// matrix both take it from Assess, so that they never disagree.
type Assessment struct {
	// Observed is false when nothing is known of what runs: the unit was
	// not observed (no observation, a timeout, no status record, a driver
	// error with nothing deployed seen). Drift and Action are then nil.
	Observed bool
	// Error is why the observation failed, also when part of it was made
	// (a host of several did not answer).
	Error string
	// Drift says whether what runs differs from what is desired: not
	// deployed, another version, another artifact, hosts that disagree.
	// Age and health are not drift (they have their own columns and
	// reasons). Nil when the unit was not observed: unknown, not "no".
	Drift *bool
	// Action is what the unit needs, nil when it runs as desired.
	Action *Action
}

// driftCodes are the reasons that say what runs is not what is desired.
var driftCodes = []ReasonCode{NotDeployed, VersionChanged, Drift}

// Assess is the one rule that turns a unit's observation into a verdict.
// found is false when the unit has no observation at all.
func Assess(env *state.Environment, u *state.Unit, obs observation.Unit, found bool, now time.Time) Assessment {
	switch {
	case !found:
		return Assessment{Error: "not observed"}
	case obs.Failed() && !obs.Deployed:
		return Assessment{Error: obs.Error}
	}
	as := Assessment{Observed: true, Error: obs.Error, Action: unitAction(env, u, obs, now)}
	drift := false
	if as.Action != nil {
		for _, c := range driftCodes {
			drift = drift || as.Action.HasReason(c)
		}
	}
	as.Drift = &drift
	return as
}
