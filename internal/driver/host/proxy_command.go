package host

// The command proxy kind: the user's argv (squid, apache, a cloud load
// balancer's CLI) with {unit} {slot} {port} {host} replaced, run on this
// machine through internal/proc: no shell, the minimal environment, a
// timeout.

import (
	"context"
	"fmt"
	"time"

	"github.com/gearshift-dev/gearshift/internal/proc"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// runLocal runs argv on this machine and turns a non-zero exit into an
// error with its last line.
func runLocal(ctx context.Context, what string, argv []string, env map[string]string, timeout time.Duration) error {
	res, err := proc.Run(ctx, proc.Cmd{Argv: argv, Env: env, Timeout: timeout})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// proxyEnv is what the proxy's commands get besides their argv.
func proxyEnv(u *state.Unit, rec *Record, host string) map[string]string {
	env := map[string]string{"GEARSHIFT_UNIT": u.Name, "GEARSHIFT_HOST": hostName(host)}
	if rec != nil {
		env["GEARSHIFT_SLOT"] = rec.Slot
		env["GEARSHIFT_VERSION"] = rec.Version
		env["GEARSHIFT_RELEASE_ID"] = rec.ID
		if p := expandProxy("{port}", u, rec, host); p != "{port}" {
			env["GEARSHIFT_PORT"] = p
		}
	}
	return env
}

// switchCommand runs proxy.switch for rec's slot, then confirms from
// proxy.confirm. The command must make the slot live before it exits and
// be safe to run again; gearshift cannot read a command proxy's state, so
// on failure it runs the switch to the other slot, when that slot had a
// release, to leave the proxy as it was.
func (d *Driver) switchCommand(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	p := d.Target.Proxy
	argv := expandArgv(p.Switch, u, rec, h.host)
	h.say("proxy: running the switch to %s (port %d)", rec.Slot, rec.Port)
	err := runLocal(ctx, "proxy switch", argv, proxyEnv(u, rec, h.host), proxyTimeout)
	if err == nil {
		err = d.confirmServed(ctx, h, u, rec)
	}
	if err == nil {
		h.say("proxy: switched %s to %s (port %d)", u.Name, rec.Slot, rec.Port)
		return nil
	}
	back := otherSlot(rec.Slot)
	if id, serr := h.slotID(ctx, back); serr == nil && id != "" {
		prev := &Record{Unit: u.Name, ID: id, Slot: back, Port: slotPort(u, back)}
		if r, rerr := ReadRecord(ctx, h.c, h.l, id); rerr == nil {
			prev.Version = r.Version
		}
		if berr := runLocal(ctx, "proxy switch back", expandArgv(p.Switch, u, prev, h.host), proxyEnv(u, prev, h.host), proxyTimeout); berr != nil {
			return fmt.Errorf("%w; switching back to %s also failed: %v", err, back, berr)
		}
		return fmt.Errorf("%w; switched back to %s", err, back)
	}
	return err
}
