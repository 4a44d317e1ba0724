package report

import (
	"fmt"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
)

// CommentLimit is what a PR comment is kept under: GitHub refuses bodies
// over 65,536 characters, and the marker and a footer need room.
const CommentLimit = 65000

// MarkdownOptions shape the Markdown plan.
type MarkdownOptions struct {
	// Marker is a hidden line (an HTML comment) that finds the comment
	// again to edit it in place.
	Marker string
	// FileURL turns a file:line into a link (e.g. to the PR's head
	// commit); nil leaves positions as text.
	FileURL func(file string, line int) string
	// Limit is the maximum length, for a pull-request comment
	// (CommentLimit or what the forge allows); 0 does not cut. Only a
	// comment has a limit: -o markdown and a step summary (which
	// actions.StepSummary bounds itself) are the whole plan.
	Limit int
	// Footer is appended at the end (e.g. the commit the plan is for).
	Footer string
}

// Markdown renders the plan for a pull-request comment or a step summary:
// a summary table of the environments, the violations with their file:line,
// and each environment's actions in a collapsed section. When the result
// would exceed a limit (o.Limit, for a comment), the collapsed details are
// cut first, then the violations, and a note says so.
func Markdown(p *plan.Plan, o MarkdownOptions) string {
	head := markdownHead(p, o)
	viol := markdownViolations(p, o)
	var details []string
	for _, e := range p.Environments {
		details = append(details, markdownDetails(e))
	}
	footer := ""
	if o.Footer != "" {
		footer = "\n" + o.Footer + "\n"
	}
	full := head + viol + strings.Join(details, "") + footer
	if o.Limit <= 0 || len(full) <= o.Limit {
		return full
	}
	// Cut details from the end until it fits.
	note := "\n> **Note:** this plan was truncated to fit a comment; %s. Run `gearshift plan` or read the plan JSON artifact for all of it.\n"
	for n := len(details) - 1; n >= 0; n-- {
		cut := head + viol + strings.Join(details[:n], "") + fmt.Sprintf(note, fmt.Sprintf("the details of %d environment(s) were left out", len(details)-n)) + footer
		if len(cut) <= o.Limit {
			return cut
		}
	}
	// Still too long: cut the violations list at a line boundary.
	msg := fmt.Sprintf(note, "details and some violations were left out")
	room := o.Limit - len(head) - len(msg) - len(footer)
	if room < 0 {
		room = 0
	}
	v := viol
	if len(v) > room {
		v = v[:room]
		if i := strings.LastIndexByte(v, '\n'); i >= 0 {
			v = v[:i+1]
		}
	}
	out := head + v + msg + footer
	if len(out) > o.Limit {
		out = out[:o.Limit]
	}
	return out
}

func markdownHead(p *plan.Plan, o MarkdownOptions) string {
	var b strings.Builder
	if o.Marker != "" {
		b.WriteString(o.Marker + "\n")
	}
	s := p.Summarize()
	icon := "✅"
	switch {
	case s.Blocking > 0:
		icon = "⛔"
	case s.Errors > 0:
		icon = "⚠️"
	case s.HasChanges():
		icon = "📝"
	}
	title := "gearshift plan"
	if s.NotObserved > 0 {
		// Zero actions over units nothing is known of is not "no changes".
		title += ": incomplete, " + plural(s.NotObserved, "unit", "units") + " not observed"
	}
	fmt.Fprintf(&b, "## %s %s\n\n**%s**\n\n", icon, title, SummaryLine(s))
	b.WriteString(markdownRecords(p))
	b.WriteString("| environment | deploy | redeploy | prune | held | violations | denied | not observed |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, e := range p.Environments {
		es := e.Summarize()
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", mdEscape(e.Name), es.Deploy, es.Redeploy, es.Prune, es.Held, es.Violations, es.Blocking, es.NotObserved)
	}
	return b.String()
}

// markdownRecords says, for a plan made from status records (a pull
// request's), which record each environment was planned from and how old
// it was, and plainly when there was none: a reviewer must not read "no
// changes" into an environment nothing is known of.
func markdownRecords(p *plan.Plan) string {
	var b strings.Builder
	for _, e := range p.Environments {
		r := e.StatusRecord
		switch {
		case r == nil:
			continue
		case r.Found:
			fmt.Fprintf(&b, "- %s: planned from its status record %s\n", mdEscape(e.Name), mdEscape(recordText(r, p.GeneratedAt.Sub(r.WrittenAt))))
		case e.Unrecorded():
			fmt.Fprintf(&b, "- ⚠️ **%s has no status record on %s yet**: its %s not observed, so this plan cannot say what would change there. The first `gearshift apply` of %s writes one.\n",
				mdEscape(e.Name), code(r.Branch), plural(len(e.NotObserved), "unit was", "units were"), mdEscape(e.Name))
		default:
			fmt.Fprintf(&b, "- ⚠️ **%s: its status record could not be read**: its %s not observed. %s\n",
				mdEscape(e.Name), plural(len(e.NotObserved), "unit was", "units were"), mdEscape(r.Error))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return b.String() + "\n"
}

func markdownViolations(p *plan.Plan, o MarkdownOptions) string {
	var b strings.Builder
	n := 0
	for _, e := range p.Environments {
		n += len(e.Violations)
		if !e.Unrecorded() {
			n += len(e.Errors)
		}
	}
	if n == 0 {
		return ""
	}
	b.WriteString("\n### Violations\n\n")
	for _, e := range p.Environments {
		for _, v := range e.Violations {
			icon := map[plan.Severity]string{plan.Deny: "⛔", plan.Warn: "⚠️", plan.Bump: "⬆️"}[v.Severity]
			sev := "**" + string(v.Severity) + "**"
			if v.Waived != nil {
				icon, sev = "➖", "waived"
			}
			fmt.Fprintf(&b, "- %s %s %s %s/%s: %s", icon, sev, code(v.Rule), mdEscape(e.Name), code(v.Unit), mdEscape(v.Message))
			if v.Pos.IsValid() {
				pos := code(v.Pos.String())
				if o.FileURL != nil {
					pos = fmt.Sprintf("[%s](%s)", pos, o.FileURL(v.Pos.File, v.Pos.Line))
				}
				b.WriteString(" (" + pos + ")")
			}
			if v.Waived != nil {
				fmt.Fprintf(&b, " — waived until %s: %s", v.Waived.Until, mdEscape(v.Waived.Reason))
			}
			b.WriteString("\n")
		}
		if e.Unrecorded() {
			// Said once in the head, not once per unit.
			continue
		}
		for _, u := range e.Errors {
			fmt.Fprintf(&b, "- ❗ could not observe %s/%s: %s\n", mdEscape(e.Name), code(u.Unit), mdEscape(u.Error))
		}
	}
	return b.String()
}

func markdownDetails(e *plan.Environment) string {
	var b strings.Builder
	es := e.Summarize()
	fmt.Fprintf(&b, "\n<details><summary><b>%s</b>: %d to deploy, %d to redeploy, %d to prune (observed %s)</summary>\n\n",
		mdEscape(e.Name), es.Deploy, es.Redeploy, es.Prune, mdEscape(e.ObservedFrom))
	if len(e.Actions) == 0 {
		b.WriteString(mdEscape(noChanges(e, Style{})) + "\n")
	} else {
		b.WriteString("| wave | action | unit | from | to | why | applyable |\n|---:|---|---|---|---|---|---|\n")
		for _, a := range e.Actions {
			var why []string
			for _, r := range a.Reasons {
				why = append(why, fmt.Sprintf("%s: %s", mdEscape(string(r.Code)), mdEscape(r.Message)))
			}
			ok := "yes"
			switch {
			case len(a.Denied) > 0:
				ok = "no: denied by " + mdEscape(strings.Join(a.Denied, ", "))
			case a.HeldUntil != nil:
				ok = "no: held " + heldText(a.HeldUntil)
			}
			from := a.From
			if from == "" {
				from = "–"
			}
			to := a.To
			if to == "" {
				to = "–"
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", a.Wave, a.Type, code(a.Unit), mdEscape(from), mdEscape(to), strings.Join(why, "<br>"), ok)
		}
	}
	for _, a := range e.Actions {
		if a.Diff != "" {
			// A code block shows the cluster's text as it is: no markup
			// in it is rendered, and it cannot close the fence early.
			fmt.Fprintf(&b, "\n%s of %s would change:\n\n````text\n%s\n````\n", a.Type, code(a.Unit),
				strings.ReplaceAll(inert.Lines(a.Diff), "`", "'"))
		}
	}
	if len(e.Unmanaged) > 0 {
		fmt.Fprintf(&b, "\nNot declared, left alone (prune is off): %s\n", mdEscape(strings.Join(e.Unmanaged, ", ")))
	}
	b.WriteString("\n</details>\n")
	return b.String()
}

// mdEscape keeps untrusted text from breaking tables or injecting markup,
// mentions, links or images (inert.Markdown).
func mdEscape(s string) string { return inert.Markdown(s) }

// code shows untrusted text as a code span, where GitHub renders no markup
// and links no mention; a backtick cannot close it early and a | cannot
// end a table cell.
func code(s string) string {
	return "`" + strings.NewReplacer("`", "'", "|", `\|`).Replace(inert.Text(s)) + "`"
}
