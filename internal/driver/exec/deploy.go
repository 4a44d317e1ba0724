package exec

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// The exec driver is a driver.Deployer: the user's deploy command does the
// work, gearshift checks the result through the status command and the
// unit's health check.
var _ driver.Deployer = (*Driver)(nil)

// Deploy runs the target's deploy command for the unit's desired version
// (GEARSHIFT_ACTION=deploy), then waits until the unit is healthy: its
// health check when it declares one, else the status command, which must
// report the desired version and not be unhealthy.
func (d *Driver) Deploy(ctx context.Context, req driver.DeployRequest) (driver.DeployResult, error) {
	env, u := req.Env, req.Unit
	before := d.Observe(ctx, env, u)
	vars := d.vars(env, u.Name, u.Version, "deploy")
	vars["GEARSHIFT_ARTIFACT_DIR"] = req.ArtifactDir
	vars["GEARSHIFT_ARCHIVE"] = req.ArchiveFile
	vars["GEARSHIFT_CHECKSUM"] = req.Checksum
	res := driver.DeployResult{Version: u.Version}
	if before.Deployed && before.Version != "" {
		res.Previous = &driver.Release{Version: before.Version, DeployedAt: before.DeployedAt}
	}
	event(req.Event, "running the deploy command")
	if _, err := d.run(ctx, d.Target.Deploy, vars); err != nil {
		return res, fmt.Errorf("deploy: %w", err)
	}
	event(req.Event, "waiting for health")
	if err := d.waitHealthy(ctx, env, u, u.Version); err != nil {
		return res, err
	}
	return res, nil
}

// Rollback deploys the previous version: toVersion, or the previous
// release the status command reports. The deploy command sees
// GEARSHIFT_ROLLBACK=1 and may use it to skip work an older release has
// already done (migrations).
func (d *Driver) Rollback(ctx context.Context, env *state.Environment, u *state.Unit, toVersion string) (driver.DeployResult, error) {
	obs := d.Observe(ctx, env, u)
	if toVersion == "" {
		if obs.Failed() {
			return driver.DeployResult{}, fmt.Errorf("rollback: %s", obs.Error)
		}
		if obs.Previous == nil || obs.Previous.Version == "" {
			return driver.DeployResult{}, errors.New("rollback: the status command reports no previous release")
		}
		toVersion = obs.Previous.Version
	}
	res := driver.DeployResult{Version: toVersion}
	if obs.Deployed && obs.Version != "" {
		res.Previous = &driver.Release{Version: obs.Version, DeployedAt: obs.DeployedAt}
	}
	vars := d.vars(env, u.Name, toVersion, "deploy")
	vars["GEARSHIFT_ROLLBACK"] = "1"
	if _, err := d.run(ctx, d.Target.Deploy, vars); err != nil {
		return res, fmt.Errorf("rollback to %s: %w", toVersion, err)
	}
	if err := d.waitHealthy(ctx, env, u, toVersion); err != nil {
		return res, fmt.Errorf("rollback to %s: %w", toVersion, err)
	}
	return res, nil
}

// Prune runs the deploy command with GEARSHIFT_ACTION=prune for a unit
// that is no longer declared.
func (d *Driver) Prune(ctx context.Context, env *state.Environment, target, unit string) error {
	if _, err := d.run(ctx, d.Target.Deploy, d.vars(env, unit, "", "prune")); err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
}

// waitHealthy checks a deployed version: the status command must report
// it, and the unit's health check (when declared) must pass before its
// timeout, probed every interval. Without a health check the status
// command's health decides, once.
func (d *Driver) waitHealthy(ctx context.Context, env *state.Environment, u *state.Unit, version string) error {
	obs := d.Observe(ctx, env, u)
	switch {
	case obs.Failed():
		return fmt.Errorf("status after deploy: %s", obs.Error)
	case !obs.Deployed:
		return fmt.Errorf("the status command reports %s not deployed after the deploy", u.Name)
	case obs.Version != version:
		return fmt.Errorf("the status command reports version %s after deploying %s", obs.Version, version)
	}
	if u.Health == nil || (u.Health.HTTP == nil && len(u.Health.Command) == 0) {
		if obs.Health == driver.HealthUnhealthy || obs.Health == driver.HealthDegraded {
			return fmt.Errorf("unhealthy after deploy: %s", describe(obs))
		}
		return nil
	}
	timeout := u.Health.Timeout.Duration
	if timeout <= 0 {
		timeout = time.Minute
	}
	interval := u.Health.Interval.Duration
	if interval <= 0 {
		interval = time.Second
	}
	deadline := time.Now().Add(timeout)
	runCmd := func(ctx context.Context, argv []string) (int, string, error) {
		_, err := d.run(ctx, argv, d.vars(env, u.Name, version, "health"))
		var ee interface{ ExitCode() int }
		if errors.As(err, &ee) {
			// run's error carries the end of stderr.
			return ee.ExitCode(), err.Error(), nil
		}
		return 0, "", err
	}
	for {
		h, detail := driver.Probe(ctx, u.Health, u.Name, u.Port, runCmd)
		if h == driver.HealthHealthy {
			return nil
		}
		if time.Now().Add(interval).After(deadline) {
			return fmt.Errorf("not healthy after %s: %s", timeout, detail)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for health: %w", ctx.Err())
		case <-time.After(interval):
		}
	}
}

func describe(o driver.Observation) string {
	if o.HealthDetail != "" {
		return o.HealthDetail
	}
	return string(o.Health)
}

func event(f func(string), msg string) {
	if f != nil {
		f(msg)
	}
}
