package driver

import (
	"context"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// Health is what a driver knows of a unit's health. The values are ordered
// from best to worst, so two healths can be compared with IsWorse.
type Health string

const (
	HealthHealthy   Health = "healthy"
	HealthUnknown   Health = "unknown"
	HealthDegraded  Health = "degraded"
	HealthUnhealthy Health = "unhealthy"
	HealthMissing   Health = "missing"
)

var healthOrder = map[Health]int{HealthHealthy: 0, HealthUnknown: 1, HealthDegraded: 2, HealthUnhealthy: 3, HealthMissing: 4}

// IsWorse reports whether h is worse than other.
func (h Health) IsWorse(other Health) bool { return healthOrder[h] > healthOrder[other] }

// Release is one deployed release of a unit, as a target remembers it.
type Release struct {
	ID         string    `json:"id,omitempty"`
	Version    string    `json:"version"`
	DeployedAt time.Time `json:"deployed_at,omitzero"`
}

// HostObservation is what one host of a multi-host target runs.
type HostObservation struct {
	Host       string    `json:"host"`
	Version    string    `json:"version,omitempty"`
	DeployedAt time.Time `json:"deployed_at,omitzero"`
	Health     Health    `json:"health"`
	Detail     string    `json:"detail,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Observation is what a driver reports of one unit on its target. An
// observation that could not be made has Error set; the other units of the
// environment are observed regardless.
type Observation struct {
	Unit     string `json:"unit"`
	Deployed bool   `json:"deployed"`
	Version  string `json:"version,omitempty"`
	// DeployedAt is when the running release was last deployed (a
	// redeploy of the same version renews it).
	DeployedAt   time.Time         `json:"deployed_at,omitzero"`
	Health       Health            `json:"health"`
	HealthDetail string            `json:"health_detail,omitempty"`
	Frameworks   map[string]string `json:"frameworks,omitempty"`
	Checksum     string            `json:"checksum,omitempty"`
	// Previous is the release before the running one: what rollback
	// returns to.
	Previous *Release `json:"previous,omitempty"`
	// Hosts holds each host's view when the target has several; Version
	// is then empty if they disagree.
	Hosts []HostObservation `json:"hosts,omitempty"`
	Error string            `json:"error,omitempty"`
}

// Failed reports whether the unit could not be observed.
func (o Observation) Failed() bool { return o.Error != "" }

// Observer is the read side of a driver.
type Observer interface {
	// Observe reports what runs for u. It never returns an error: what
	// could not be read is Observation.Error.
	Observe(ctx context.Context, env *state.Environment, u *state.Unit) Observation
	// Inventory lists the units deployed on the target, for pruning.
	Inventory(ctx context.Context, env *state.Environment, target string) ([]string, error)
}
