package observation

import "time"

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

// Host is what one host of a multi-host target runs.
type Host struct {
	Host       string    `json:"host"`
	Version    string    `json:"version,omitempty"`
	DeployedAt time.Time `json:"deployed_at,omitzero"`
	Health     Health    `json:"health"`
	Detail     string    `json:"detail,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Unit is what a driver reports of one unit on its target. An observation
// that could not be made has Error set; the other units of the environment
// are observed regardless.
type Unit struct {
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
	// Drift says what was changed outside gearshift (on Kubernetes: the
	// image, set by another field manager); the plan's reason is then
	// drift rather than a version change.
	Drift string `json:"drift,omitempty"`
	// Previous is the release before the running one: what rollback
	// returns to.
	Previous *Release `json:"previous,omitempty"`
	// Hosts holds each host's view when the target has several; Version
	// is then empty if they disagree.
	Hosts []Host `json:"hosts,omitempty"`
	Error string `json:"error,omitempty"`
}

// Failed reports whether the unit could not be observed.
func (o Unit) Failed() bool { return o.Error != "" }

// Environment is the observation of one environment.
type Environment struct {
	Units map[string]Unit `json:"units"`
	// Extra lists units deployed on the environment's targets but not
	// declared (candidates for pruning), by target.
	Extra map[string][]string `json:"extra,omitempty"`
	// InventoryErrors are targets whose inventory could not be read.
	InventoryErrors map[string]string `json:"inventory_errors,omitempty"`
}
