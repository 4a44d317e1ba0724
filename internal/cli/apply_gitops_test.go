package cli

import (
	"strings"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// execScripts keep each unit's deployed version in a file under
// $GS_TEST_STATE, as a user's own deploy commands might.
const (
	statusScript = `f="$GS_TEST_STATE/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
if [ "$GEARSHIFT_ACTION" = inventory ]; then echo '{"format_version":"1","units":[]}'; exit 0; fi
if [ -f "$f" ]; then
  printf '{"format_version":"1","deployed":true,"version":"%s","deployed_at":"2026-11-20T00:00:00Z","health":"healthy"}\n' "$(cat "$f")"
else
  echo '{"format_version":"1","deployed":false}'
fi
`
	deployScript = `echo "$GEARSHIFT_VERSION" > "$GS_TEST_STATE/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
`
)

func gitopsEnvCUE(name, deployFrom string) string {
	return `package gearshift

environment: {
	name: "` + name + `"
	deployFrom: ` + deployFrom + `
	targets: t: exec: {status: ["sh", "./status.sh"], deploy: ["sh", "./deploy.sh"]}
}

units: api: {kind: "gear", version: "1.2.0", target: "t"}
`
}

// TestApplyGitOps: apply from a URL deploys only from the environment's
// branch or tag pattern, writes the status branch, and a plan from the
// status branch (no target access) then sees no changes.
func TestApplyGitOps(t *testing.T) {
	t.Setenv("GS_TEST_STATE", t.TempDir())
	// Commands get a minimal environment: the scripts' variable is passed by name.
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":        "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":                 statusScript,
		"deploy.sh":                 deployScript,
		"environments/dev/env.cue":  gitopsEnvCUE("dev", `branch: "main"`),
		"environments/prod/env.cue": gitopsEnvCUE("prod", `tag: "^v[0-9]+\\.[0-9]+\\.[0-9]+-rel$"`),
	})
	url := h.git.URL("state")

	h.mustRun(0, "apply", "dev", "--repo", url, "--ref", "main")
	b, ok := h.git.File("state", gitops.DefaultStatusBranch, "dev.json")
	if !ok {
		t.Fatal("apply wrote no dev.json on the status branch")
	}
	rec, err := statusrec.Unmarshal([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	if o := rec.Units["api"]; o.Version != "1.2.0" || !o.Deployed || rec.Commit != h.git.Head("state", "main") {
		t.Errorf("status record = %+v (commit %s), want api 1.2.0 at main's head", o, rec.Commit)
	}

	// prod takes release tags only.
	code, _, stderr := h.run("apply", "prod", "--repo", url, "--ref", "main")
	if code != ExitFailure || !strings.Contains(stderr, "environment prod refuses branch main") {
		t.Errorf("apply prod from main: exit %d, stderr %q; want a refusal", code, stderr)
	}
	h.git.Tag("state", "v1.2.0-rel", "main")
	h.mustRun(0, "apply", "prod", "--repo", url, "--ref", "v1.2.0-rel")
	if _, ok := h.git.File("state", gitops.DefaultStatusBranch, "prod.json"); !ok {
		t.Error("apply prod wrote no prod.json")
	}
	if _, ok := h.git.File("state", gitops.DefaultStatusBranch, "dev.json"); !ok {
		t.Error("apply prod dropped dev.json from the status branch")
	}

	// Rolling dev back opens a pull request that makes the state say what
	// now runs, and marks 1.2.0 failed in the status record.
	out := h.mustRun(0, "rollback", "dev", "api", "--to", "1.1.0", "--pr", "--repo", url, "--ref", "main")
	if !strings.Contains(out, "Pull request #") {
		t.Errorf("rollback --pr printed no pull request:\n%s", out)
	}
	prs := h.gh.PullRequests()
	if len(prs) != 1 || !strings.Contains(prs[0].Body, "1.1.0") || prs[0].Base != "main" {
		t.Errorf("pull requests after rollback --pr = %+v", prs)
	}
	b, _ = h.git.File("state", gitops.DefaultStatusBranch, "dev.json")
	if rec, err := statusrec.Unmarshal([]byte(b)); err != nil || rec.Units["api"].Version != "1.1.0" || rec.Failed["api"] != "1.2.0" {
		t.Errorf("status record after rollback = %+v, %v; want api at 1.1.0 with 1.2.0 failed", rec, err)
	}
	// Undo the rollback for what follows: dev runs 1.2.0 again.
	h.mustRun(0, "apply", "dev", "--repo", url, "--ref", "main", "--retry-failed")

	// A pull-request plan judged from the status branch alone: the status
	// command is not even run (it would fail without GS_TEST_STATE).
	t.Setenv("GS_TEST_STATE", "/nonexistent")
	out = h.mustRun(0, "plan", "dev", "--repo", url, "--from-status", "--detailed-exitcode")
	if !strings.Contains(out, "No changes") || !strings.Contains(out, "observed status") {
		t.Errorf("plan --from-status:\n%s", out)
	}
}
