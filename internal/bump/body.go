package bump

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Files applies the changes to the files of the state repository at root
// and returns the new content of each file touched (slash-separated path
// relative to root -> content), ready to commit. Only the literals change.
func Files(root string, changes []Change) (map[string][]byte, error) {
	byFile := map[string][]state.LiteralEdit{}
	for _, c := range changes {
		f := c.Pos.File
		if !c.Pos.IsValid() || c.Pos.Line == 0 {
			return nil, fmt.Errorf("%s%s: no position is known for %s: it is not written in the state repository", prefix(c), c.Field, c.Field)
		}
		if path.IsAbs(f) || f != path.Clean(f) || strings.HasPrefix(f, "../") || f == ".." {
			return nil, fmt.Errorf("%s: %s is outside the state repository", c.Pos, f)
		}
		byFile[f] = append(byFile[f], state.LiteralEdit{Line: c.Pos.Line, Col: c.Pos.Col, Label: c.label, Old: c.Old, New: c.New})
	}
	out := make(map[string][]byte, len(byFile))
	for f, edits := range byFile {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		b, err := state.EditLiterals(f, src, edits)
		if err != nil {
			return nil, err
		}
		out[f] = b
	}
	return out, nil
}

func prefix(c Change) string {
	switch {
	case c.Env != "" && c.Unit != "":
		return c.Env + ": units." + c.Unit + "."
	case c.Env != "":
		return c.Env + ": "
	}
	return ""
}

// Body is the pull request's description: every change (environment,
// unit, field, old -> new, file:line), the soak evidence of a promotion,
// the notes, what was not proposed and why, and footer.
func Body(p *Proposal, skipped []Skipped, footer string) string {
	var b strings.Builder
	switch p.Kind {
	case Framework:
		b.WriteString("A framework has a newer release, or units are built against an older one.\n\n")
	case Unit:
		b.WriteString("A tracked unit has a new release.\n\n")
	case Promotion:
		b.WriteString("These versions have run healthily for the soak time in the source environment.\n\n")
	case Version:
		b.WriteString("A unit's version set by hand.\n\n")
	}
	evidence := p.Kind == Promotion
	b.WriteString("| Environment | Unit | Field | Change | Where |")
	if evidence {
		b.WriteString(" Evidence |")
	}
	b.WriteString("\n|---|---|---|---|---|")
	if evidence {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	changes := append([]Change(nil), p.Changes...)
	sort.SliceStable(changes, func(i, j int) bool {
		a, c := changes[i], changes[j]
		if a.Env != c.Env {
			return a.Env < c.Env
		}
		return a.Unit < c.Unit
	})
	for _, c := range changes {
		env, unit := c.Env, c.Unit
		if env == "" {
			env = "(all)"
		}
		if unit == "" {
			unit = "–"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s → %s | %s |", cell(env), cell(unit), code(c.Field), code(c.Old), code(c.New), code(c.Pos.String()))
		if evidence {
			ev := ""
			if e := c.Evidence; e != nil {
				ev = fmt.Sprintf("%s: %s, deployed_at %s, soaked %s of %s", e.Env, e.Health, e.DeployedAt.Format(time.RFC3339), e.Soaked, e.Soak)
			}
			fmt.Fprintf(&b, " %s |", cell(ev))
		}
		b.WriteString("\n")
	}
	if len(p.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range p.Notes {
			fmt.Fprintf(&b, "- %s\n", oneLine(n))
		}
	}
	if len(skipped) > 0 {
		b.WriteString("\n<details><summary>Not proposed</summary>\n\n")
		for _, s := range skipped {
			v := ""
			if s.Version != "" {
				v = " " + s.Version
			}
			fmt.Fprintf(&b, "- %s %s%s: %s\n", cell(s.Env), cell(s.Unit), cell(v), oneLine(s.Reason))
		}
		b.WriteString("\n</details>\n")
	}
	if footer != "" {
		b.WriteString("\n---\n" + footer + "\n")
	}
	return b.String()
}

// cell keeps a value on one line and inside its table cell, and makes it
// inert: a tag name, a release note or a reason comes from repositories
// and records the pull request's reviewers do not control, so it must not
// mention anyone, link, show an image or inject HTML (inert.Markdown).
func cell(s string) string { return inert.Markdown(s) }

// oneLine is cell for a list item.
func oneLine(s string) string { return inert.Markdown(s) }

// code shows a value verbatim as a code span, where GitHub renders no
// markup and links no mention; a backtick cannot close it early nor a |
// end the table cell.
func code(s string) string {
	return "`" + strings.NewReplacer("`", "'", "|", `\|`).Replace(inert.Text(strings.NewReplacer("\n", " ", "\r", " ").Replace(s))) + "`"
}
