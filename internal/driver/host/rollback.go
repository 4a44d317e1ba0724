package host

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Rollback returns unit u to the release that ran before its last deploy,
// or, when toVersion is set, to the newest kept release of toVersion.
//
// Without toVersion, each host is judged by the deploy marker
// (<unit>/deploy.json): hosts that the last deploy switched go back to
// the release before it; the others (a rolling deploy that halted, a
// deploy that failed before switching, a rollback already done) only have
// their current release checked, and started if it does not run. So
// calling Rollback again after a rollback, as a resumed apply may, never
// goes further back. A host with nothing to return to is an error, but
// for the unit's first release (a first deploy that failed, so that
// apply takes it back): it is stopped, `current` is removed and the
// release goes, so that a failed release is never left current nor ever
// returned to; the result then has no version.
//
// Blue/green units switch back in the proxy when the other slot still
// runs the release; other units stop the current release, switch
// `current`, start and health-check. The record of the release returned to
// gets a renewed deployed_at.
func (d *Driver) Rollback(ctx context.Context, env *state.Environment, u *state.Unit, toVersion string) (driver.DeployResult, error) {
	res := driver.DeployResult{}
	if err := d.check(u); err != nil {
		return res, err
	}
	now := d.now().UTC()
	hosts := d.hosts()
	event := d.events(driver.EventsFrom(ctx))
	type hostState struct {
		h           *hostRun
		cur, target *Record
		att         *attempt
		err         error
	}
	st := make([]hostState, len(hosts))
	d.parallel(len(hosts), func(i int) {
		s := &st[i]
		if s.h, s.err = d.open(ctx, hosts[i], u.Name, event); s.err != nil {
			return
		}
		if s.cur, _, s.err = ReadCurrent(ctx, s.h.c, s.h.l); s.err != nil {
			return
		}
		s.att, s.err = s.h.readAttempt(ctx)
	})
	var last *attempt
	for _, s := range st {
		if s.att != nil && s.att.newer(last) {
			last = s.att
		}
	}
	for i := range st {
		if s := &st[i]; s.err == nil {
			s.target, s.err = d.rollbackTarget(ctx, s.h, u, s.cur, s.att, last, toVersion)
		}
	}
	batch := d.batch(u)
	for i := 0; i < len(hosts); i += batch {
		group := st[i:min(i+batch, len(hosts))]
		d.parallel(len(group), func(j int) {
			if s := &group[j]; s.err == nil {
				if s.err = d.rollbackHost(ctx, s.h, u, s.cur, s.target, now); s.err == nil {
					d.removeRolledBack(ctx, s.h, s.cur, last)
				}
			}
		})
	}
	var errs []error
	for i, s := range st {
		hr := driver.HostResult{Host: hostName(hosts[i])}
		if s.err != nil {
			hr.Outcome, hr.Error = driver.HostFailed, s.err.Error()
			res.PerHost = append(res.PerHost, hr)
			if len(hosts) > 1 {
				s.err = fmt.Errorf("host %s: %w", hostName(hosts[i]), s.err)
			}
			errs = append(errs, s.err)
			continue
		}
		if s.target == nil {
			// A first release taken back: nothing runs here now.
			hr.Outcome = driver.HostRolledBack
			if s.cur == nil {
				hr.Outcome = driver.HostUntouched
			}
			res.PerHost = append(res.PerHost, hr)
			res.Hosts = append(res.Hosts, hostName(hosts[i]))
			if res.Previous == nil && s.cur != nil {
				res.Previous = &driver.Release{ID: s.cur.ID, Version: s.cur.Version, DeployedAt: s.cur.DeployedAt}
			}
			continue
		}
		hr.Outcome, hr.Version, hr.Release = driver.HostRolledBack, s.target.Version, s.target.ID
		if s.target.ID == s.cur.ID {
			hr.Outcome = driver.HostUntouched // it kept (and runs) its release
		}
		res.PerHost = append(res.PerHost, hr)
		res.Hosts = append(res.Hosts, hostName(hosts[i]))
		if res.ReleaseID == "" {
			res.ReleaseID, res.Version = s.target.ID, s.target.Version
			res.Previous = &driver.Release{ID: s.cur.ID, Version: s.cur.Version, DeployedAt: s.cur.DeployedAt}
		}
	}
	return res, errors.Join(errs...)
}

// removeRolledBack removes, once host h runs the release it was rolled
// back to, the releases the rollback left: the one rolled back from and
// the last deploy's (which may never have run here: a deploy that failed
// before switching). A failed release would otherwise stay on every host
// until enough later deploys pruned it. What `current` runs and what its
// record names as previous stay: for blue/green that is the release still
// running in the other slot, the instant way back. A slot that links to a
// release removed here is stopped and emptied. Errors only go to the
// events: the rollback itself succeeded, and the next deploy's sweep and
// prune try again.
func (d *Driver) removeRolledBack(ctx context.Context, h *hostRun, from *Record, last *attempt) {
	now, _, err := ReadCurrent(ctx, h.c, h.l)
	if err != nil {
		return
	}
	if now == nil {
		now = &Record{} // a first release taken back: nothing to keep
	}
	var ids []string
	if from != nil {
		ids = append(ids, from.ID)
	}
	if last != nil && (from == nil || last.ID != from.ID) {
		ids = append(ids, last.ID)
	}
	for _, id := range ids {
		if id == now.ID || id == now.Previous || !ValidID(id) {
			continue
		}
		dir, _ := h.c.Exists(ctx, h.l.Release(id))
		rec, _ := h.c.Exists(ctx, h.l.Record(id))
		if !dir && !rec {
			continue
		}
		if err := d.emptySlots(ctx, h, id); err != nil {
			h.say("not removing the rolled-back release %s: %v", id, err)
			continue
		}
		if err := h.removeRelease(ctx, id); err != nil {
			h.say("could not remove the rolled-back release %s: %v", id, err)
			continue
		}
		h.say("removed the rolled-back release %s", id)
	}
}

// emptySlots stops whatever runs in the slots that link to release id and
// removes their links.
func (d *Driver) emptySlots(ctx context.Context, h *hostRun, id string) error {
	for _, slot := range slots {
		sid, err := h.slotID(ctx, slot)
		if err != nil {
			return err
		}
		if sid != id {
			continue
		}
		if err := d.stopSlot(ctx, h, slot); err != nil {
			return err
		}
		if err := h.c.RemoveAll(ctx, h.l.Slot(slot)); err != nil {
			return err
		}
	}
	return nil
}

// rollbackTarget is the release host h must run after the rollback.
func (d *Driver) rollbackTarget(ctx context.Context, h *hostRun, u *state.Unit, cur *Record, att, last *attempt, toVersion string) (*Record, error) {
	firstRelease := toVersion == "" && last != nil && last.Previous == ""
	if cur == nil {
		if firstRelease {
			// The unit's first deploy never switched this host: it
			// stays without a release.
			return nil, nil
		}
		return nil, fmt.Errorf("%s is not deployed: nothing to roll back to", u.Name)
	}
	var id string
	switch {
	case toVersion != "":
		if cur.Version == toVersion {
			return cur, nil
		}
		r, err := h.newestRelease(ctx, toVersion)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return nil, fmt.Errorf("no release of %s %s is kept: nothing to roll back to", u.Name, toVersion)
		}
		return r, nil
	case firstRelease && att != nil && att.ID == last.ID && cur.ID == last.ID:
		// The last deploy was the unit's first release (a failed first
		// deploy): there is nothing to return to, and a failed release
		// must never stay current. It is stopped and taken away, and the
		// unit is not deployed, as before (nil).
		return nil, nil
	case last != nil:
		if att == nil || att.ID != last.ID || cur.ID != last.ID {
			h.say("the last deploy (%s) does not run here: keeping %s", last.ID, cur.ID)
			return cur, nil
		}
		id = last.Previous
	default:
		id = cur.Previous
	}
	if id == "" {
		return nil, fmt.Errorf("%s is the first release of %s: nothing to roll back to", cur.ID, u.Name)
	}
	r, err := ReadRecord(ctx, h.c, h.l, id)
	if err != nil {
		return nil, fmt.Errorf("cannot roll back to %s: %w", id, err)
	}
	if ok, err := h.c.Exists(ctx, h.l.Release(id)); err != nil || !ok {
		return nil, fmt.Errorf("cannot roll back to %s: its release directory is gone", id)
	}
	return r, nil
}

// newestRelease is the newest kept release of version whose record and
// directory are intact; nil if there is none.
func (h *hostRun) newestRelease(ctx context.Context, version string) (*Record, error) {
	names, err := h.c.ReadDir(ctx, h.l.Releases())
	if err != nil {
		return nil, err
	}
	type cand struct {
		id string
		at time.Time
	}
	var cands []cand
	for _, n := range names {
		id, ok := strings.CutSuffix(n, ".json")
		if !ok || !strings.HasPrefix(id, version+"-") {
			continue
		}
		if at, ok := IDTime(id); ok && id == NewID(version, at) {
			cands = append(cands, cand{id, at})
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].at.After(cands[j].at) })
	for _, c := range cands {
		r, err := ReadRecord(ctx, h.c, h.l, c.id)
		if err != nil {
			continue
		}
		if ok, _ := h.c.Exists(ctx, h.l.Release(c.id)); ok {
			return r, nil
		}
	}
	return nil, nil
}

// rollbackHost makes target run on h in place of cur.
func (d *Driver) rollbackHost(ctx context.Context, h *hostRun, u *state.Unit, cur, target *Record, now time.Time) error {
	if target == nil {
		return d.undeploy(ctx, h, cur)
	}
	if target.ID == cur.ID {
		return d.ensure(ctx, h, u, cur)
	}
	h.say("rolling back from %s to %s", cur.ID, target.ID)
	if strategy(u) == state.StrategyBlueGreen {
		return d.rollbackBlueGreen(ctx, h, u, cur, target, now)
	}
	svc := d.service()
	lb := d.balancer(h, u) // rolling behind a load balancer: out, then back in
	if err := lb.out(ctx); err != nil {
		return err
	}
	if err := svc.stopAll(ctx, h, cur); err != nil {
		return err
	}
	if err := h.switchCurrent(ctx, target.ID); err != nil {
		d.restart(ctx, h, u, cur)
		return err
	}
	renewed := *target
	renewed.DeployedAt = now
	renewed.Slot, renewed.Port = "", 0
	if err := h.writeRecord(ctx, &renewed); err != nil {
		return err
	}
	if err := svc.start(ctx, h, u, &renewed); err != nil {
		return err
	}
	if err := d.waitHealthy(ctx, h, u, &renewed); err != nil {
		return err
	}
	return lb.in(ctx)
}

// undeploy stops a failed first release (every slot of a blue/green unit)
// and removes `current`, so that the unit is not deployed; the release
// itself goes with removeRolledBack.
func (d *Driver) undeploy(ctx context.Context, h *hostRun, cur *Record) error {
	if cur == nil {
		return nil
	}
	h.say("stopping %s, the unit's first release: nothing to roll back to", cur.ID)
	if err := d.service().stopAll(ctx, h, cur); err != nil {
		return err
	}
	if err := d.emptySlots(ctx, h, cur.ID); err != nil {
		return err
	}
	return h.c.RemoveAll(ctx, h.l.Current())
}

// ensure makes sure the current release runs, is healthy and, for
// blue/green, is what the proxy routes to.
func (d *Driver) ensure(ctx context.Context, h *hostRun, u *state.Unit, cur *Record) error {
	if !d.isRunning(ctx, h, u, cur) {
		h.say("%s does not run: starting it", cur.ID)
		if err := d.service().start(ctx, h, u, cur); err != nil {
			return err
		}
	}
	if err := d.waitHealthy(ctx, h, u, cur); err != nil {
		return err
	}
	if strategy(u) == state.StrategyBlueGreen && cur.Slot != "" && !d.proxyPointsAt(ctx, h, u, cur) {
		return d.switchProxy(ctx, h, u, cur)
	}
	return d.balancer(h, u).in(ctx) // a host left out by a failed deploy goes back
}
