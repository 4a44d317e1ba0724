package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// writeStatus writes each record to <env>.json on the status branch of the
// state repository (--status-branch) and pushes it, in one commit; other
// environments' records on the branch are kept. apply calls it after a run;
// --no-status makes it do nothing. A record without a commit gets the
// checkout's, one without a time gets now.
func writeStatus(ctx context.Context, e *env, c *gitops.Checkout, records []*statusrec.Record) error {
	if e.noStatus || len(records) == 0 {
		return nil
	}
	files := make(map[string][]byte, len(records))
	names := make([]string, 0, len(records))
	for _, r := range records {
		if r.Commit == "" && c != nil {
			r.Commit = c.Commit
		}
		if r.WrittenAt.IsZero() {
			r.WrittenAt = e.now().UTC()
		}
		b, err := statusrec.Marshal(r)
		if err != nil {
			return fmt.Errorf("status record of %s: %w", r.Environment, err)
		}
		// A unit's observation may quote what a command printed: the
		// status branch is public to every later plan, fork PRs included.
		files[statusrec.FileName(r.Environment)] = e.redact.Bytes(b)
		names = append(names, r.Environment)
	}
	sort.Strings(names)
	msg := "gearshift status: " + strings.Join(names, ", ")
	if c != nil && c.Commit != "" {
		msg += " at " + shortHash(c.Commit)
	}
	return gitops.WriteStatus(ctx, statusRepo(e, c), e.statusBranch, files, e.redact.String(msg), e.gitAuth())
}

// statusRecords are the records read from the status branch, by
// environment; a record that cannot be decoded is in errs instead.
type statusRecords struct {
	branch  string
	records map[string]*statusrec.Record
	errs    map[string]error
}

// readStatus reads every record of the status branch. A missing branch is
// no records, not an error.
func readStatus(ctx context.Context, e *env, c *gitops.Checkout) (*statusRecords, error) {
	files, err := gitops.ReadStatus(ctx, statusRepo(e, c), e.statusBranch, e.gitAuth())
	if err != nil {
		return nil, err
	}
	sr := &statusRecords{branch: e.statusBranch, records: map[string]*statusrec.Record{}, errs: map[string]error{}}
	for name, b := range files {
		env, ok := strings.CutSuffix(name, ".json")
		if !ok || strings.Contains(env, "/") {
			continue
		}
		r, err := statusrec.Unmarshal(b)
		if err != nil {
			sr.errs[env] = fmt.Errorf("%s on %s: %w", name, e.statusBranch, err)
			continue
		}
		sr.records[env] = r
	}
	return sr, nil
}

// noRecord is the observation error of a unit whose environment has no
// status record: the plan says so, and it does not fail the run.
const noRecord = statusrec.NoRecord

// observed is env's observation as its record tells it (statusrec.Observed).
func (sr *statusRecords) observed(env *state.Environment) driver.Observed {
	return statusrec.Observed(env, sr.records[env.Name], sr.errs[env.Name], sr.branch)
}

// statusRepo is what gitops reads and writes the status branch of: the URL
// for a state repository given as one, else the local repository (whose
// origin is used when it has one).
func statusRepo(e *env, c *gitops.Checkout) string {
	if c != nil && c.Source != c.Dir {
		return e.repo
	}
	if c != nil {
		return c.Dir
	}
	return e.repo
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
