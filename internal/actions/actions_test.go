package actions_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/actions"
	"github.com/gearshift-dev/gearshift/internal/redact"
)

// run is a fake GitHub Actions step: the environment the runner sets, with
// the output, summary and event files in a temporary directory.
type run struct {
	env     map[string]string
	stdout  bytes.Buffer
	output  string
	summary string
}

func newRun(t *testing.T, event string) *run {
	t.Helper()
	dir := t.TempDir()
	r := &run{
		output:  filepath.Join(dir, "output"),
		summary: filepath.Join(dir, "summary.md"),
	}
	r.env = map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       r.output,
		"GITHUB_STEP_SUMMARY": r.summary,
		"GITHUB_REPOSITORY":   "acme/fleet",
		"GITHUB_SERVER_URL":   "https://github.com",
		"GITHUB_RUN_ID":       "4242",
	}
	for _, f := range []string{r.output, r.summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if event != "" {
		path := filepath.Join(dir, "event.json")
		if err := os.WriteFile(path, []byte(event), 0o644); err != nil {
			t.Fatal(err)
		}
		r.env["GITHUB_EVENT_PATH"] = path
	}
	return r
}

func (r *run) actions(t *testing.T) *actions.Actions {
	t.Helper()
	a, err := actions.FromEnv(func(k string) string { return r.env[k] }, &r.stdout)
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	return a
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseOutputs reads a GITHUB_OUTPUT file the way the runner does.
func parseOutputs(t *testing.T, data string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		if name, delim, ok := strings.Cut(lines[i], "<<"); ok {
			var value []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				value = append(value, lines[i])
			}
			if i == len(lines) {
				t.Fatalf("output %s: heredoc %s never closed", name, delim)
			}
			out[name] = strings.Join(value, "\n")
			continue
		}
		if name, value, ok := strings.Cut(lines[i], "="); ok {
			out[name] = value
		}
	}
	return out
}

func TestInactiveOutsideActions(t *testing.T) {
	r := newRun(t, `{"pull_request":{"number":7}}`)
	r.env["GITHUB_ACTIONS"] = ""
	a := r.actions(t)
	if a.Active() {
		t.Fatal("Active() = true without GITHUB_ACTIONS=true")
	}
	a.Mask("secret")
	a.Annotate(actions.LevelError, "f.cue", 1, 1, "t", "m")
	a.Group("g")
	a.EndGroup()
	if err := a.SetOutput("x", "y"); err != nil {
		t.Errorf("SetOutput outside Actions: %v", err)
	}
	if err := a.StepSummary("# s"); err != nil {
		t.Errorf("StepSummary outside Actions: %v", err)
	}
	if n, ok := a.PullRequestNumber(); ok {
		t.Errorf("PullRequestNumber() = %d outside Actions, want none", n)
	}
	if r.stdout.Len() != 0 || read(t, r.output) != "" || read(t, r.summary) != "" {
		t.Errorf("wrote outside Actions: stdout %q", r.stdout.String())
	}
}

func TestSetOutputCannotBeForged(t *testing.T) {
	r := newRun(t, "")
	a := r.actions(t)
	hostile := "line one\n_GitHubActionsFileCommandDelimeter_\napproved=true\nEOF\nlast<<EOF"
	values := map[string]string{
		"plan":    hostile,
		"changes": "3",
		"empty":   "",
	}
	for _, name := range []string{"plan", "changes", "empty"} {
		if err := a.SetOutput(name, values[name]); err != nil {
			t.Fatalf("SetOutput(%s): %v", name, err)
		}
	}
	if diff := cmp.Diff(parseOutputs(t, read(t, r.output)), values); diff != "" {
		t.Errorf("outputs as the runner reads them (-got +want):\n%s", diff)
	}
	for _, bad := range []string{"", "a b", "x<<y", "n=v", "line\nbreak", "9lives"} {
		if err := a.SetOutput(bad, "v"); err == nil {
			t.Errorf("SetOutput(%q) succeeded, want an error", bad)
		}
	}
	delete(r.env, "GITHUB_OUTPUT")
	if err := r.actions(t).SetOutput("x", "y"); err == nil || !strings.Contains(err.Error(), "GITHUB_OUTPUT") {
		t.Errorf("SetOutput without GITHUB_OUTPUT = %v, want an error naming it", err)
	}
}

func TestStepSummary(t *testing.T) {
	r := newRun(t, "")
	a := r.actions(t)
	if err := a.StepSummary("# Plan for prod\n\n| unit | action |\n|---|---|\n| billing | deploy |"); err != nil {
		t.Fatal(err)
	}
	if err := a.StepSummary("second part\n"); err != nil {
		t.Fatal(err)
	}
	want := "# Plan for prod\n\n| unit | action |\n|---|---|\n| billing | deploy |\nsecond part\n"
	if got := read(t, r.summary); got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}

	big := strings.Repeat("| unit | deploy | v1 -> v2 |\n", actions.MaxStepSummary/28+10)
	if err := a.StepSummary(big); err != nil {
		t.Fatal(err)
	}
	got := read(t, r.summary)
	if len(got) > actions.MaxStepSummary {
		t.Errorf("summary is %d bytes, want at most %d", len(got), actions.MaxStepSummary)
	}
	if !strings.HasSuffix(got, "the rest is in the job log.\n") || !strings.Contains(got, "| deploy | v1 -> v2 |\n\n:warning:") {
		t.Errorf("a summary over the limit should end in whole lines and a note, got ...%q", got[len(got)-120:])
	}
}

func TestAnnotateGroupMask(t *testing.T) {
	r := newRun(t, "")
	a := r.actions(t)
	a.Mask("hunter2")
	a.Mask("-----BEGIN KEY-----\nAAAA\n-----END KEY-----")
	a.Mask("  ")
	a.Group("plan prod")
	a.Annotate(actions.LevelError, "environments/prod/billing.cue", 12, 14, "policy max-age", "billing is 45 days old,\nover 30")
	a.Annotate(actions.LevelWarning, "environments/dev/a.cue", 3, 0, "", "50% done")
	a.Annotate(actions.LevelNotice, "", 0, 0, "no changes", "nothing to do")
	a.Annotate(actions.Level("bogus"), "x.cue", 1, 2, "", "::set-env name=A::b")
	a.EndGroup()
	want := strings.Join([]string{
		"::add-mask::hunter2",
		"::add-mask::-----BEGIN KEY-----%0AAAAA%0A-----END KEY-----",
		"::add-mask::-----BEGIN KEY-----",
		"::add-mask::AAAA",
		"::add-mask::-----END KEY-----",
		"::group::plan prod",
		"::error col=14,file=environments/prod/billing.cue,line=12,title=policy max-age::billing is 45 days old,%0Aover 30",
		"::warning file=environments/dev/a.cue,line=3::50%25 done",
		"::notice title=no changes::nothing to do",
		"::error col=2,file=x.cue,line=1::::set-env name=A::b",
		"::endgroup::",
	}, "\n") + "\n"
	if diff := cmp.Diff(r.stdout.String(), want); diff != "" {
		t.Errorf("stdout (-got +want):\n%s", diff)
	}
	if err := a.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestClosedStdoutDoesNotPanic(t *testing.T) {
	a, err := actions.FromEnv(func(k string) string {
		return map[string]string{"GITHUB_ACTIONS": "true"}[k]
	}, brokenPipe{})
	if err != nil {
		t.Fatal(err)
	}
	a.Group("g")
	a.Annotate(actions.LevelError, "f", 1, 1, "", "m")
	if err := a.Err(); err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("Err() = %v, want the write error", err)
	}
}

func TestEvent(t *testing.T) {
	tests := []struct {
		name       string
		eventName  string
		event      string
		wantNumber int
		wantPR     bool
		wantFork   bool
	}{
		{
			name: "pull request from a branch", eventName: "pull_request",
			event:      `{"pull_request":{"number":17,"head":{"repo":{"full_name":"acme/fleet"}},"base":{"repo":{"full_name":"acme/fleet"}}}}`,
			wantNumber: 17, wantPR: true,
		},
		{
			name: "pull request from a fork", eventName: "pull_request",
			event:      `{"pull_request":{"number":18,"head":{"repo":{"full_name":"mallory/fleet"}},"base":{"repo":{"full_name":"acme/fleet"}}}}`,
			wantNumber: 18, wantPR: true, wantFork: true,
		},
		{
			name: "pull request whose fork was deleted", eventName: "pull_request_target",
			event:      `{"pull_request":{"number":19,"head":{"repo":null},"base":{"repo":{"full_name":"acme/fleet"}}}}`,
			wantNumber: 19, wantPR: true, wantFork: true,
		},
		{
			name: "comment on a pull request", eventName: "issue_comment",
			event:      `{"issue":{"number":20,"pull_request":{"url":"x"}},"comment":{"body":"/gearshift plan"}}`,
			wantNumber: 20, wantPR: true,
		},
		{name: "comment on an issue", eventName: "issue_comment", event: `{"issue":{"number":21}}`},
		{name: "push", eventName: "push", event: `{"ref":"refs/heads/main"}`},
		{name: "schedule without payload", eventName: "schedule"},
		{name: "number of the wrong type", eventName: "pull_request", event: `{"pull_request":{"number":"17"}}`, wantFork: true},
		{name: "fractional number", eventName: "pull_request", event: `{"pull_request":{"number":1.5}}`, wantFork: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t, tt.event)
			r.env["GITHUB_EVENT_NAME"] = tt.eventName
			a := r.actions(t)
			n, ok := a.PullRequestNumber()
			if n != tt.wantNumber || ok != tt.wantPR {
				t.Errorf("PullRequestNumber() = %d, %v, want %d, %v", n, ok, tt.wantNumber, tt.wantPR)
			}
			if got := a.IsForkPR(); got != tt.wantFork {
				t.Errorf("IsForkPR() = %v, want %v", got, tt.wantFork)
			}
			if got := a.EventName(); got != tt.eventName {
				t.Errorf("EventName() = %q, want %q", got, tt.eventName)
			}
		})
	}
}

func TestContext(t *testing.T) {
	r := newRun(t, "")
	r.env["GITHUB_API_URL"] = "https://ghe.example.test/api/v3"
	r.env["GITHUB_SERVER_URL"] = "https://ghe.example.test/"
	a := r.actions(t)
	got := []string{a.Repository(), a.APIURL(), a.RunURL()}
	want := []string{"acme/fleet", "https://ghe.example.test/api/v3", "https://ghe.example.test/acme/fleet/actions/runs/4242"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Repository, APIURL, RunURL (-got +want):\n%s", diff)
	}
}

func TestMalformedEventPayload(t *testing.T) {
	r := newRun(t, `{"pull_request":`)
	if _, err := actions.FromEnv(func(k string) string { return r.env[k] }, &r.stdout); err == nil {
		t.Error("FromEnv with a malformed event payload succeeded, want an error")
	}
}

// TestRedactor: with the run's redactor set, no secret reaches the outputs
// file, the step summary or an annotation, while the add-mask command still
// names it for the runner.
func TestRedactor(t *testing.T) {
	const secret = "ghs_ACTIONSsecretTOKEN0123456789"
	r := newRun(t, "")
	a := r.actions(t)
	a.SetRedactor(redact.New(secret).Func())
	a.Mask(secret)
	if err := a.SetOutput("plan_json", "token="+secret); err != nil {
		t.Fatal(err)
	}
	if err := a.StepSummary("## plan\n\ntoken=" + secret + "\n"); err != nil {
		t.Fatal(err)
	}
	a.Annotate(actions.LevelError, "env.cue", 3, 1, "title "+secret, "msg "+secret)
	a.Group("group " + secret)
	for name, text := range map[string]string{"outputs": read(t, r.output), "summary": read(t, r.summary)} {
		if strings.Contains(text, secret) || !strings.Contains(text, "token=***") {
			t.Errorf("%s is not redacted: %q", name, text)
		}
	}
	for _, line := range strings.Split(r.stdout.String(), "\n") {
		if strings.HasPrefix(line, "::add-mask::") {
			if line != "::add-mask::"+secret {
				t.Errorf("add-mask command = %q, want it to name the secret", line)
			}
			continue
		}
		if strings.Contains(line, secret) {
			t.Errorf("a workflow command carries the secret: %q", line)
		}
	}
	if !strings.Contains(r.stdout.String(), "::error col=1,file=env.cue,line=3,title=title ***::msg ***") {
		t.Errorf("annotation not redacted as expected:\n%s", r.stdout.String())
	}
}
