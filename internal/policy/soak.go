package policy

import (
	"fmt"
	"time"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Soaked is the promotion soak rule, the one place it is written: the
// promotion rule of Judge (may the target deploy this version?) and
// bump.Promote (which versions may a pull request propose?) both ask it.
//
// It reports how long the source environment from has run the release it
// reports in obs (the zero Unit when from does not list unit) healthily,
// or why that release has not soaked for soak at now: from does not run
// the unit, could not be observed, runs different versions on different
// hosts, or runs it unhealthy; its record does not say when the release
// was deployed (then nobody can tell how long it ran, so it has not
// soaked); or it has run it for less than soak. Which version the caller
// wants is the caller's to compare.
func Soaked(from, unit string, obs observation.Unit, soak state.Duration, now time.Time) (time.Duration, error) {
	switch {
	case !obs.Deployed:
		return 0, fmt.Errorf("%s does not run %s", from, unit)
	case obs.Failed():
		return 0, fmt.Errorf("cannot tell what %s runs of %s: %s", from, unit, obs.Error)
	case obs.Version == "":
		return 0, fmt.Errorf("the hosts of %s run different versions of %s", from, unit)
	case obs.Health != observation.HealthHealthy:
		return 0, fmt.Errorf("%s runs %s but it is %s", from, obs.Version, obs.Health)
	case obs.DeployedAt.IsZero():
		return 0, fmt.Errorf("%s's record does not say when %s was deployed, so it has not soaked", from, obs.Version)
	}
	soaked := now.Sub(obs.DeployedAt)
	if soaked < soak.Duration {
		return soaked, fmt.Errorf("%s has run %s for %s of the %s soak time (ready %s)", from, obs.Version,
			state.FormatDuration(max(soaked, 0).Truncate(time.Minute)), soak, obs.DeployedAt.Add(soak.Duration).UTC().Format(time.RFC3339))
	}
	return soaked, nil
}
