package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/notify"
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
		example:      "  gearshift rollback prod greeter\n  gearshift rollback prod greeter --to 1.2.0 --pr",
		complete:     argsEnvUnit,
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

// rollback parses nothing more and computes nothing itself: package
// apply rolls back under the lock, with apply's journal protocol, and
// refuses a rollback that would change nothing; this prints what happened,
// publishes the status record, the GitHub deployment and the
// notifications, and opens the pull request.
func (e *env) rollback(ctx context.Context, envName, unit, to string, openPR bool, timeout time.Duration, lf lockFlags) error {
	if err := e.requireCommit(ctx, "rollback"); err != nil {
		return err
	}
	st, err := e.loadForApply(ctx, []string{envName})
	if err != nil {
		return err
	}
	if st.Environments[envName] == nil {
		return noEnvironment(envName, st.Names())
	}
	u := st.Environments[envName].Units[unit]
	if u == nil {
		return fmt.Errorf("no unit %q in %s", unit, envName)
	}
	c, err := e.checkout(ctx)
	if err != nil {
		return err
	}
	ds := newDrivers(st.Root, e.now)
	defer ds.Close()
	progress, closeProgress := e.progress()
	defer closeProgress()
	// A rollback is not refused for the checked-out ref: it returns to
	// what ran, whatever the state says.
	req := e.applyRequest(st, []string{envName}, nil, ds, lf)
	// GitHub deployments and notifications, as apply publishes them (a
	// rollback tags no release). After a lock wait the rollback is done
	// from what it observes then, not from a newer state: it returns to
	// what ran, whatever the state says.
	pub := &notify.Run{Getenv: e.getenv, Redactor: e.redact, Checkout: func() *gitops.Checkout { return c },
		Auth: e.gitAuth(), Now: e.now, GitHub: e.githubFor, Stderr: e.stderr}
	rb, err := apply.Rollback(ctx, req, unit, to, apply.Options{ActionTimeout: timeout, Now: e.now, Progress: progress, Log: e.log,
		Started: pub.Started, Finished: pub.Finished})
	closeProgress()
	if rb != nil && rb.Record != nil {
		rb.Record.Commit = c.Commit
		e.publishStatus(ctx, c, []*statusrec.Record{rb.Record}, "rollback")
	}
	if err != nil {
		if apply.IsLocked(err) {
			return withCode(ExitLocked, err)
		}
		return err
	}
	version := rb.To
	if version == "" {
		version = "its previous release"
	}
	fmt.Fprintf(e.stdout, "Rolled back %s in %s from %s to %s", unit, envName, orNone(rb.From), version)
	if rb.Release != "" {
		fmt.Fprintf(e.stdout, " (release %s)", rb.Release)
	}
	fmt.Fprintln(e.stdout)
	if rb.MarkedFailed {
		fmt.Fprintf(e.stdout, "%s %s is marked failed: apply will not redeploy it until the desired version changes (or --retry-failed).\n", unit, rb.From)
	}
	if openPR && rb.To != "" && rb.To != u.Version {
		// Make the state repository say what now runs, so that the
		// reconciler does not bring the bad version back.
		reason := fmt.Sprintf("%s %s was rolled back to %s in %s by gearshift rollback.", unit, rb.From, rb.To, envName)
		pr, err := openVersionPR(ctx, e, c, envName, unit, rb.To, reason)
		if err != nil {
			return fmt.Errorf("rolled back, but the pull request failed: %w", err)
		}
		fmt.Fprintf(e.stdout, "Pull request #%d sets %s in %s to %s: %s\n", pr.Number, unit, envName, rb.To, pr.URL)
	}
	return nil
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}
