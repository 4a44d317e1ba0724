package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// Rolled is what a rollback did.
type Rolled struct {
	Env, Unit string
	// From is the version the unit ran; To the one it runs now, and
	// Release its release (when the driver names one).
	From, To, Release string
	// MarkedFailed says that From is the unit's desired version, now
	// remembered as failed: apply does not redeploy it until the desired
	// version changes (or --retry-failed).
	MarkedFailed bool
	// Record is the environment's status record after the rollback (nil
	// when it could not be observed).
	Record *statusrec.Record
}

// ErrNothingToRollBack is wrapped by the error of a rollback that would
// not change what runs.
var ErrNothingToRollBack = errors.New("nothing to roll back")

// Rollback returns one unit of req.Names[0] to its previous release (or
// to version to) under the environment's lock, with the journal protocol
// of apply:
//
//	lock -> journal (run-start) -> observe the environment once -> refuse
//	when nothing would change -> action-start -> driver Rollback ->
//	action-end (the version left is remembered as failed) -> run-end ->
//	status record (the unit read again)
//
// A rollback that would leave the unit on the version it runs is refused
// (ErrNothingToRollBack), before anything is touched when that is known
// from the observation, and otherwise without marking anything failed.
func Rollback(ctx context.Context, req Request, unit, to string, o Options) (*Rolled, error) {
	o = o.withDefaults()
	if len(req.Names) != 1 {
		return nil, errors.New("rollback: one environment")
	}
	env := req.State.Environments[req.Names[0]]
	if env == nil {
		return nil, fmt.Errorf("no environment %q", req.Names[0])
	}
	u := env.Units[unit]
	if u == nil {
		return nil, fmt.Errorf("no unit %q in %s", unit, env.Name)
	}
	d, err := req.Drivers.Resolve(env, u.Target)
	if err != nil {
		return nil, err
	}
	run := NewRunID(o.Now())
	locks, err := lockAll(ctx, req, []*state.Environment{env}, run, o)
	if err != nil {
		return nil, err
	}
	defer releaseAll(ctx, locks, o)
	c := &pass{req: req, o: o, seen: map[string]observation.Environment{}}
	r := newRunner(c, env, locks[0])
	ctx = context.WithoutCancel(ctx)
	if err := r.begin(ctx); err != nil {
		return nil, err
	}
	res := &EnvResult{Name: env.Name, Run: run, Command: CommandRollback, Started: r.started.UTC(), Units: []UnitResult{}}
	// What the rollback publishes (GitHub deployments, notifications) is
	// published once it has ended, as an apply's is, and only when the
	// driver was asked to roll back: a refused rollback changed nothing.
	published := false
	defer func() {
		if published && o.Finished != nil {
			res.Seconds = o.Now().Sub(r.started).Seconds()
			o.Finished(ctx, env, res)
		}
	}()
	defer r.end(ctx, res)
	out := &Rolled{Env: env.Name, Unit: unit}
	defer func() { out.Record = r.record(ctx, res) }()

	r.observe(ctx)
	before := r.observed.Units[unit]
	if before.Failed() {
		res.Errors = append(res.Errors, before.Error)
		return out, fmt.Errorf("%s: %s", unit, before.Error)
	}
	out.From = before.Version
	switch {
	case !before.Deployed:
		return out, fmt.Errorf("%w: %s is not deployed in %s", ErrNothingToRollBack, unit, env.Name)
	case to != "" && to == before.Version && sameOnEveryHost(before):
		return out, fmt.Errorf("%w: %s already runs %s in %s", ErrNothingToRollBack, unit, to, env.Name)
	case to == "" && (before.Previous == nil || before.Previous.Version == ""):
		return out, fmt.Errorf("%w: %s %s is its first release in %s (to return to a kept release, pass --to VERSION)", ErrNothingToRollBack, unit, before.Version, env.Name)
	}

	rctx, cancel := context.WithTimeout(ctx, o.ActionTimeout)
	defer cancel()
	if err := r.journal.Append(rctx, Entry{Event: EventActionStart, Unit: unit, Type: "rollback", From: before.Version, To: to}); err != nil {
		return out, err
	}
	o.Progress.Event(Event{Env: env.Name, Unit: unit, Kind: "start", Msg: "rolling back from " + before.Version})
	if o.Started != nil {
		target := to
		if target == "" && before.Previous != nil {
			target = before.Previous.Version
		}
		o.Started(ctx, env, &plan.Environment{Name: env.Name, Actions: []*plan.Action{{
			Unit: unit, Kind: u.Kind, Type: plan.Rollback, Target: u.Target, From: before.Version, To: target, Applyable: true,
		}}})
	}
	published = true
	start := o.Now()
	// Host by host, as a deploy reports.
	dr, rerr := d.Rollback(driver.WithEvents(rctx, func(msg string) {
		o.Progress.Event(Event{Env: env.Name, Unit: unit, Kind: "step", Msg: msg})
	}), env, u, to)
	end := Entry{Event: EventActionEnd, Unit: unit, Type: "rollback", From: before.Version, To: dr.Version, Release: dr.ReleaseID, Result: string(RolledBack)}
	ur := UnitResult{Unit: unit, Action: plan.Rollback, From: before.Version, To: dr.Version, Outcome: RolledBack, Release: dr.ReleaseID,
		RolledBackTo: dr.Version, Hosts: HostResults(nil, dr.PerHost, true), Started: start.UTC(), Seconds: o.Now().Sub(start).Seconds()}
	// A driver that names releases says whether it switched any; one
	// that does not (exec) is judged by the version alone.
	noop := rerr == nil && dr.Version == before.Version &&
		(dr.ReleaseID == "" || dr.Previous == nil || dr.Previous.ID == "" || dr.Previous.ID == dr.ReleaseID)
	switch {
	case rerr != nil:
		end.Result, end.Error, ur.Outcome, ur.Error = string(Failed), rerr.Error(), Failed, rerr.Error()
	case noop:
		// The driver kept what runs (the last deploy already failed
		// and was rolled back): nothing is marked failed.
		end.Result, ur.Outcome = "unchanged", Skipped
	}
	if ur.Outcome != RolledBack {
		ur.RolledBackTo = ""
	}
	jerr := r.ended(rctx, end)
	res.Units = append(res.Units, ur)
	if rerr != nil {
		res.Errors = append(res.Errors, rerr.Error())
	}
	o.Progress.Event(Event{Env: env.Name, Unit: unit, Kind: "end", Outcome: ur.Outcome, Seconds: o.Now().Sub(start).Seconds(), Msg: end.Error})
	r.repaired = append(r.repaired, unit)
	switch {
	case rerr != nil:
		return out, fmt.Errorf("%s in %s: %w", unit, env.Name, rerr)
	case noop:
		return out, fmt.Errorf("%w: %s still runs %s in %s: it is the release from before the last deploy, which was already rolled back (to go further back, pass --to VERSION)", ErrNothingToRollBack, unit, before.Version, env.Name)
	}
	out.To, out.Release = dr.Version, dr.ReleaseID
	out.MarkedFailed = before.Version == u.Version
	return out, jerr
}

// sameOnEveryHost reports whether every host of o runs its version.
func sameOnEveryHost(o observation.Unit) bool {
	for _, h := range o.Hosts {
		if h.Version != o.Version {
			return false
		}
	}
	return true
}
