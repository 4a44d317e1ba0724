// Package notify tells others how an apply went: the notifications an
// environment declares (a generic JSON webhook, a Slack-compatible
// incoming webhook, a GitHub commit status on the state commit), each
// with a timeout and a bounded retry, all carrying one event
// (docs/notifications.md); and GitHub's Environments page, through the
// Deployments API (Deployments).
//
// A notification or a deployment that fails is reported (an apply.Report)
// and never fails or blocks the apply: every attempt is bounded by its
// timeout, the retries by their count, and they run after the
// environment's actions are done.
//
// The package must never read a secret from the state repository (the
// state names variables, and only those GEARSHIFT_PASS_ENV lists, never
// gearshift's own tokens), send a secret anywhere but where it belongs
// (a webhook's token to that webhook's URL, redirects not followed, never
// over plain HTTP off loopback; the GitHub token to GitHub through forge),
// or print one: every URL it reports is cut to its host and path.
package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/plan"
)

// FormatVersion is the version of the event's JSON document. Bump it
// when a consumer would have to change.
const FormatVersion = "1"

// Outcomes of an environment's apply, as events name them.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	// OutcomeHeld: nothing failed, but a policy denied or held an action,
	// so not every unit is at its desired version (apply exits 3).
	OutcomeHeld = "held"
)

// Event is what every provider sends about one environment's apply, or
// about a gearshift rollback.
type Event struct {
	FormatVersion string `json:"format_version"`
	// Event is "apply.<outcome>", or "rollback.<outcome>" for gearshift
	// rollback (outcome success or failure).
	Event       string `json:"event"`
	Outcome     string `json:"outcome"`
	Environment string `json:"environment"`
	Run         string `json:"run"`
	// Changed says whether the run deployed, redeployed or pruned
	// anything (or repaired an interrupted run).
	Changed bool `json:"changed"`
	// Commit and Ref are the state commit applied and its branch or tag.
	Commit string `json:"commit,omitempty"`
	Ref    string `json:"ref,omitempty"`
	// Summary is one line: "1 deployed, 1 rolled back, 0 failed, 2 skipped".
	Summary string      `json:"summary"`
	Units   []EventUnit `json:"units"`
	// Errors are the run's own failures (a unit that could not be
	// observed, the journal).
	Errors    []string  `json:"errors,omitempty"`
	LogURL    string    `json:"log_url,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"duration_seconds"`
}

// EventUnit is what the run did to one unit.
type EventUnit struct {
	Unit         string `json:"unit"`
	Action       string `json:"action"`
	From         string `json:"from,omitempty"`
	To           string `json:"to,omitempty"`
	Outcome      string `json:"outcome"`
	Reason       string `json:"reason,omitempty"`
	Error        string `json:"error,omitempty"`
	RolledBackTo string `json:"rolled_back_to,omitempty"`
}

// Outcome is the outcome of an environment's run: the verdict apply's
// exit code comes from.
func Outcome(res *apply.EnvResult) string {
	if res.Command == CommandRollback {
		if len(res.Errors) == 0 && len(res.Units) == 1 && res.Units[0].Outcome == apply.RolledBack {
			return OutcomeSuccess
		}
		return OutcomeFailure
	}
	switch apply.VerdictOf(&apply.Result{Environments: []*apply.EnvResult{res}}) {
	case apply.VerdictDone:
		return OutcomeSuccess
	case apply.VerdictHeld:
		return OutcomeHeld
	}
	return OutcomeFailure
}

// NewEvent builds the event of res. redact cleans the text that quotes
// commands and servers (errors).
func NewEvent(res *apply.EnvResult, commit, ref, logURL string, redact func(string) string) Event {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	out := Outcome(res)
	command := "apply"
	if res.Command == CommandRollback {
		command = CommandRollback
	}
	e := Event{FormatVersion: FormatVersion, Event: command + "." + out, Outcome: out, Environment: res.Name, Run: res.Run,
		Commit: commit, Ref: ref, LogURL: logURL, StartedAt: res.Started, Seconds: res.Seconds, Units: []EventUnit{},
		Changed: len(res.Resumed) > 0}
	for _, u := range res.Units {
		e.Units = append(e.Units, EventUnit{Unit: u.Unit, Action: string(u.Action), From: u.From, To: u.To, Outcome: string(u.Outcome),
			Reason: redact(u.Reason), Error: redact(u.Error), RolledBackTo: u.RolledBackTo})
		if u.Outcome != apply.Skipped {
			e.Changed = true
		}
	}
	for _, msg := range res.Errors {
		e.Errors = append(e.Errors, redact(msg))
	}
	if res.Interrupted {
		e.Errors = append(e.Errors, "interrupted: actions not yet started were skipped")
	}
	c := res.Counts
	e.Summary = fmt.Sprintf("%d deployed, %d redeployed, %d pruned, %d rolled back, %d failed, %d skipped", c.Deployed, c.Redeployed, c.Pruned, c.RolledBack, c.Failed, c.Skipped)
	if res.Command == CommandRollback {
		e.Summary = RollbackSummary(res)
	}
	return e
}

// CommandRollback is apply's: the command of gearshift rollback's result
// and the prefix of its events.
const CommandRollback = apply.CommandRollback

// RollbackSummary is a rollback's result in a few words: "api rolled
// back from 1.2.0 to 1.1.0", or "api 1.2.0 not rolled back: <error>".
func RollbackSummary(res *apply.EnvResult) string {
	if len(res.Units) == 0 {
		return "nothing rolled back: " + firstLine(strings.Join(res.Errors, "; "))
	}
	u := res.Units[0]
	if Outcome(res) == OutcomeSuccess {
		return fmt.Sprintf("%s rolled back from %s to %s", u.Unit, u.From, u.To)
	}
	msg := u.Error
	if msg == "" {
		msg = strings.Join(res.Errors, "; ")
	}
	return fmt.Sprintf("%s %s not rolled back: %s", u.Unit, u.From, firstLine(msg))
}

// Headline is the event in one line: "apply of prod failed: 1 rolled
// back, ...", "rollback in prod succeeded (api rolled back from 1.2.0
// to 1.1.0)".
func (e Event) Headline() string {
	verb := map[string]string{OutcomeSuccess: "succeeded", OutcomeFailure: "failed", OutcomeHeld: "was held by a policy"}[e.Outcome]
	if strings.HasPrefix(e.Event, CommandRollback+".") {
		return fmt.Sprintf("gearshift: rollback in %s %s (%s)", e.Environment, verb, e.Summary)
	}
	return fmt.Sprintf("gearshift: apply of %s %s (%s)", e.Environment, verb, e.Summary)
}

// unitLine is one unit's line in a message.
func unitLine(u EventUnit) string {
	v := u.To
	if u.Action == string(plan.Prune) {
		v = u.From
	} else if u.From != "" && u.From != u.To {
		v = u.From + " -> " + u.To
	}
	line := fmt.Sprintf("%s %s: %s", u.Unit, v, u.Outcome)
	switch {
	case u.RolledBackTo != "":
		line += " (rolled back to " + u.RolledBackTo + ")"
	}
	if msg := firstLine(u.Error); msg != "" {
		line += ": " + msg
	} else if u.Reason != "" {
		line += ": " + firstLine(u.Reason)
	}
	return line
}

func firstLine(s string) string {
	f, _, _ := strings.Cut(s, "\n")
	return f
}
