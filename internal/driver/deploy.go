package driver

import (
	"context"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// DeployRequest asks a driver to install one unit's desired version.
type DeployRequest struct {
	Env  *state.Environment
	Unit *state.Unit
	// ArtifactDir is a local directory holding the unpacked, verified
	// artifact ("" when the unit declares none). ArchiveFile is the
	// artifact as downloaded, kept on the target before deploy.
	ArtifactDir string
	ArchiveFile string
	Checksum    string
	// Now is the deploy time recorded in the release record.
	Now time.Time
	// Event reports progress ("host app1: stopped", "switched proxy to
	// green"); it may be nil.
	Event func(msg string)
}

// DeployResult is what a deploy did.
type DeployResult struct {
	ReleaseID string `json:"release_id"`
	Version   string `json:"version"`
	// Previous is the release that ran before, for rollback.
	Previous *Release `json:"previous,omitempty"`
	// Hosts lists the hosts deployed, in order.
	Hosts []string `json:"hosts,omitempty"`
	// Port is the port the new release listens on when it is not the
	// unit's own (a blue/green slot's): verify's {port}.
	Port int `json:"port,omitempty"`
	// PerHost is what happened on each host of the target, in the
	// target's order; drivers without hosts leave it empty.
	PerHost []HostResult `json:"per_host,omitempty"`
}

// HostOutcome is what a deploy or a rollback did on one host.
type HostOutcome string

const (
	HostDeployed   HostOutcome = "deployed"
	HostRolledBack HostOutcome = "rolled-back"
	// HostFailed: the host's deploy (or its rollback) failed; Error says
	// why.
	HostFailed HostOutcome = "failed"
	// HostUntouched: the host was not changed (a rolling deploy halted
	// before it, or it could not be reached).
	HostUntouched HostOutcome = "untouched"
)

// HostResult is one host's part of a deploy or a rollback.
type HostResult struct {
	Host    string      `json:"host"`
	Outcome HostOutcome `json:"outcome"`
	// Version is what the host runs afterwards, when known.
	Version string `json:"version,omitempty"`
	Release string `json:"release,omitempty"`
	Error   string `json:"error,omitempty"`
}

type eventKey struct{}

// WithEvents returns ctx carrying f, where a driver reports the progress
// of operations whose signature has no Event (Rollback, Prune), host by
// host.
func WithEvents(ctx context.Context, f func(msg string)) context.Context {
	return context.WithValue(ctx, eventKey{}, f)
}

// EventsFrom is the progress function WithEvents put in ctx, or nil.
func EventsFrom(ctx context.Context) func(msg string) {
	f, _ := ctx.Value(eventKey{}).(func(string))
	return f
}

// Deployer is the write side of a driver. The host driver implements the
// strategies (recreate, rolling, bluegreen) and checks health inside them
// (between hosts, before switching the proxy); apply runs verify commands
// and calls Rollback when a deploy or its verify fails.
type Deployer interface {
	Observer
	// Deploy installs req.Unit's desired version with its strategy and
	// returns when it runs and its health check passes (or has failed).
	Deploy(ctx context.Context, req DeployRequest) (DeployResult, error)
	// Rollback returns the unit to its previous release, or to the
	// release of version toVersion when it is not "".
	Rollback(ctx context.Context, env *state.Environment, u *state.Unit, toVersion string) (DeployResult, error)
	// Prune stops a unit that is no longer declared and removes it.
	Prune(ctx context.Context, env *state.Environment, target, unit string) error
}

// Sweeper is implemented by drivers that can remove what an interrupted run
// left on a target (temporary files of atomic writes). Apply calls it,
// holding the environment's lock, after a run that did not end.
type Sweeper interface {
	Sweep(ctx context.Context, env *state.Environment, target string) error
}
