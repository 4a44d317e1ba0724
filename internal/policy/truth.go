package policy

import (
	"time"

	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// BuiltAgainst judges the latest-framework rule on what a unit's artifact
// says it was built against (found: framework -> version, read by apply
// from builtAgainst.file), not on the unit's frameworks label. Waivers
// apply as they do to the label. apply calls it after the download and
// before anything starts; plan, which has no artifact, judges the label
// (Judge).
func BuiltAgainst(env *state.Environment, u *state.Unit, found map[string]string, now time.Time) []plan.Violation {
	c := *u
	c.Frameworks, c.BuiltAgainst = found, nil
	return waive(env, latestFramework(env, &c, now), now)
}
