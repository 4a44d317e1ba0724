package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// UPDATE_GOLDEN=1 go test ./internal/report rewrites testdata/*.golden.
var update = os.Getenv("UPDATE_GOLDEN") != ""

var at = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func fixture() *plan.Plan {
	held := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	p := func(file string, line int) state.Pos { return state.Pos{File: file, Line: line, Col: 14} }
	return &plan.Plan{
		FormatVersion: plan.FormatVersion,
		GeneratedAt:   at,
		Environments: []*plan.Environment{
			{
				Name:         "dev",
				ObservedFrom: "live",
				Observations: map[string]observation.Unit{
					"greeter": {Unit: "greeter", Deployed: true, Version: "1.2.0", DeployedAt: at.Add(-48 * time.Hour), Health: observation.HealthHealthy},
					"ledger":  {Unit: "ledger", Deployed: true, Version: "0.9.2", DeployedAt: at.Add(-40 * 24 * time.Hour), Health: observation.HealthHealthy},
					"portal":  {Unit: "portal", Health: observation.HealthMissing},
				},
				Actions: []*plan.Action{
					{Unit: "greeter", Kind: "gear", Type: plan.Deploy, Target: "local", From: "1.2.0", To: "1.3.0", Wave: 0, Applyable: true,
						Reasons: []plan.Reason{{Code: plan.VersionChanged, Message: "runs 1.2.0, desired 1.3.0"}}},
					{Unit: "ledger", Kind: "gear", Type: plan.Redeploy, Target: "local", From: "0.9.2", To: "0.9.2", Wave: 0, Applyable: true,
						Reasons: []plan.Reason{{Code: plan.MaxAge, Message: "deployed 40d ago (2026-10-13), older than maxAge 30d"}, {Code: plan.Unhealthy, Message: "GET http://127.0.0.1:18082/healthz: status 500, want 200"}}},
					{Unit: "portal", Kind: "stack", Type: plan.Deploy, Target: "local", To: "2.1.0", Wave: 1, Applyable: true,
						Reasons: []plan.Reason{{Code: plan.NotDeployed, Message: "portal is not deployed on target local"}}},
					{Unit: "old-loader", Type: plan.Prune, Target: "local", From: "0.1.0", Wave: 2, Applyable: true,
						Reasons: []plan.Reason{{Code: plan.NotDeclared, Message: "runs on target local but is not declared in dev"}}},
				},
				Violations: []plan.Violation{
					{Rule: "latest-framework", Severity: plan.Bump, Unit: "ledger", Message: "built against gearframe 1.3.0, latest is 1.4.0: needs a bump pull request (gearshift bump)", Pos: p("environments/dev/units.cue", 17)},
				},
				Errors:      []plan.UnitError{{Unit: "zeo", Error: "status command printed invalid JSON: unexpected EOF"}},
				NotObserved: []string{"zeo"},
			},
			{
				Name:         "prod",
				ObservedFrom: "status",
				Observations: map[string]observation.Unit{},
				Actions: []*plan.Action{
					{Unit: "greeter", Kind: "gear", Type: plan.Deploy, Target: "hosts", From: "1.2.0", To: "1.3.0", Wave: 0, Denied: []string{"promotion"},
						Reasons: []plan.Reason{{Code: plan.VersionChanged, Message: "runs 1.2.0, desired 1.3.0"}}},
					{Unit: "planner", Kind: "stack", Type: plan.Deploy, Target: "hosts", From: "3.1.0", To: "3.2.0", Wave: 0, HeldUntil: &held,
						Reasons: []plan.Reason{{Code: plan.VersionChanged, Message: "runs 3.1.0, desired 3.2.0"}}},
				},
				Violations: []plan.Violation{
					{Rule: "promotion", Severity: plan.Deny, Unit: "greeter", Message: "staging has run 1.3.0 for 2h0m of the 1d soak time (ready 2026-11-23T10:00:00Z)", Pos: p("environments/prod/units.cue", 5)},
					{Rule: "deploy-window", Severity: plan.Warn, Unit: "planner", Message: "outside the deploy windows of prod; held until 2026-11-23T08:00:00Z", Pos: p("environments/prod/environment.cue", 12)},
					{Rule: "latest-framework", Severity: plan.Deny, Unit: "ledger", Message: "built against gearframe 1.3.0, latest is 1.4.0: prod rejects this version", Pos: p("environments/prod/units.cue", 17),
						Waived: &plan.Waived{Reason: "vendor fix pending | see <TICKET-12>", Until: "2026-12-01"}},
				},
				Unmanaged: []string{"legacy-cron"},
			},
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); UPDATE_GOLDEN=1 rewrites it:\n%s", name, diff)
	}
}

func TestTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, fixture(), Style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.txt.golden", b.Bytes())
	if strings.Contains(b.String(), "\x1b[") {
		t.Error("plain text output contains escape sequences")
	}
	b.Reset()
	if err := Text(&b, fixture(), Style{Color: true}); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.color.golden", b.Bytes())
}

func TestJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.json.golden", b.Bytes())
	var doc struct {
		FormatVersion string `json:"format_version"`
		Summary       plan.Summary
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.FormatVersion != plan.FormatVersion {
		t.Errorf("format_version = %q", doc.FormatVersion)
	}
	if doc.Summary.Blocking != 1 || doc.Summary.Deploy != 4 {
		t.Errorf("summary = %+v", doc.Summary)
	}
}

func TestMarkdownGolden(t *testing.T) {
	md := Markdown(fixture(), MarkdownOptions{
		Marker:  "<!-- gearshift-plan -->",
		FileURL: func(f string, l int) string { return fmt.Sprintf("https://example.invalid/blob/abc123/%s#L%d", f, l) },
		Footer:  "<sub>commit abc123</sub>",
	})
	golden(t, "plan.md.golden", []byte(md))
	if strings.Contains(md, "<TICKET-12>") {
		t.Error("markdown did not escape untrusted text")
	}
}

// TestMarkdownTruncates: a plan too long for a comment is cut to the limit
// it is given, with a note, its marker and its footer; without a limit
// (-o markdown, a step summary) it is whole.
func TestMarkdownTruncates(t *testing.T) {
	p := fixture()
	e := p.Environments[0]
	for i := 0; i < 3000; i++ {
		e.Actions = append(e.Actions, &plan.Action{Unit: fmt.Sprintf("unit-%04d", i), Type: plan.Deploy, To: "1.0.0", Applyable: true,
			Reasons: []plan.Reason{{Code: plan.NotDeployed, Message: strings.Repeat("x", 40)}}})
		e.Violations = append(e.Violations, plan.Violation{Rule: "version-pattern", Severity: plan.Deny, Unit: fmt.Sprintf("unit-%04d", i), Message: strings.Repeat("y", 30)})
	}
	for _, limit := range []int{CommentLimit, 4000} {
		md := Markdown(p, MarkdownOptions{Marker: "<!-- m -->", Limit: limit, Footer: "end"})
		if len(md) > limit {
			t.Errorf("limit %d: markdown is %d characters", limit, len(md))
		}
		if !strings.Contains(md, "truncated") {
			t.Errorf("limit %d: no truncation note", limit)
		}
		if !strings.HasPrefix(md, "<!-- m -->\n") || !strings.HasSuffix(md, "end\n") {
			t.Errorf("limit %d: marker or footer lost", limit)
		}
	}

	md := Markdown(p, MarkdownOptions{Footer: "end"})
	if len(md) <= CommentLimit || strings.Contains(md, "truncated") {
		t.Errorf("without a limit: markdown is %d characters (truncated: %t), want all of the plan", len(md), strings.Contains(md, "truncated"))
	}
	for _, want := range []string{"`unit-2999`", "| 0 | deploy | `unit-2999` |", "\n</details>\n\nend\n"} {
		if !strings.Contains(md, want) {
			t.Errorf("without a limit: markdown lacks %q", want)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	got := SummaryLine(plan.Summary{Deploy: 3, Redeploy: 1, Violations: 2, Blocking: 1})
	want := "Plan: 3 to deploy, 1 to redeploy, 0 to prune; 2 violations (1 denied)"
	if got != want {
		t.Errorf("SummaryLine = %q, want %q", got, want)
	}
}

// hostile is a plan whose state text tries to forge terminal lines and to
// mention, link and show images in a pull-request comment.
func hostile() *plan.Plan {
	pos := state.Pos{File: "environments/prod/units.cue", Line: 9, Col: 3}
	return &plan.Plan{
		FormatVersion: plan.FormatVersion,
		GeneratedAt:   at,
		Environments: []*plan.Environment{{
			Name:         "prod",
			ObservedFrom: "status",
			Observations: map[string]observation.Unit{},
			Actions: []*plan.Action{
				{Unit: "api", Kind: "gear", Type: plan.Deploy, Target: "t", From: "1.0.0", To: "1.1.0\x1b[2K\r  + deploy   db 3.0.0 -> 3.0.1", Applyable: true,
					Reasons: []plan.Reason{{Code: plan.VersionChanged, Message: "runs 1.0.0\ndesired 1.1.0 @acme/owners"}}},
			},
			Violations: []plan.Violation{
				{Rule: "latest-framework", Severity: plan.Deny, Unit: "api", Message: "built against fw 1.3.0, latest is 1.4.0", Pos: pos,
					Waived: &plan.Waived{Until: "2026-12-01", Reason: "ok\x1b[2K\r  [deny] latest-framework db: forged\nsecond line, ping @acme/owners ![x](http://evil/) [click](http://evil) <img src=x> see #12"}},
			},
			Errors:      []plan.UnitError{{Unit: "db", Error: "status.sh: exit status 1: \x1b]0;pwned\x07 <https://evil> www.evil.example"}},
			NotObserved: []string{"db"},
		}},
	}
}

// TestHostileText: state text cannot move the cursor, start a line or
// forge a verdict in the terminal plan; in the Markdown plan it mentions
// no one, links nothing and shows no image.
func TestHostileText(t *testing.T) {
	for _, st := range []Style{{}, {Color: true}} {
		var b bytes.Buffer
		if err := Text(&b, hostile(), st); err != nil {
			t.Fatal(err)
		}
		name := "hostile.txt.golden"
		if st.Color {
			name = "hostile.color.golden"
		}
		golden(t, name, b.Bytes())
		out := b.String()
		if st.Color {
			// Only gearshift's own SGR colour codes remain.
			out = regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(out, "")
		}
		if strings.ContainsAny(out, "\x1b\r\x07") {
			t.Errorf("text plan holds a control character:\n%q", out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "[deny] latest-framework db") || strings.HasPrefix(line, "  + deploy   db") {
				t.Errorf("a forged line: %q", line)
			}
		}
	}
	md := Markdown(hostile(), MarkdownOptions{})
	golden(t, "hostile.md.golden", []byte(md))
	for _, bad := range []string{"@acme", "![x](", "[click](http", "<img", "<https", "\x1b", " #12"} {
		if strings.Contains(md, bad) && !inCodeSpan(md, bad) {
			t.Errorf("markdown plan holds %q outside a code span:\n%s", bad, md)
		}
	}
}

// inCodeSpan reports whether every occurrence of s in md is inside a code
// span (an odd number of backticks before it on its line).
func inCodeSpan(md, s string) bool {
	for _, line := range strings.Split(md, "\n") {
		for i := strings.Index(line, s); i >= 0; {
			if strings.Count(line[:i], "`")%2 == 0 {
				return false
			}
			j := strings.Index(line[i+1:], s)
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	return true
}

// TestStatusTextInert: a version or an error a target printed cannot
// shift the table or rewrite the terminal.
func TestStatusTextInert(t *testing.T) {
	no := false
	s := &Status{Rows: []StatusRow{
		{Environment: "prod", Unit: "api", Desired: "1.1.0", Running: "1.0.0\x1b[2K\rprod  db  ok", Health: "healthy", Observed: true, Drift: &no, Waivers: []string{"max-age"}},
		{Environment: "prod", Unit: "db", Desired: "3.0.0", Health: "unknown", Observed: true, Drift: &no, Error: "status.sh: exit status 1: a\tb\nprod  db  3.0.0  healthy"},
	}}
	var b bytes.Buffer
	if err := StatusText(&b, s, Style{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || strings.ContainsAny(out, "\x1b\r\t") {
		t.Errorf("status is not one line per unit without control characters:\n%q", out)
	}
	for _, want := range []string{`1.0.0\x1b[2K\rprod  db  ok`, `error: status.sh: exit status 1: a\tb\nprod  db  3.0.0  healthy`} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// Every row's DRIFT cell starts where the header's does.
	col := strings.Index(lines[0], "DRIFT")
	for _, l := range lines[1:] {
		if len(l) < col+2 || l[col:col+2] != "no" {
			t.Errorf("row %q: no DRIFT cell at column %d", l, col)
		}
	}
}
