// Package report renders plans, statuses and results: text for terminals
// (colour on a TTY unless NO_COLOR), versioned JSON for programs, and
// Markdown for pull-request comments and step summaries.
//
// Renderers only format what they are given: they never compute a plan,
// never observe a target, and never print secrets (nothing they receive
// holds one). Text from the state or a target is made inert where it is
// shown (package inert): escaped for a terminal, neutralised in Markdown.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Style colours terminal output; the zero Style prints plain text.
type Style struct{ Color bool }

func (s Style) paint(code, text string) string {
	if !s.Color {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s Style) green(t string) string  { return s.paint("32", t) }
func (s Style) yellow(t string) string { return s.paint("33", t) }
func (s Style) red(t string) string    { return s.paint("31", t) }
func (s Style) bold(t string) string   { return s.paint("1", t) }
func (s Style) dim(t string) string    { return s.paint("2", t) }

var symbols = map[plan.ActionType]string{plan.Deploy: "+", plan.Redeploy: "~", plan.Prune: "-"}

// Text writes the plan for a terminal.
func Text(w io.Writer, p *plan.Plan, st Style) error {
	var b strings.Builder
	for i, e := range p.Environments {
		if i > 0 {
			b.WriteString("\n")
		}
		textEnvironment(&b, e, st, p.GeneratedAt)
	}
	b.WriteString("\n" + st.bold(SummaryLine(p.Summarize())) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// textEnvironment writes one environment. Every string that comes from the
// state or from a target passes through q (inert.Text), so that it cannot
// move the cursor or start a line of its own; the colours are added after.
func textEnvironment(b *strings.Builder, e *plan.Environment, st Style, at time.Time) {
	q := inert.Text
	fmt.Fprintf(b, "%s %s (%s observed %s)\n", st.bold("Environment"), st.bold(q(e.Name)), observedCount(e), q(e.ObservedFrom))
	if r := e.StatusRecord; r != nil && r.Found {
		fmt.Fprintf(b, "  %s\n", st.dim("status record "+q(recordText(r, at.Sub(r.WrittenAt)))))
	}
	if len(e.Actions) == 0 {
		b.WriteString("  " + noChanges(e, st) + "\n")
	}
	wave := -1
	for _, a := range e.Actions {
		if a.Wave != wave {
			wave = a.Wave
			fmt.Fprintf(b, "  %s\n", st.dim(fmt.Sprintf("wave %d", wave)))
		}
		sym := symbols[a.Type]
		colour := st.green
		switch a.Type {
		case plan.Redeploy:
			colour = st.yellow
		case plan.Prune:
			colour = st.red
		}
		versions := q(versionsOf(a))
		line := fmt.Sprintf("  %s %-8s %-20s %-24s", colour(sym), a.Type, q(a.Unit), versions)
		switch {
		case len(a.Denied) > 0:
			line += " " + st.red("denied by "+q(strings.Join(a.Denied, ", ")))
		case a.HeldUntil != nil:
			line += " " + st.yellow("held "+heldText(a.HeldUntil))
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
		for _, r := range a.Reasons {
			fmt.Fprintf(b, "      %s %s\n", st.dim(q(string(r.Code))+":"), q(r.Message))
		}
		for _, l := range strings.Split(a.Diff, "\n") {
			if l != "" {
				fmt.Fprintf(b, "      %s\n", st.dim(q(l)))
			}
		}
	}
	if len(e.Violations) > 0 {
		b.WriteString("  Violations:\n")
		for _, v := range e.Violations {
			tag := severityTag(v)
			switch {
			case v.Waived != nil:
				tag = st.dim(tag)
			case v.Severity == plan.Deny:
				tag = st.red(tag)
			default:
				tag = st.yellow(tag)
			}
			unit := v.Unit
			if unit == "" {
				unit = "-"
			}
			fmt.Fprintf(b, "  %s %s %s: %s\n", tag, q(v.Rule), q(unit), q(v.Message))
			if v.Waived != nil {
				fmt.Fprintf(b, "      waived until %s: %s\n", q(v.Waived.Until), q(v.Waived.Reason))
			}
			if v.Pos.IsValid() {
				fmt.Fprintf(b, "      %s\n", st.dim(q(v.Pos.String())))
			}
		}
	}
	if len(e.Errors) > 0 {
		b.WriteString("  Could not observe:\n")
		for _, u := range e.Errors {
			fmt.Fprintf(b, "  %s %s: %s\n", st.red("!"), q(u.Unit), q(u.Error))
		}
	}
	if len(e.Unmanaged) > 0 {
		fmt.Fprintf(b, "  Not declared, left alone (prune is off): %s\n", q(strings.Join(e.Unmanaged, ", ")))
	}
}

// observedCount is "4 units", or "2 of 4 units" when some were not
// observed: a unit that timed out was not observed.
func observedCount(e *plan.Environment) string {
	n := len(e.Observations)
	if len(e.NotObserved) == 0 {
		return plural(n, "unit", "units")
	}
	return fmt.Sprintf("%d of %s", n, plural(n+len(e.NotObserved), "unit", "units"))
}

// noChanges is what an environment without actions says: "no changes"
// only when every unit was observed.
func noChanges(e *plan.Environment, st Style) string {
	q := inert.Text
	switch {
	case len(e.NotObserved) == 0:
		return "No changes: every unit runs as desired."
	case e.Unrecorded():
		return st.yellow(fmt.Sprintf("Not planned: no status record of %s on %s yet, so nothing is known of its %s.",
			q(e.Name), q(e.StatusRecord.Branch), plural(len(e.NotObserved), "unit", "units")))
	case len(e.Observations) == 0:
		return st.yellow("Not planned: no unit could be observed, so what would change is unknown.")
	}
	return st.yellow(fmt.Sprintf("No changes to the %s observed; %d not observed (below): what %s is unknown.",
		plural(len(e.Observations), "unit", "units"), len(e.NotObserved), needs(len(e.NotObserved))))
}

// recordText describes the status record an environment was planned from:
// when it was written, how long before the plan, and of which commit.
func recordText(r *plan.StatusRecord, age time.Duration) string {
	s := "on " + r.Branch + ", written " + r.WrittenAt.UTC().Format("2006-01-02 15:04 MST")
	if age > 0 {
		s += ", " + ageText(age) + " before this plan"
	}
	if r.Commit != "" {
		c := r.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += " (commit " + c + ")"
	}
	return s
}

// ageText is a duration as an age: minutes under a day, hours above.
func ageText(d time.Duration) string {
	if d >= 24*time.Hour {
		return state.FormatDuration(d.Truncate(time.Hour))
	}
	return state.FormatDuration(d.Truncate(time.Minute))
}

func severityTag(v plan.Violation) string {
	if v.Waived != nil {
		return "[waived]"
	}
	return "[" + string(v.Severity) + "]"
}

func versionsOf(a *plan.Action) string {
	switch {
	case a.Type == plan.Prune:
		return a.From
	case a.Type == plan.Redeploy:
		return a.To
	case a.From == "":
		return "(none) -> " + a.To
	}
	return a.From + " -> " + a.To
}

func heldText(t *time.Time) string {
	if t.IsZero() {
		return "(no deploy window opens in the next week)"
	}
	return "until " + t.UTC().Format(time.RFC3339)
}

// SummaryLine is the plan's closing line.
func SummaryLine(s plan.Summary) string {
	line := fmt.Sprintf("Plan: %d to deploy, %d to redeploy, %d to prune; %s (%d denied)",
		s.Deploy, s.Redeploy, s.Prune, plural(s.Violations, "violation", "violations"), s.Blocking)
	if s.Held > 0 {
		line += fmt.Sprintf("; %d held", s.Held)
	}
	if s.NotObserved > 0 {
		line += fmt.Sprintf("; %s not observed: what %s is unknown", plural(s.NotObserved, "unit", "units"), needs(s.NotObserved))
	}
	if partly := s.Errors - s.NotObserved; partly > 0 {
		line += fmt.Sprintf("; %s", plural(partly, "observation error", "observation errors"))
	}
	return line
}

func needs(n int) string {
	if n == 1 {
		return "it needs"
	}
	return "they need"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// JSON writes the plan as its versioned JSON document.
func JSON(w io.Writer, p *plan.Plan) error {
	type doc struct {
		*plan.Plan
		Summary plan.Summary `json:"summary"`
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc{Plan: p, Summary: p.Summarize()})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
