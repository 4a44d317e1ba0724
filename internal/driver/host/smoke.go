package host

// The smoke check (OpenPlans: "smoke-check it, then switch"): the unit's
// smoke command, run on this machine against the idle slot once it is
// healthy and before the proxy is touched. verify comes after the switch,
// through the proxy; smoke is the last word before it.

import (
	"context"
	"fmt"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// defaultSmokeTimeout bounds a smoke command without a timeout of its own.
const defaultSmokeTimeout = 5 * time.Minute

// smoke runs u.smoke with {port} (the slot's), {slot}, {unit}, {host} and
// {version} replaced and the GEARSHIFT_ variables of the release set; a
// non-zero exit fails the deploy before the switch.
func (d *Driver) smoke(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	if u.Smoke == nil || len(u.Smoke.Command) == 0 {
		return nil
	}
	env := proxyEnv(u, rec, h.host)
	for k, v := range u.Smoke.Env {
		env[k] = expandProxy(v, u, rec, h.host)
	}
	timeout := u.Smoke.Timeout.Duration
	if timeout <= 0 {
		timeout = defaultSmokeTimeout
	}
	start := time.Now()
	if err := runLocal(ctx, "smoke check of "+rec.ID, expandArgv(u.Smoke.Command, u, rec, h.host), env, timeout); err != nil {
		return fmt.Errorf("%w (the proxy was not touched)", err)
	}
	h.say("smoke check of %s in slot %s passed (%s)", rec.ID, rec.Slot, time.Since(start).Round(time.Millisecond))
	return nil
}
