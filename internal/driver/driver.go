package driver

import (
	"context"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// The observation types live in package observation, which does no I/O, so
// that plan and policy need not import a driver; these names keep the
// drivers' code short.
type (
	Health          = observation.Health
	Release         = observation.Release
	HostObservation = observation.Host
	Observation     = observation.Unit
	Observed        = observation.Environment
)

const (
	HealthHealthy   = observation.HealthHealthy
	HealthUnknown   = observation.HealthUnknown
	HealthDegraded  = observation.HealthDegraded
	HealthUnhealthy = observation.HealthUnhealthy
	HealthMissing   = observation.HealthMissing
)

// Observer is the read side of a driver.
type Observer interface {
	// Observe reports what runs for u. It never returns an error: what
	// could not be read is Observation.Error.
	Observe(ctx context.Context, env *state.Environment, u *state.Unit) Observation
	// Inventory lists the units deployed on the target, for pruning.
	Inventory(ctx context.Context, env *state.Environment, target string) ([]string, error)
}
