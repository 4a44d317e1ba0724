package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// inActions makes the harness look like a GitHub Actions job run for pull
// request number (0: a push), from a fork or not, and returns the paths of
// the output and summary files.
func inActions(t *testing.T, h *harness, number int, fork bool) (outputs, summary string) {
	t.Helper()
	event := map[string]any{}
	name := "push"
	if number > 0 {
		head := "acme/state"
		if fork {
			head = "stranger/state"
		}
		name = "pull_request"
		event["pull_request"] = map[string]any{"number": number,
			"head": map[string]any{"repo": map[string]any{"full_name": head}},
			"base": map[string]any{"repo": map[string]any{"full_name": "acme/state"}}}
	}
	return inActionsEvent(t, h, name, event)
}

// inActionsEvent makes the harness look like a GitHub Actions job run for
// the event name with the payload event.
func inActionsEvent(t *testing.T, h *harness, name string, event map[string]any) (outputs, summary string) {
	t.Helper()
	dir := t.TempDir()
	b, _ := json.Marshal(event)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	outputs, summary = write("output", ""), write("summary", "")
	for k, v := range map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_EVENT_NAME":   name,
		"GITHUB_EVENT_PATH":   write("event.json", string(b)),
		"GITHUB_OUTPUT":       outputs,
		"GITHUB_STEP_SUMMARY": summary,
		"GITHUB_RUN_ID":       "4242",
		"GITHUB_SERVER_URL":   "https://forge.example.invalid",
		"RUNNER_TEMP":         dir,
	} {
		h.env[k] = v
	}
	return outputs, summary
}

var outputRE = regexp.MustCompile(`(?m)^([a-z_]+)<<(ghadelimiter_[0-9a-f]+)\n(.*)\n([a-z_0-9]+)$`)

func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range outputRE.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[3]
	}
	return out
}

// TestPlanInActions: the plan keeps one comment per pull request (and set
// of environments) up to date, annotates the CUE lines of violations,
// writes the summary and the outputs, frames untrusted text, and a fork's
// pull request is planned from the status records.
func TestPlanInActions(t *testing.T) {
	h := newHarness(t, nil)
	files := stateRepo(h)
	h.git.CreateRepo("state", "main", files)
	url := h.git.URL("state")
	writeRecords(t, h,
		&statusrec.Record{Environment: "staging", Units: map[string]driver.Observation{"api": healthy("1.1.0", 48*time.Hour, ""), "web": healthy("2.1.0", 48*time.Hour, "")}},
		&statusrec.Record{Environment: "prod", Units: map[string]driver.Observation{"api": healthy("1.0.0", time.Hour, ""), "web": healthy("2.0.0", time.Hour, ""), "db": healthy("3.0.0", time.Hour, "")}},
	)
	number := h.gh.AddIssue()
	outputs, summary := inActions(t, h, number, true)

	code, out, errOut := h.run("plan", "prod", "--repo", url)
	if code != ExitDenied {
		t.Fatalf("exit %d, want %d:\n%s", code, ExitDenied, out)
	}
	// Workflow commands are on stderr, never on stdout.
	for _, want := range []string{
		"::add-mask::" + ghToken,
		"::notice title=gearshift plan::a pull_request run is about a pull request, whose author chose the state: planned from the status records (--from-status), running nothing from the state",
		"::error col=18,file=environments/prod/units.cue,line=6,title=gearshift latest-framework%3A prod/api::built against fw 1.3.0, latest is 1.4.0",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "Environment prod (3 units observed status)") {
		t.Errorf("stdout lacks the plan:\n%s", out)
	}
	// The plan text is framed on stdout, the stream it is on: the runner
	// reads stdout and stderr in no order between them. Nothing else on
	// stdout is a workflow command.
	m := regexp.MustCompile(`(?s)\A::stop-commands::(gearshift-[0-9a-f]{32})\n(.*)::(gearshift-[0-9a-f]{32})::\n\z`).FindStringSubmatch(out)
	if m == nil || m[1] != m[3] {
		t.Errorf("the plan is not framed by stop-commands on stdout:\n%s", out)
	} else if regexp.MustCompile(`(?m)^\s*::`).MatchString(m[2]) {
		t.Errorf("a workflow command on stdout inside the frame:\n%s", out)
	}
	// plan -o json in Actions: stdout is one JSON document.
	code, jsonOut, errOut := h.run("plan", "prod", "--repo", url, "-o", "json")
	var planDoc map[string]any
	if code != ExitDenied || json.Unmarshal([]byte(jsonOut), &planDoc) != nil || planDoc["format_version"] != "2" {
		t.Errorf("plan -o json in Actions: exit %d, stdout is not a plan document:\n%s\nstderr:\n%s", code, jsonOut, errOut)
	}
	if !strings.Contains(errOut, "::error col=18,file=environments/prod/units.cue,line=6,") {
		t.Errorf("plan -o json in Actions: no annotation on stderr:\n%s", errOut)
	}
	got := readOutputs(t, outputs)
	if got["has_changes"] != "false" || got["denied"] != "true" || got["plan_json"] == "" {
		t.Errorf("outputs = %v", got)
	}
	var doc map[string]any
	if b, err := os.ReadFile(got["plan_json"]); err != nil || json.Unmarshal(b, &doc) != nil || doc["format_version"] != "2" {
		t.Errorf("plan_json %s: %v", got["plan_json"], err)
	}
	if b, _ := os.ReadFile(summary); !strings.Contains(string(b), "## ⛔ gearshift plan") {
		t.Errorf("step summary:\n%s", b)
	}
	comments := h.gh.Comments(number)
	if len(comments) != 1 || !strings.HasPrefix(comments[0].Body, "<!-- gearshift:plan:prod -->\n## ⛔ gearshift plan") {
		t.Fatalf("comments = %+v", comments)
	}

	// A new commit: the same comment is edited, not a second one posted.
	h.git.Commit("state", "main", "db 3.0.1", map[string]string{
		"environments/prod/units.cue": strings.Replace(files["environments/prod/units.cue"], `"3.0.0"`, `"3.0.1"`, 1)})
	h.mustRun(ExitDenied, "plan", "prod", "--repo", url, "--from-status")
	comments = h.gh.Comments(number)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "3.0.1") {
		t.Errorf("after the second run, comments = %+v", comments)
	}
	// Another job of the matrix keeps its own comment.
	h.mustRun(0, "plan", "dev", "--repo", url, "--from-status")
	if comments = h.gh.Comments(number); len(comments) != 2 || !strings.HasPrefix(comments[1].Body, "<!-- gearshift:plan:dev -->") {
		t.Errorf("after planning dev, comments = %+v", comments)
	}
}

// TestPlanInActionsHugeComment: a plan whose Markdown is far over GitHub's
// 65,536 characters is cut to fit and posted, never refused.
func TestPlanInActionsHugeComment(t *testing.T) {
	h := newHarness(t, nil)
	dir := t.TempDir()
	if err := statetest.Generate(dir, statetest.Options{Envs: []string{"dev"}, Units: 1500}); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h.git.CreateRepo("state", "main", files)
	// An empty record: every unit is to be deployed, 1500 rows of details.
	writeRecords(t, h, &statusrec.Record{Environment: "dev"})
	number := h.gh.AddIssue()
	inActions(t, h, number, false)
	h.mustRun(0, "plan", "--repo", h.git.URL("state"), "--from-status")
	comments := h.gh.Comments(number)
	if len(comments) != 1 {
		t.Fatalf("%d comments, want 1", len(comments))
	}
	body := comments[0].Body
	if len(body) > 65536 || !strings.Contains(body, "truncated") || !strings.Contains(body, "| dev | 1500 | 0 | 0 | 0 | 0 | 0 | 0 |") {
		t.Errorf("comment of %d bytes:\n%.2000s", len(body), body)
	}
}

// TestPlanInActionsInvalid: each mistake is annotated on its line, and the
// messages (which quote the user's files) are framed.
func TestPlanInActionsInvalid(t *testing.T) {
	h := newHarness(t, nil)
	dir := t.TempDir()
	for name, content := range map[string]string{
		"environments/dev/env.cue":   envCUE("dev", "warn", ""),
		"environments/dev/units.cue": "package gearshift\n\nunits: api: {\n\tkind: \"gear\"\n\tversion: \"::set-output name=x::1\"\n\ttarget: \"t\"\n}\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inActions(t, h, 0, false)
	code, out, errOut := h.run("plan", "--repo", dir)
	if code != ExitInvalid {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitInvalid, out, errOut)
	}
	if !strings.Contains(errOut, "::error col=11,file=environments/dev/units.cue,line=5,title=gearshift%3A invalid state::units.api.version: invalid value") {
		t.Errorf("no annotation on the mistake:\n%s", errOut)
	}
	if m := regexp.MustCompile(`(?s)::stop-commands::(gearshift-[0-9a-f]+)\n(.*)::(gearshift-[0-9a-f]+)::`).FindStringSubmatch(errOut); m == nil || m[1] != m[3] || !strings.Contains(m[2], "::set-output") {
		t.Errorf("the diagnostics are not framed:\n%s", errOut)
	}
	if out != "" {
		t.Errorf("stdout: %s", out)
	}
	// validate annotates each mistake at its line too, on stderr.
	code, out, errOut = h.run("validate", "--repo", dir)
	if code != ExitInvalid || out != "" {
		t.Errorf("validate: exit %d, want %d; stdout %q", code, ExitInvalid, out)
	}
	if !strings.Contains(errOut, "::error col=11,file=environments/dev/units.cue,line=5,title=gearshift%3A invalid state::units.api.version: invalid value") {
		t.Errorf("validate: no annotation on the mistake:\n%s", errOut)
	}
	if m := regexp.MustCompile(`(?s)::stop-commands::(gearshift-[0-9a-f]+)\n(.*)::(gearshift-[0-9a-f]+)::`).FindStringSubmatch(errOut); m == nil || m[1] != m[3] || !strings.Contains(m[2], "::set-output") {
		t.Errorf("validate: the diagnostics are not framed:\n%s", errOut)
	}
	// Errors on stderr are framed too: they quote servers and files.
	_, _, errOut = h.run("promote", "--repo", dir)
	if !regexp.MustCompile(`\A(?:::add-mask::[^\n]+\n)*::stop-commands::(gearshift-[0-9a-f]{32})\ngearshift promote: --to is required: the environment to promote to\n::(gearshift-[0-9a-f]{32})::\n\z`).MatchString(errOut) {
		t.Errorf("stderr is not framed:\n%s", errOut)
	}
}

// TestWorkflowsLint checks .github/workflows and the composite action with
// actionlint (a go tool of this module), so a broken workflow fails CI.
func TestWorkflowsLint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds actionlint")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	workflows, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if len(workflows) < 4 {
		t.Fatalf("want ci, plan, reconcile and bump workflows, found %v", workflows)
	}
	cmd := exec.Command(goBin, append([]string{"tool", "actionlint", "-no-color"}, workflows...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
	for _, want := range []string{"command", "environments", "repo", "ref", "args"} {
		b, err := os.ReadFile(filepath.Join(root, ".github", "actions", "gearshift", "action.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), fmt.Sprintf("\n  %s:\n", want)) {
			t.Errorf("the composite action has no input %q", want)
		}
	}
}
