package apply

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
)

// FormatVersion is the version of the apply result's JSON document
// (docs/apply-json.md). Bump it when a consumer would have to change.
// "2" added each unit's hosts.
const FormatVersion = "2"

// Outcome is what happened to one unit in a run.
type Outcome string

const (
	Deployed   Outcome = "deployed"
	Redeployed Outcome = "redeployed"
	Pruned     Outcome = "pruned"
	// RolledBack: the deploy or its verify failed and the unit was
	// returned to its previous release. It counts as a failure.
	RolledBack Outcome = "rolled-back"
	// Skipped: not attempted (denied, held, a dependency failed, a
	// version that failed before, the run was interrupted).
	Skipped Outcome = "skipped"
	// Failed: the action failed and the unit could not be rolled back.
	Failed Outcome = "failed"
)

// Failure reports whether the outcome makes the run fail.
func (o Outcome) Failure() bool { return o == RolledBack || o == Failed }

// UnitResult is what a run did to one unit.
type UnitResult struct {
	Unit   string          `json:"unit"`
	Action plan.ActionType `json:"action"`
	Wave   int             `json:"wave"`
	From   string          `json:"from,omitempty"`
	To     string          `json:"to,omitempty"`
	// Outcome is what happened; Reason says why for a skip.
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason,omitempty"`
	// Error is why the action failed.
	Error string `json:"error,omitempty"`
	// Release is the release deployed (or rolled back to).
	Release string `json:"release,omitempty"`
	// RolledBackTo is the version the unit runs after a rollback.
	RolledBackTo string `json:"rolled_back_to,omitempty"`
	// RollbackError is why the rollback failed, for Failed.
	RollbackError string `json:"rollback_error,omitempty"`
	// Hosts is each host's outcome, in the target's order, for targets
	// with hosts (docs/apply-json.md): CI reads which hosts run what
	// without parsing Error.
	Hosts   []HostResult `json:"hosts,omitempty"`
	Started time.Time    `json:"started_at,omitzero"`
	// Seconds is how long the action took.
	Seconds float64 `json:"duration_seconds"`
}

// HostResult is one host's outcome: deployed, rolled-back, failed or
// untouched, the version it runs afterwards when known, and its own error.
type HostResult = driver.HostResult

// HostResults is each host's outcome of a deploy and, when rolledBack, of
// the rollback that followed: a host the deploy changed and the rollback
// returned is rolled-back (keeping the deploy's error on the host that
// failed), a host whose rollback failed is failed, and a host neither
// changed keeps the deploy's outcome with the version it still runs.
func HostResults(deploy, rollback []driver.HostResult, rolledBack bool) []HostResult {
	if !rolledBack || len(rollback) == 0 {
		if len(deploy) == 0 {
			return nil
		}
		return append([]HostResult(nil), deploy...)
	}
	rb := make(map[string]driver.HostResult, len(rollback))
	for _, r := range rollback {
		rb[r.Host] = r
	}
	if len(deploy) == 0 {
		return append([]HostResult(nil), rollback...)
	}
	out := make([]HostResult, 0, len(deploy))
	for _, d := range deploy {
		r, ok := rb[d.Host]
		if !ok {
			out = append(out, d)
			continue
		}
		h := d
		switch r.Outcome {
		case driver.HostFailed:
			h.Outcome, h.Version, h.Release = driver.HostFailed, "", ""
			h.Error = joinMsg(d.Error, "rollback: "+r.Error)
		case driver.HostRolledBack:
			h.Outcome, h.Version, h.Release = driver.HostRolledBack, r.Version, r.Release
		default: // kept its release: the deploy had not switched it
			h.Version, h.Release = r.Version, r.Release
		}
		out = append(out, h)
	}
	return out
}

// Resumed is a unit an earlier run left unfinished and this one repaired.
type Resumed struct {
	Unit    string    `json:"unit"`
	Run     string    `json:"run"`
	Started time.Time `json:"started_at"`
	// Repair is what this run did first: "rolled back to 1.2.0",
	// "redeploy", "none needed", or why it could not.
	Repair string `json:"repair"`
}

// Counts count a run's outcomes.
type Counts struct {
	Deployed   int `json:"deployed"`
	Redeployed int `json:"redeployed"`
	Pruned     int `json:"pruned"`
	RolledBack int `json:"rolled_back"`
	Skipped    int `json:"skipped"`
	Failed     int `json:"failed"`
	// Denied counts skipped actions a policy denied.
	Denied int `json:"denied"`
}

func (c *Counts) add(r UnitResult) {
	switch r.Outcome {
	case Deployed:
		c.Deployed++
	case Redeployed:
		c.Redeployed++
	case Pruned:
		c.Pruned++
	case RolledBack:
		c.RolledBack++
	case Skipped:
		c.Skipped++
	case Failed:
		c.Failed++
	}
}

// EnvResult is one environment's run.
type EnvResult struct {
	Name string `json:"name"`
	Run  string `json:"run"`
	// Command is the command whose run this is: "" for apply,
	// CommandRollback for gearshift rollback (one unit, outcome
	// rolled-back when it succeeded).
	Command string       `json:"command,omitempty"`
	Resumed []Resumed    `json:"resumed,omitempty"`
	Units   []UnitResult `json:"units"`
	// Errors are units that could not be observed (they got no action)
	// and failures of the run itself (journal, status record).
	Errors []string `json:"errors,omitempty"`
	// BlockingViolations counts the plan's policy denials.
	BlockingViolations int       `json:"blocking_violations"`
	Interrupted        bool      `json:"interrupted,omitempty"`
	Counts             Counts    `json:"counts"`
	Started            time.Time `json:"started_at"`
	Seconds            float64   `json:"duration_seconds"`
	// Published is what was published after the run (Report).
	Published []Report `json:"published,omitempty"`
}

// CommandRollback is EnvResult.Command of gearshift rollback.
const CommandRollback = "rollback"

// Failed reports whether the run of this environment failed.
func (e *EnvResult) Failed() bool {
	return e.Counts.RolledBack+e.Counts.Failed > 0 || len(e.Errors) > 0 || e.Interrupted
}

// Result is the result of one apply over one or more environments.
type Result struct {
	FormatVersion string       `json:"format_version"`
	Environments  []*EnvResult `json:"environments"`
	Counts        Counts       `json:"counts"`
	Seconds       float64      `json:"duration_seconds"`
}

// Add appends an environment's result and counts it.
func (r *Result) Add(e *EnvResult) {
	r.FormatVersion = FormatVersion
	r.Environments = append(r.Environments, e)
	c := &r.Counts
	c.Deployed += e.Counts.Deployed
	c.Redeployed += e.Counts.Redeployed
	c.Pruned += e.Counts.Pruned
	c.RolledBack += e.Counts.RolledBack
	c.Skipped += e.Counts.Skipped
	c.Failed += e.Counts.Failed
	c.Denied += e.Counts.Denied
}

// Failed reports whether any environment's run failed.
func (r *Result) Failed() bool {
	for _, e := range r.Environments {
		if e.Failed() {
			return true
		}
	}
	return false
}

// Denied reports whether any environment's plan had a blocking denial.
func (r *Result) Denied() bool {
	for _, e := range r.Environments {
		if e.BlockingViolations > 0 || e.Counts.Denied > 0 {
			return true
		}
	}
	return false
}

// JSON writes the result's versioned JSON document.
func (r *Result) JSON(w io.Writer) error {
	r.FormatVersion = FormatVersion
	if r.Environments == nil {
		r.Environments = []*EnvResult{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

var outcomeSymbol = map[Outcome]string{
	Deployed: "+", Redeployed: "~", Pruned: "-", RolledBack: "!", Skipped: "=", Failed: "x",
}

// Text writes the result summary for a terminal.
func (r *Result) Text(w io.Writer) error {
	var b strings.Builder
	for i, e := range r.Environments {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Applied %s (run %s, %s)\n", e.Name, e.Run, seconds(e.Seconds))
		for _, rs := range e.Resumed {
			fmt.Fprintf(&b, "  resumed %s, left unfinished by run %s at %s: %s\n", rs.Unit, rs.Run, rs.Started.UTC().Format(time.RFC3339), rs.Repair)
		}
		if len(e.Units) == 0 && len(e.Resumed) == 0 {
			b.WriteString("  Nothing to do: every unit runs as desired.\n")
		}
		for _, u := range e.Units {
			versions := u.To
			switch {
			case u.Action == plan.Prune:
				versions = u.From
			case u.From != "" && u.From != u.To:
				versions = u.From + " -> " + u.To
			}
			fmt.Fprintf(&b, "  %s %-20s %-20s %-11s %s", outcomeSymbol[u.Outcome], u.Unit, versions, u.Outcome, seconds(u.Seconds))
			switch {
			case u.Outcome == RolledBack && u.RolledBackTo != "":
				fmt.Fprintf(&b, "  %s; rolled back to %s", u.Error, u.RolledBackTo)
			case u.Outcome == Failed && u.RollbackError != "":
				fmt.Fprintf(&b, "  %s; rollback failed: %s", u.Error, u.RollbackError)
			case u.Error != "":
				fmt.Fprintf(&b, "  %s", u.Error)
			case u.Reason != "":
				fmt.Fprintf(&b, "  %s", u.Reason)
			}
			b.WriteString("\n")
			if u.Outcome.Failure() {
				// Which hosts run what, when they differ in outcome.
				for _, h := range u.Hosts {
					fmt.Fprintf(&b, "      %-18s %-11s %s", h.Host, h.Outcome, h.Version)
					if h.Error != "" {
						fmt.Fprintf(&b, "  %s", firstLine(h.Error))
					}
					b.WriteString("\n")
				}
			}
		}
		for _, msg := range e.Errors {
			fmt.Fprintf(&b, "  error: %s\n", msg)
		}
		if e.Interrupted {
			b.WriteString("  interrupted: actions not yet started were skipped\n")
		}
	}
	c := r.Counts
	verdict := "Apply complete"
	if r.Failed() {
		verdict = "Apply failed"
	}
	fmt.Fprintf(&b, "\n%s: %d deployed, %d redeployed, %d pruned, %d rolled back, %d failed, %d skipped (%s)\n",
		verdict, c.Deployed, c.Redeployed, c.Pruned, c.RolledBack, c.Failed, c.Skipped, seconds(r.Seconds))
	// Errors quote what commands printed: no escape sequence or carriage
	// return of theirs reaches the terminal.
	_, err := io.WriteString(w, inert.Lines(b.String()))
	return err
}

// firstLine is the first line of a message (a health failure's log tail
// follows it).
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(10 * time.Millisecond).String()
}
