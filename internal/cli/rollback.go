package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

func rollbackCmd() *command {
	var lf lockFlags
	var to string
	var openPR bool
	var timeout time.Duration
	return &command{
		acts:         true,
		name:         "rollback",
		writesStatus: true,
		usage:        "rollback ENV UNIT [--to VERSION] [--pr]",
		summary:      "Return a unit to its previous release (or --to a version) under the environment's lock.",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&to, "to", "", "the version to return to (default: the previous release)")
			fs.BoolVar(&openPR, "pr", false, "also open a pull request that sets the unit's desired version to the one rolled back to")
			fs.DurationVar(&timeout, "action-timeout", apply.DefaultActionTimeout, "how long the rollback may take")
			lf.add(fs)
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 2 {
				return errors.New("usage: gearshift rollback ENV UNIT [--to VERSION]")
			}
			return e.rollback(ctx, args[0], args[1], to, openPR, timeout, lf)
		},
	}
}

// rollback is the data flow of rollback: load -> lock -> observe the unit
// -> journal -> driver.Rollback -> journal -> status record. The version
// rolled back from is remembered as failed, so that the next apply does
// not redeploy it until the desired version changes (or --retry-failed).
func (e *env) rollback(ctx context.Context, envName, unit, to string, openPR bool, timeout time.Duration, lf lockFlags) error {
	st, err := e.loadForApply(ctx, []string{envName})
	if err != nil {
		return err
	}
	env := st.Environments[envName]
	u := env.Units[unit]
	if u == nil {
		return fmt.Errorf("no unit %q in %s", unit, envName)
	}
	ds := newDrivers(st.Root)
	defer ds.Close()
	progress, closeProgress := e.progress()
	defer closeProgress()
	stateDir := lf.dir(e)
	run := apply.NewRunID(e.now())
	locks, err := e.lockAll(ctx, st, []string{envName}, run, stateDir, ds, lf, progress)
	if err != nil {
		return err
	}
	lock := locks[0]
	defer func() {
		if err := lock.Release(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(e.stderr, "gearshift rollback: %v\n", err)
		}
	}()
	d, err := ds.deployer(env, u.Target)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	before := d.Observe(ctx, env, u)
	if before.Failed() {
		return fmt.Errorf("%s: %s", unit, before.Error)
	}
	j := apply.NewJournal(lock.Dir(), envName, run, e.now)
	li := lock.Info()
	if err := j.Append(ctx, apply.Entry{Event: apply.EventRunStart, Environment: envName, Holder: li.Holder, PID: li.PID, Command: li.Command}); err != nil {
		return err
	}
	if err := j.Append(ctx, apply.Entry{Event: apply.EventActionStart, Unit: unit, Type: "rollback", From: before.Version, To: to}); err != nil {
		return err
	}
	progress.Event(apply.Event{Env: envName, Unit: unit, Kind: "start", Msg: "rolling back from " + before.Version})
	start := e.now()
	res, rerr := d.Rollback(ctx, env, u, to)
	end := apply.Entry{Event: apply.EventActionEnd, Unit: unit, Type: "rollback", From: before.Version, To: res.Version, Release: res.ReleaseID, Result: string(apply.RolledBack)}
	outcome := apply.RolledBack
	if rerr != nil {
		end.Result, end.Error, outcome = string(apply.Failed), rerr.Error(), apply.Failed
	}
	progress.Event(apply.Event{Env: envName, Unit: unit, Kind: "end", Outcome: outcome, Seconds: e.now().Sub(start).Seconds(), Msg: end.Error})
	closeProgress()
	jerr := j.Append(ctx, end)
	runEnd := "ok"
	if rerr != nil {
		runEnd = "failed"
	}
	if err := j.Append(ctx, apply.Entry{Event: apply.EventRunEnd, Result: runEnd}); err != nil && jerr == nil {
		jerr = err
	}
	if rerr != nil {
		return fmt.Errorf("%s in %s: %w", unit, envName, rerr)
	}
	if stateDir != "" {
		// The version rolled back from is marked failed: apply does not
		// redeploy it until the desired version changes.
		file := apply.StatusFile(stateDir, envName)
		envRes := &apply.EnvResult{Units: []apply.UnitResult{{Unit: unit, Outcome: apply.RolledBack, To: before.Version}}}
		rec, err := e.writeStatusFile(ctx, env, ds, observeFlags{parallelism: 32, timeout: 30 * time.Second}, file, envRes)
		if err != nil {
			fmt.Fprintf(e.stderr, "gearshift rollback: status record: %v\n", err)
		} else if c, cerr := e.checkout(ctx); cerr == nil && c.Commit != "" {
			if err := writeStatus(ctx, e, c, []*statusrec.Record{rec}); err != nil {
				fmt.Fprintf(e.stderr, "gearshift rollback: status branch %s: %v\n", e.statusBranch, err)
			}
		}
	}
	version := res.Version
	if version == "" {
		version = "its previous release"
	}
	fmt.Fprintf(e.stdout, "Rolled back %s in %s from %s to %s", unit, envName, orNone(before.Version), version)
	if res.ReleaseID != "" {
		fmt.Fprintf(e.stdout, " (release %s)", res.ReleaseID)
	}
	fmt.Fprintln(e.stdout)
	if before.Version == u.Version {
		fmt.Fprintf(e.stdout, "%s %s is marked failed: apply will not redeploy it until the desired version changes (or --retry-failed).\n", unit, before.Version)
	}
	if openPR && res.Version != "" && res.Version != u.Version {
		// Make the state repository say what now runs, so that the
		// reconciler does not bring the bad version back.
		c, err := e.checkout(ctx)
		if err != nil {
			return err
		}
		reason := fmt.Sprintf("%s %s was rolled back to %s in %s by gearshift rollback.", unit, before.Version, res.Version, envName)
		pr, err := openVersionPR(ctx, e, c, envName, unit, res.Version, reason)
		if err != nil {
			return fmt.Errorf("rolled back, but the pull request failed: %w", err)
		}
		fmt.Fprintf(e.stdout, "Pull request #%d sets %s in %s to %s: %s\n", pr.Number, unit, envName, res.Version, pr.URL)
	}
	return jerr
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}
