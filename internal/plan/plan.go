// Package plan holds gearshift's plan: for each environment, the actions
// that bring what runs to what is desired (deploy, redeploy, prune), each
// with every reason it is needed, ordered in waves by dependsOn, and the
// policy violations found (filled in by the policy package).
//
// A plan is documented data: renderers (package report) and apply read it,
// and its JSON form carries FormatVersion (docs/plan-json.md). The planner
// is a pure function of desired state, observations and the clock: it never
// touches a target.
package plan

import (
	"time"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// FormatVersion is the version of the plan's JSON document. Bump it when a
// consumer would have to change. 2: a unit that was not observed is in
// not_observed and no longer in observations (where it read "deployed":
// false); an environment planned from a status record says which
// (status_record).
const FormatVersion = "2"

// ActionType is what an action does to a unit.
type ActionType string

const (
	// Deploy installs the desired version: the unit is not deployed, or
	// another version runs.
	Deploy ActionType = "deploy"
	// Redeploy installs the same version again: it is older than its
	// maxAge, unhealthy, or has drifted.
	Redeploy ActionType = "redeploy"
	// Prune removes a unit that runs but is no longer declared.
	Prune ActionType = "prune"
	// Rollback returns a unit to an earlier release. No plan computes
	// it: gearshift rollback describes its one action with it to what it
	// publishes (GitHub deployments, notifications).
	Rollback ActionType = "rollback"
)

// ReasonCode says why an action is needed.
type ReasonCode string

const (
	NotDeployed    ReasonCode = "not-deployed"
	VersionChanged ReasonCode = "version-changed"
	MaxAge         ReasonCode = "max-age"
	Unhealthy      ReasonCode = "unhealthy"
	Drift          ReasonCode = "drift"
	NotDeclared    ReasonCode = "not-declared"
	// Interrupted: an earlier apply was stopped in the middle of changing
	// the unit, so its checks (health, verify) must run again.
	Interrupted ReasonCode = "interrupted"
)

// Reason is one reason for an action, with the facts behind it.
type Reason struct {
	Code    ReasonCode `json:"code"`
	Message string     `json:"message"`
}

// Action is one change to one unit.
type Action struct {
	Unit     string     `json:"unit"`
	Kind     string     `json:"kind,omitempty"`
	Type     ActionType `json:"type"`
	Target   string     `json:"target"`
	Strategy string     `json:"strategy,omitempty"`
	// From is the running version ("" when none), To the desired one (""
	// for a prune).
	From    string   `json:"from,omitempty"`
	To      string   `json:"to,omitempty"`
	Reasons []Reason `json:"reasons"`
	// Wave orders actions: every action of wave n runs after those of
	// wave n-1; actions of one wave may run in parallel.
	Wave      int      `json:"wave"`
	DependsOn []string `json:"depends_on,omitempty"`
	// Applyable is false when a policy denies the action or a deploy
	// window holds it.
	Applyable bool `json:"applyable"`
	// Denied names the rules that deny the action.
	Denied []string `json:"denied,omitempty"`
	// HeldUntil is when the next deploy window opens, for a held action.
	HeldUntil *time.Time `json:"held_until,omitempty"`
	Pos       state.Pos  `json:"pos,omitzero"`
	// Diff is what the driver's dry run says the action would change on
	// the target, one line per field (kubernetes: a server-side dry run
	// of the patch); empty when the driver cannot tell or the plan was
	// made from status records.
	Diff string `json:"diff,omitempty"`
}

// HasReason reports whether the action carries the reason code.
func (a *Action) HasReason(c ReasonCode) bool {
	for _, r := range a.Reasons {
		if r.Code == c {
			return true
		}
	}
	return false
}

// Severity is how a violation weighs.
type Severity string

const (
	// Deny makes the unit's actions unappliable and the plan exit 3.
	Deny Severity = "deny"
	// Warn is reported only.
	Warn Severity = "warn"
	// Bump is reported as needing a bump pull request (gearshift bump).
	Bump Severity = "bump"
)

// Waived marks a violation a waiver accepts.
type Waived struct {
	Reason string `json:"reason"`
	Until  string `json:"until"`
}

// Violation is a policy rule broken by a unit (or the environment).
type Violation struct {
	Rule     string    `json:"rule"`
	Severity Severity  `json:"severity"`
	Unit     string    `json:"unit,omitempty"`
	Message  string    `json:"message"`
	Pos      state.Pos `json:"pos,omitzero"`
	Waived   *Waived   `json:"waived,omitempty"`
}

// Blocking reports whether the violation denies: a deny that no waiver
// accepts.
func (v Violation) Blocking() bool { return v.Severity == Deny && v.Waived == nil }

// UnitError is a unit that could not be observed.
type UnitError struct {
	Unit  string `json:"unit"`
	Error string `json:"error"`
}

// Environment is the plan of one environment.
type Environment struct {
	Name       string      `json:"name"`
	Actions    []*Action   `json:"actions"`
	Violations []Violation `json:"violations"`
	// Errors are the units whose observation failed, wholly or in part
	// (a host of several), and targets whose inventory could not be read.
	Errors []UnitError `json:"errors,omitempty"`
	// NotObserved are the declared units nothing is known of (a timeout,
	// a driver error, no status record): they get no action until they
	// can be observed, and "no action" does not mean "as desired".
	NotObserved []string `json:"not_observed,omitempty"`
	// Unmanaged are units that run on the targets but are not declared,
	// in an environment that does not prune.
	Unmanaged []string `json:"unmanaged,omitempty"`
	// Observations are what the drivers reported, by unit, for the units
	// that were observed (not those in NotObserved).
	Observations map[string]observation.Unit `json:"observations"`
	// ObservedFrom says where observations came from: "live", or
	// "status" for the status record of the state repository.
	ObservedFrom string `json:"observed_from"`
	// StatusRecord is the record observations came from when ObservedFrom
	// is "status".
	StatusRecord *StatusRecord `json:"status_record,omitempty"`
}

// StatusRecord is the status record an environment was planned from (plan
// --from-status): which, and how old, so that a reader can judge it.
type StatusRecord struct {
	Branch string `json:"branch"`
	// Found is false when the environment has no record on Branch yet,
	// or it could not be read (Error): its units are not observed.
	Found     bool      `json:"found"`
	WrittenAt time.Time `json:"written_at,omitzero"`
	// Commit is the state repository commit the recorded apply was of.
	Commit string `json:"commit,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Unrecorded reports whether e was planned from a status branch that has
// no record of it yet (an environment never applied): not a failure of
// the plan, but nothing is known of its units.
func (e *Environment) Unrecorded() bool {
	return e.StatusRecord != nil && !e.StatusRecord.Found && e.StatusRecord.Error == ""
}

// Plan is the plan of one or more environments.
type Plan struct {
	FormatVersion string         `json:"format_version"`
	GeneratedAt   time.Time      `json:"generated_at"`
	Environments  []*Environment `json:"environments"`
}

// Summary counts a plan's actions and violations.
type Summary struct {
	Deploy     int `json:"deploy"`
	Redeploy   int `json:"redeploy"`
	Prune      int `json:"prune"`
	Held       int `json:"held"`
	Denied     int `json:"denied"`
	Violations int `json:"violations"`
	Blocking   int `json:"blocking"`
	Errors     int `json:"errors"`
	// NotObserved counts the declared units nothing is known of.
	NotObserved int `json:"not_observed"`
}

// Summarize counts p.
func (p *Plan) Summarize() Summary {
	var s Summary
	for _, e := range p.Environments {
		s.add(e.Summarize())
	}
	return s
}

func (s *Summary) add(o Summary) {
	s.Deploy += o.Deploy
	s.Redeploy += o.Redeploy
	s.Prune += o.Prune
	s.Held += o.Held
	s.Denied += o.Denied
	s.Violations += o.Violations
	s.Blocking += o.Blocking
	s.Errors += o.Errors
	s.NotObserved += o.NotObserved
}

// Summarize counts one environment's plan.
func (e *Environment) Summarize() Summary {
	var s Summary
	for _, a := range e.Actions {
		switch a.Type {
		case Deploy:
			s.Deploy++
		case Redeploy:
			s.Redeploy++
		case Prune:
			s.Prune++
		}
		if len(a.Denied) > 0 {
			s.Denied++
		} else if a.HeldUntil != nil {
			s.Held++
		}
	}
	for _, v := range e.Violations {
		s.Violations++
		if v.Blocking() {
			s.Blocking++
		}
	}
	s.Errors = len(e.Errors)
	s.NotObserved = len(e.NotObserved)
	return s
}

// HasChanges reports whether any action is planned. A plan without changes
// says nothing of the units in NotObserved.
func (s Summary) HasChanges() bool { return s.Deploy+s.Redeploy+s.Prune > 0 }
