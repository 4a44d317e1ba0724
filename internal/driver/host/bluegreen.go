package host

// Blue/green (OpenPlans): the new release starts in the idle slot, beside
// the live one, on the idle slot's port; it is health-checked there, then
// the proxy is switched to it and `current` follows. The old slot keeps
// running, so that switching back is only a proxy switch.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// idleSlot is the slot a deploy uses: the one that is not live.
func idleSlot(cur *Record) string {
	if cur == nil {
		return "blue"
	}
	return otherSlot(cur.Slot)
}

// otherSlot is blue for green and green for anything else (a release
// without a slot came from another strategy).
func otherSlot(slot string) string {
	if slot == "blue" {
		return "green"
	}
	return "blue"
}

// slotPort is the port of a slot: bluegreen.ports[0] for blue, [1] for
// green.
func slotPort(u *state.Unit, slot string) int {
	if u.BlueGreen == nil {
		return u.Port
	}
	if slot == "green" {
		return u.BlueGreen.Ports[1]
	}
	return u.BlueGreen.Ports[0]
}

// slotID is the release a slot link points at, "" for an empty slot.
func (h *hostRun) slotID(ctx context.Context, slot string) (string, error) {
	t, err := h.c.Readlink(ctx, h.l.Slot(slot))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return path.Base(t), nil
}

func (h *hostRun) linkSlot(ctx context.Context, slot, id string) error {
	if err := h.c.MkdirAll(ctx, h.l.Slots(), 0o755); err != nil {
		return err
	}
	if err := h.c.SwitchSymlink(ctx, "../releases/"+id, h.l.Slot(slot)); err != nil {
		return fmt.Errorf("link slot %s to %s: %w", slot, id, err)
	}
	return nil
}

// stopSlot stops whatever runs in a slot (with the record of the release
// the slot links to, which the command manager's stop needs).
func (d *Driver) stopSlot(ctx context.Context, h *hostRun, slot string) error {
	id, err := h.slotID(ctx, slot)
	if err != nil {
		return err
	}
	rec := &Record{Unit: h.l.Unit, ID: id, Slot: slot}
	if id == "" {
		if d.Target.Service != "" && d.Target.Service != "process" {
			return nil // nothing was ever started there
		}
	} else if r, err := ReadRecord(ctx, h.c, h.l, id); err == nil {
		rec = r
		rec.Slot = slot
	}
	return d.service().stop(ctx, h, rec)
}

// blueGreen deploys rec into its (idle) slot and makes it live. A failure
// before the proxy switch stops the new release and leaves the live slot
// serving as before.
func (d *Driver) blueGreen(ctx context.Context, h *hostRun, u *state.Unit, rec, cur *Record) error {
	// The slot may still run the release before the live one; it goes now.
	if err := d.stopSlot(ctx, h, rec.Slot); err != nil {
		return err
	}
	if err := h.linkSlot(ctx, rec.Slot, rec.ID); err != nil {
		return err
	}
	if err := d.service().start(ctx, h, u, rec); err != nil {
		return err
	}
	err := d.waitHealthy(ctx, h, u, rec)
	if err == nil {
		// The smoke check: the idle slot on its own port, before the
		// proxy is touched.
		err = d.smoke(ctx, h, u, rec)
	}
	if err != nil {
		if serr := d.service().stop(ctx, h, rec); serr != nil {
			h.say("could not stop the failed release %s: %v", rec.ID, serr)
		}
		return err
	}
	if err := d.goLive(ctx, h, u, rec, cur); err != nil {
		if !d.proxyPointsAt(ctx, h, u, rec) {
			// The live slot still serves: the new release is not needed.
			if serr := d.service().stop(ctx, h, rec); serr != nil {
				h.say("could not stop %s: %v", rec.ID, serr)
			}
		}
		return err
	}
	return nil
}

// goLive switches the proxy to rec's slot, then `current`. If `current`
// cannot follow, the proxy is switched back, so that what serves and what
// the records say never disagree for long.
func (d *Driver) goLive(ctx context.Context, h *hostRun, u *state.Unit, rec, cur *Record) error {
	start := time.Now()
	if err := d.switchProxy(ctx, h, u, rec); err != nil {
		return err
	}
	if err := h.switchCurrent(ctx, rec.ID); err != nil {
		if cur != nil && cur.Slot != "" {
			if perr := d.switchProxy(ctx, h, u, cur); perr != nil {
				return fmt.Errorf("%w; switching the proxy back to %s also failed: %v", err, cur.Slot, perr)
			}
		}
		return err
	}
	// The switch time includes the proxy's confirmation that new requests
	// reach the slot: "live" is never said before it is true.
	h.say("%s is live in slot %s (switched in %s)", rec.ID, rec.Slot, time.Since(start).Round(time.Microsecond))
	if cur != nil && cur.Slot == "" {
		// The release came from a strategy without slots: nothing can
		// switch back to it, so it stops now rather than holding its port.
		if err := d.service().stopAll(ctx, h, &Record{Unit: cur.Unit, ID: cur.ID, Version: cur.Version}); err != nil {
			h.say("could not stop the old release %s: %v", cur.ID, err)
		}
	}
	return nil
}

// rollbackBlueGreen makes target live again. When target still runs in its
// slot, only the proxy and `current` switch (the instant switch back);
// otherwise target starts in the idle slot first, as a deploy would.
func (d *Driver) rollbackBlueGreen(ctx context.Context, h *hostRun, u *state.Unit, cur, target *Record, now time.Time) error {
	renewed := *target
	renewed.DeployedAt = now
	renewed.Previous = cur.ID // the other slot is what a switch back returns to
	fast := false
	if target.Slot != "" && target.Slot != cur.Slot {
		if id, err := h.slotID(ctx, target.Slot); err == nil && id == target.ID {
			fast = d.isUp(ctx, h, u, target)
		}
	}
	if fast {
		h.say("%s still runs in slot %s: switching back", target.ID, target.Slot)
	} else {
		renewed.Slot = otherSlot(cur.Slot)
		renewed.Port = slotPort(u, renewed.Slot)
		h.say("starting %s in slot %s", target.ID, renewed.Slot)
		if err := d.stopSlot(ctx, h, renewed.Slot); err != nil {
			return err
		}
		if err := h.linkSlot(ctx, renewed.Slot, target.ID); err != nil {
			return err
		}
		if err := h.writeRecord(ctx, &renewed); err != nil {
			return err
		}
		if err := d.service().start(ctx, h, u, &renewed); err != nil {
			return err
		}
		if err := d.waitHealthy(ctx, h, u, &renewed); err != nil {
			return err
		}
	}
	if err := d.goLive(ctx, h, u, &renewed, cur); err != nil {
		return err
	}
	return h.writeRecord(ctx, &renewed)
}

// isRunning reports whether rec runs, asking its health check when the
// service manager cannot tell.
func (d *Driver) isRunning(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) bool {
	ok, err := d.service().running(ctx, h, rec)
	if errors.Is(err, errNoStatus) && hasCheck(u) {
		health, _ := d.probeOnce(ctx, h, u, rec)
		return health == "healthy"
	}
	return err == nil && ok
}

// isUp reports whether rec runs and passes one health check: what the
// instant switch back needs.
func (d *Driver) isUp(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) bool {
	if !d.isRunning(ctx, h, u, rec) {
		return false
	}
	if !hasCheck(u) {
		return true
	}
	health, _ := d.probeOnce(ctx, h, u, rec)
	return health == "healthy"
}
