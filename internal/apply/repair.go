package apply

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// begin reads the journal (what earlier runs left unfinished, the versions
// that failed) and appends this run's start.
func (r *runner) begin(ctx context.Context) error {
	hist, err := ReadHistory(ctx, r.lock.Dir(), r.env.Name)
	if err != nil {
		return err
	}
	if hist.Torn > 0 {
		r.note(fmt.Sprintf("the journal has %d unreadable lines (a crash in mid-write); they were ignored", hist.Torn))
	}
	r.hist = hist
	li := r.lock.Info()
	j := NewJournal(r.lock.Dir(), r.env.Name, li.Run, r.o.Now)
	if err := j.Append(ctx, Entry{Event: EventRunStart, Environment: r.env.Name, Holder: li.Holder, PID: li.PID, Command: li.Command}); err != nil {
		return err
	}
	r.journal = j
	return nil
}

// end appends the run's end to the journal.
func (r *runner) end(ctx context.Context, res *EnvResult) {
	result := "ok"
	switch {
	case res.Interrupted:
		result = "interrupted"
	case res.Failed():
		result = "failed"
	}
	if err := r.journal.Append(ctx, Entry{Event: EventRunEnd, Result: result}); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
}

// ended journals an action's end and remembers what it says of failed
// versions; when it is the unit's first action since an interrupted run
// left it unfinished, the unfinished entries are settled too.
func (r *runner) ended(ctx context.Context, e Entry) error {
	if e.Time.IsZero() {
		e.Time = r.o.Now().UTC()
	}
	err := r.journal.Append(ctx, e)
	r.mu.Lock()
	r.hist.remember(e)
	u, open := r.open[e.Unit]
	delete(r.open, e.Unit)
	r.mu.Unlock()
	if open {
		r.settle(ctx, u)
	}
	return err
}

// settle closes the unfinished entries of u: the unit is no longer in the
// middle of an interrupted action.
func (r *runner) settle(ctx context.Context, u Unfinished) {
	for _, run := range u.Runs {
		if err := r.journal.Append(ctx, Entry{Event: EventActionEnd, Unit: u.Unit, Type: u.Type, From: u.From, To: u.To, Result: "resumed", Closes: run}); err != nil {
			r.o.Log.Warn("journal", "err", err)
		}
	}
}

// repair looks at the units an interrupted run left in the middle of an
// action, before anything is planned. A unit whose release is now broken
// is rolled back to the version it ran before the interrupted action (the
// last one known to work), and read again; that settles it. The others
// are returned, with what the interrupted run was doing, for the planner:
// it gives each a redeploy (reason interrupted), judged by the policies
// like any other action, and the unit's action in this run settles it.
func (r *runner) repair(ctx context.Context, res *EnvResult) map[string]string {
	interrupted := map[string]string{}
	for _, u := range r.hist.Unfinished {
		r.note(fmt.Sprintf("resuming: %s was left unfinished by run %s at %s", u.Unit, u.Run, u.Started.UTC().Format(time.RFC3339)))
		rs := Resumed{Unit: u.Unit, Run: u.Run, Started: u.Started}
		unit := r.env.Units[u.Unit]
		obs, observed := r.observed.Units[u.Unit]
		switch {
		case unit == nil || u.Type == string(plan.Prune):
			rs.Repair = "none needed: an undeclared unit is pruned by the plan if it still runs"
			r.settle(ctx, u)
		case observed && broken(obs) && u.From != "" && obs.Version != u.From:
			d, err := r.resolve(r.env, unit.Target)
			if err != nil {
				rs.Repair = "cannot repair: " + err.Error()
				break
			}
			var ok bool
			if rs.Repair, ok = r.resumeRollback(ctx, d, unit, u, obs); ok {
				r.repaired = append(r.repaired, u.Unit)
				r.settle(ctx, u)
				break
			}
			fallthrough
		default:
			interrupted[u.Unit] = fmt.Sprintf("run %s was interrupted at %s in the middle of its %s", u.Run, u.Started.UTC().Format(time.RFC3339), describeUnfinished(u))
			r.open[u.Unit] = u
		}
		res.Resumed = append(res.Resumed, rs)
	}
	r.reread(ctx, r.repaired)
	return interrupted
}

// broken reports whether an observed release cannot be left as it is.
func broken(o observation.Unit) bool {
	return o.Failed() || o.Health == observation.HealthUnhealthy || o.Health == observation.HealthMissing ||
		(o.Deployed && o.Version == "")
}

func describeUnfinished(u Unfinished) string {
	switch {
	case u.From != "" && u.From != u.To:
		return fmt.Sprintf("%s from %s to %s", u.Type, u.From, u.To)
	case u.To != "":
		return u.Type + " of " + u.To
	}
	return u.Type
}

// describeResumed says, for the interrupted units the repair did not
// settle, what the judged plan does with them.
func (r *runner) describeResumed(pe *plan.Environment, res *EnvResult) {
	actions := map[string]*plan.Action{}
	for _, a := range pe.Actions {
		actions[a.Unit] = a
	}
	for i := range res.Resumed {
		rs := &res.Resumed[i]
		if _, open := r.open[rs.Unit]; !open {
			continue
		}
		a := actions[rs.Unit]
		var then string
		switch {
		case a == nil:
			then = "nothing planned: it stays unfinished"
			if o, ok := pe.Observations[rs.Unit]; !ok || o.Failed() {
				then = "cannot repair: it could not be observed"
			}
		case len(a.Denied) > 0:
			then = fmt.Sprintf("its %s is denied by %s: it stays unfinished", a.Type, strings.Join(a.Denied, ", "))
		case a.HeldUntil != nil:
			then = fmt.Sprintf("its %s is held by the deploy window: it stays unfinished", a.Type)
		case a.Type == plan.Redeploy:
			then = "redeploy, to run its checks"
		default:
			then = fmt.Sprintf("%s again", a.Type)
		}
		rs.Repair = joinMsg(rs.Repair, then)
	}
}

// resumeRollback rolls an interrupted unit back to the version it ran
// before, journalled as an action of this run.
func (r *runner) resumeRollback(ctx context.Context, d driver.Deployer, unit *state.Unit, u Unfinished, obs observation.Unit) (string, bool) {
	ctx = context.WithoutCancel(ctx)
	_ = r.journal.Append(ctx, Entry{Event: EventActionStart, Unit: unit.Name, Type: "rollback", From: obs.Version, To: u.From})
	rctx, cancel := context.WithTimeout(ctx, r.o.ActionTimeout)
	defer cancel()
	r.step(unit.Name, "rolling back to "+u.From)
	dr, err := d.Rollback(rctx, r.env, unit, u.From)
	end := Entry{Event: EventActionEnd, Unit: unit.Name, Type: "rollback", From: obs.Version, To: u.From, Release: dr.ReleaseID, Result: "rolled-back-to"}
	if err != nil {
		end.Result, end.Error = string(Failed), err.Error()
		_ = r.journal.Append(ctx, end)
		return "rollback to " + u.From + " failed: " + err.Error(), false
	}
	_ = r.journal.Append(ctx, end)
	return "its release was broken (" + describe(obs) + "); rolled back to " + u.From, true
}

func describe(o observation.Unit) string {
	switch {
	case o.Error != "":
		return o.Error
	case o.HealthDetail != "":
		return string(o.Health) + ": " + o.HealthDetail
	}
	return string(o.Health)
}
