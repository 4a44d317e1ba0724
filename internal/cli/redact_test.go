package cli

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// leakyScripts are exec-driver commands that print the tokens of the run
// they are part of, as a compromised or careless command would: read from
// the file $GS_LEAK (a command need not be given a token to find one).
const (
	leakyStatus = `f="$GS_DIR/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
secret="$(cat "$GS_LEAK")"
if [ "$GEARSHIFT_ACTION" = inventory ]; then echo '{"format_version":"1","units":[]}'; exit 0; fi
if [ "$GEARSHIFT_UNIT" = flaky ]; then echo "token=$secret" >&2; exit 3; fi
if [ -f "$f" ]; then
  printf '{"format_version":"1","deployed":true,"version":"%s","deployed_at":"2026-11-20T00:00:00Z","health":"healthy","message":"token=%s"}\n' "$(cat "$f")" "$secret"
else
  echo '{"format_version":"1","deployed":false}'
fi
`
	leakyDeploy = `secret="$(cat "$GS_LEAK")"
echo "deploying with token=$secret"
if [ "$GEARSHIFT_UNIT" = broken ]; then echo "token=$secret" >&2; exit 1; fi
echo "$GEARSHIFT_VERSION" > "$GS_DIR/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
`
)

// TestSecretsNeverPublished runs the GitOps loop in GitHub Actions with
// commands that print the tokens: an apply on a push (which writes the
// journal and the status branch), then a pull request's plan (from that
// status branch: comment, step summary, annotations, outputs, plan JSON),
// and what the notify command is given.
// The tokens appear nowhere gearshift writes; "token=***" shows where they
// would have been.
func TestSecretsNeverPublished(t *testing.T) {
	h := newHarness(t, nil)
	stateHome := t.TempDir()
	h.env["XDG_STATE_HOME"] = stateHome
	work := t.TempDir()
	leak := filepath.Join(work, "leak")
	if err := os.WriteFile(leak, []byte(ghToken+" "+gitToken), 0o600); err != nil {
		t.Fatal(err)
	}
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue": "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":          leakyStatus,
		"deploy.sh":          leakyDeploy,
		"notify.sh":          `printf '%s\n' "$GEARSHIFT_ERROR" >> "$GS_DIR/notified"` + "\n",
		"environments/dev/env.cue": `package gearshift

environment: {
	name: "dev"
	deployFrom: branch: "main"
	targets: t: exec: {
		status: ["sh", "./status.sh"]
		deploy: ["sh", "./deploy.sh"]
		env: {GS_DIR: "` + work + `", GS_LEAK: "` + leak + `"}
	}
	notify: {command: ["sh", "./notify.sh"], env: GS_DIR: "` + work + `"}
}

units: api: {kind: "gear", version: "1.2.0", target: "t", track: source: "` + h.git.URL("api") + `"}
units: flaky: {kind: "gear", version: "1.0.0", target: "t"}
units: broken: {kind: "gear", version: "2.0.0", target: "t"}
`,
	})
	h.git.CreateRepo("api", "main", map[string]string{"README": "the api\n"})
	h.git.Tags("api", "main", "v1.2.0", "v1.3.0")
	url := h.git.URL("state")

	// A push: apply observes live and writes the status branch.
	outputs, summary := inActions(t, h, 0, false)
	code, out, errOut := h.run("apply", "dev", "--repo", url, "--ref", "main")
	if code != ExitFailure {
		t.Fatalf("apply: exit %d, want %d (broken fails, flaky is not observed)\nstdout:\n%s\nstderr:\n%s", code, ExitFailure, out, errOut)
	}
	record, ok := h.git.File("state", gitops.DefaultStatusBranch, "dev.json")
	if !ok {
		t.Fatal("apply wrote no status record")
	}
	if !strings.Contains(record, "token=***") {
		t.Errorf("the status record does not show the redacted token:\n%s", record)
	}
	var journal strings.Builder
	_ = filepath.WalkDir(stateHome, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			journal.WriteString(p + ":\n" + string(b) + "\n")
		}
		return nil
	})
	if !strings.Contains(journal.String(), ".journal") || !strings.Contains(journal.String(), "token=***") {
		t.Errorf("no journal under %s that shows the redacted token:\n%s", stateHome, journal.String())
	}

	// A pull request: the plan comes from the status branch.
	number := h.gh.AddIssue()
	prOutputs, prSummary := inActions(t, h, number, false)
	code, out, errOut = h.run("plan", "dev", "--repo", url)
	if code != ExitFailure {
		t.Fatalf("plan: exit %d, want %d (flaky is not observed)\nstdout:\n%s\nstderr:\n%s", code, ExitFailure, out, errOut)
	}
	comments := h.gh.Comments(number)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "token=***") {
		t.Fatalf("the comment does not show the redacted token: %+v", comments)
	}
	if !strings.Contains(errOut, "::warning title=gearshift%3A dev/flaky not observed::") || !strings.Contains(errOut, "token=***") {
		t.Errorf("no redacted annotation of flaky:\n%s", out)
	}
	notified, err := os.ReadFile(filepath.Join(work, "notified"))
	if err != nil || !strings.Contains(string(notified), "token=***") {
		t.Errorf("notify was not given the redacted error: %q, %v", notified, err)
	}
	planJSON := readOutputs(t, prOutputs)["plan_json"]
	files := map[string]string{"journal": journal.String(), "status record": record, "notification": string(notified)}
	for name, p := range map[string]string{"apply outputs": outputs, "apply summary": summary,
		"plan outputs": prOutputs, "plan summary": prSummary, "plan JSON": planJSON} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files[name] = string(b)
	}
	if !strings.Contains(files["plan summary"], "token=***") || !strings.Contains(files["plan JSON"], "token=***") {
		t.Errorf("the step summary or the plan JSON does not show the redacted token:\n%s\n%s", files["plan summary"], files["plan JSON"])
	}
	for name, text := range files {
		for _, tok := range []string{ghToken, gitToken, ghToken[4:24], gitToken[6:24]} {
			if strings.Contains(text, tok) {
				t.Errorf("a token leaked into the %s:\n%s", name, text)
			}
		}
	}

	// A scheduled bump: a pull request for api 1.3.0, pushed to the state
	// repository with the token.
	inActionsEvent(t, h, "schedule", map[string]any{})
	h.mustRun(0, "bump", "--repo", url, "--ref", "main")
	if prs := h.gh.PullRequests(); len(prs) != 1 || !strings.Contains(prs[0].Title, "1.3.0") {
		t.Errorf("bump opened %+v, want one pull request for api 1.3.0", prs)
	}
	// Every file of every commit on every branch of the state repository:
	// the status branch, the bump branch, main.
	all, err := exec.Command("git", "-C", h.git.Path("state"), "log", "--all", "-p", "--format=%H %s%n%B").CombinedOutput()
	if err != nil {
		t.Fatalf("git log: %v\n%s", err, all)
	}
	if !strings.Contains(string(all), "token=***") || !strings.Contains(string(all), `+units: api: {kind: "gear", version: "1.3.0"`) {
		t.Errorf("the repository's history lacks the status record or the bump:\n%.3000s", all)
	}
	for _, tok := range []string{ghToken, gitToken, ghToken[4:24], gitToken[6:24]} {
		if strings.Contains(string(all), tok) {
			t.Errorf("a token is in the state repository's history")
		}
	}
	// The harness checks every stdout and stderr, comment, pull request,
	// API request, commit message and cache file when the test ends.
}

// TestOldRecordNotRepublished: a status record that holds a token (written
// before redaction existed, or by hand) reaches the plan unredacted, since
// nothing observes it again; every sink of a pull request's plan redacts
// it on its own: stdout, the comment (the request body), the step summary,
// the annotations and the plan JSON.
func TestOldRecordNotRepublished(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue": "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/dev/env.cue": `package gearshift

environment: {
	name: "dev"
	deployFrom: branch: "main"
	targets: t: exec: {status: ["false"], deploy: ["false"]}
}

units: api: {kind: "gear", version: "1.2.0", target: "t"}
units: web: {kind: "gear", version: "2.0.0", target: "t"}
`,
	})
	url := h.git.URL("state")
	writeRecords(t, h, &statusrec.Record{Environment: "dev", Units: map[string]driver.Observation{
		"api": {Unit: "api", Health: driver.HealthUnknown, Error: "sh: exit status 3: token=" + ghToken},
		"web": healthy("1.9.0", time.Hour, ""),
	}})
	if b, _ := h.git.File("state", gitops.DefaultStatusBranch, "dev.json"); !strings.Contains(b, ghToken) {
		t.Fatalf("the test's record does not hold the token:\n%s", b)
	}

	number := h.gh.AddIssue()
	outputs, summary := inActions(t, h, number, false)
	code, out, errOut := h.run("plan", "dev", "--repo", url)
	if code != ExitFailure {
		t.Fatalf("plan: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitFailure, out, errOut)
	}
	if !strings.Contains(out, "  ! api: sh: exit status 3: token=***\n") || !strings.Contains(errOut, "::warning title=gearshift%3A dev/api not observed::sh: exit status 3: token=***") {
		t.Errorf("stdout and stderr do not show the redacted token in the plan and the annotation:\n%s\n%s", out, errOut)
	}
	comments := h.gh.Comments(number)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "could not observe dev/`api`: sh: exit status 3: token=***") {
		t.Errorf("the comment does not show the redacted token: %+v", comments)
	}
	files := map[string]string{"outputs": outputs, "summary": summary, "plan JSON": readOutputs(t, outputs)["plan_json"]}
	for name, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(string(b), ghToken) || strings.Contains(string(b), ghToken[4:24]) {
			t.Errorf("the token leaked into the %s:\n%s", name, b)
		}
		if name != "outputs" && !strings.Contains(string(b), "token=***") {
			t.Errorf("the %s does not show the redacted token:\n%s", name, b)
		}
	}
}
