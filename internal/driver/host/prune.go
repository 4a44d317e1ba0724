package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// pruneReleases keeps the newest keepReleases releases of the unit on host
// and removes the others (directory, record, archive), but never the
// current release, its previous one, the releases of the blue/green slots,
// or anything whose name is not a release id.
func (d *Driver) pruneReleases(ctx context.Context, host string, u *state.Unit, event func(string)) error {
	h, err := d.open(ctx, host, u.Name, event)
	if err != nil {
		return err
	}
	keep := d.Target.KeepReleases
	if keep <= 0 {
		keep = 5
	}
	protect := map[string]bool{}
	cur, prev, err := ReadCurrent(ctx, h.c, h.l)
	if err != nil {
		return err
	}
	if cur != nil {
		protect[cur.ID] = true
		protect[cur.Previous] = true
	}
	if prev != nil {
		protect[prev.ID] = true
	}
	for _, slot := range slots {
		if id, err := h.slotID(ctx, slot); err == nil && id != "" {
			protect[id] = true
		}
	}
	names, err := h.c.ReadDir(ctx, h.l.Releases())
	if err != nil {
		return err
	}
	type rel struct {
		id string
		at time.Time
	}
	var rels []rel
	seen := map[string]bool{}
	for _, n := range names {
		id := strings.TrimSuffix(n, ".json")
		if seen[id] {
			continue
		}
		if at, ok := IDTime(id); ok {
			seen[id] = true
			rels = append(rels, rel{id, at})
		}
	}
	sort.Slice(rels, func(i, j int) bool {
		if !rels[i].at.Equal(rels[j].at) {
			return rels[i].at.After(rels[j].at)
		}
		return rels[i].id > rels[j].id
	})
	for i, r := range rels {
		if i < keep || protect[r.id] {
			continue
		}
		if err := h.removeRelease(ctx, r.id); err != nil {
			return err
		}
		h.say("removed old release %s", r.id)
	}
	return nil
}

// removeRelease removes everything of release id on the host: its record,
// its directory and its archive copies, whole or partial. The record goes
// first: a removal cut short leaves a directory without a record, which
// nothing takes for a release and the sweep removes, never a record over
// half a directory that a rollback would return to.
func (h *hostRun) removeRelease(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("invalid release id %q", id)
	}
	for _, p := range []string{h.l.Record(id), h.l.Release(id), h.l.ReleaseLog(id)} {
		if err := h.c.RemoveAll(ctx, p); err != nil {
			return err
		}
	}
	archives, err := h.c.ReadDir(ctx, h.l.Archive())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, a := range archives {
		if a == id || strings.HasPrefix(a, id+".") || (isTemp(a) && strings.HasPrefix(a, "."+id+".")) {
			if err := h.c.RemoveAll(ctx, path.Join(h.l.Archive(), a)); err != nil {
				return err
			}
		}
	}
	return nil
}

// cleanupTimeout bounds the removal of what a failed step left, which
// runs even when the operation's context has ended.
const cleanupTimeout = 30 * time.Second

// discard removes release id after a deploy failed before the release
// could run, so that a failure (a full disk, a refused copy) leaves
// nothing behind; an error only goes to the events (the sweep of the next
// deploy tries again).
func (h *hostRun) discard(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := h.removeRelease(ctx, id); err != nil {
		h.say("could not remove the failed release %s: %v", id, err)
		return
	}
	h.say("removed the failed release %s", id)
}

// Prune stops everything of a unit that is no longer declared and removes
// <root>/<unit> on every host. The proxy's upstream file, if any, is left
// alone: the proxy's config includes it, and removing it would break the
// proxy until its config is edited.
func (d *Driver) Prune(ctx context.Context, env *state.Environment, target, unit string) error {
	hosts := d.hosts()
	event := d.events(driver.EventsFrom(ctx))
	errs := d.eachHost(hosts, func(h string) error { return d.pruneHost(ctx, h, unit, event) })
	for i, err := range errs {
		if err != nil && len(hosts) > 1 {
			errs[i] = fmt.Errorf("host %s: %w", hostName(hosts[i]), err)
		}
	}
	return errors.Join(errs...)
}

func (d *Driver) pruneHost(ctx context.Context, host, unit string, event func(string)) error {
	h, err := d.open(ctx, host, unit, event)
	if err != nil {
		return err
	}
	if ok, err := h.c.Exists(ctx, h.l.Dir()); err != nil || !ok {
		return err
	}
	cur, _, err := ReadCurrent(ctx, h.c, h.l)
	if err != nil {
		h.say("pruning despite an unreadable current release: %v", err)
		cur = nil
	}
	svc := d.service()
	var errs []error
	if err := svc.stopAll(ctx, h, cur); err != nil {
		errs = append(errs, err)
	}
	for _, slot := range slots {
		if cur != nil && cur.Slot == slot {
			continue // stopped above
		}
		if id, err := h.slotID(ctx, slot); err == nil && id != "" {
			rec, err := ReadRecord(ctx, h.c, h.l, id)
			if err != nil {
				rec = &Record{Unit: unit, ID: id, Slot: slot}
			}
			if err := svc.stop(ctx, h, rec); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("not removing %s: %w", h.l.Dir(), errors.Join(errs...))
	}
	if err := h.c.RemoveAll(ctx, h.l.Dir()); err != nil {
		return err
	}
	h.say("removed %s", h.l.Dir())
	return nil
}
