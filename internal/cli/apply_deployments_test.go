package cli

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/forge/githubtest"
)

func deploymentsEnvCUE(apiVersion, webVersion, mode string) string {
	return `package gearshift

environment: {
	name: "staging"
	deployFrom: branch: "main"
	targets: t: exec: {status: ["sh", "./status.sh"], deploy: ["sh", "./deploy.sh"]}
	` + mode + `
}

units: api: {kind: "gear", version: "` + apiVersion + `", target: "t", environmentURL: "https://api.staging.example.org"}
units: web: {kind: "gear", version: "` + webVersion + `", target: "t", dependsOn: ["api"]}
`
}

// failingDeploy fails any version 9.x with a long message, to check the
// description GitHub gets is cut to 140 characters.
const failingDeploy = `case "$GEARSHIFT_VERSION" in 9.*) echo "` + "the new release refused to start because its configuration names a database that this host cannot reach; see the journal of the unit for the whole story" + `" >&2; exit 1;; esac
` + deployScript

// TestApplyDeployments: with a GitHub token, each apply records a
// deployment per unit it deploys (environment "<env>/<unit>") through
// the Deployments API, in_progress then success or failure, with the
// Actions run as log_url and the unit's environmentURL; the next
// success makes the earlier one inactive. The fake checks each call as
// GitHub would (auto_merge false, required_contexts [], states,
// descriptions of at most 140 characters).
func TestApplyDeployments(t *testing.T) {
	t.Setenv("GS_TEST_STATE", t.TempDir())
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	h.env["GITHUB_SERVER_URL"] = "https://github.example.com"
	h.env["GITHUB_RUN_ID"] = "77"
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":           "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":                    statusScript,
		"deploy.sh":                    failingDeploy,
		"environments/staging/env.cue": deploymentsEnvCUE("1.0.0", "2.0.0", ""),
	})
	url := h.git.URL("state")
	first := h.git.Head("state", "main")
	logURL := "https://github.example.com/acme/state/actions/runs/77"

	h.mustRun(0, "apply", "staging", "--repo", url)
	type dep struct {
		Env, Ref string
		States   []string
		URL      string
	}
	summarize := func(ds []githubtest.Deployment) []dep {
		var out []dep
		for _, d := range ds {
			x := dep{Env: d.Environment, Ref: d.Ref}
			for _, s := range d.Statuses {
				x.States = append(x.States, s.State)
				if s.LogURL != logURL && !s.Auto {
					t.Errorf("deployment %d status %s: log_url %q, want %q", d.ID, s.State, s.LogURL, logURL)
				}
				if s.EnvironmentURL != "" {
					x.URL = s.EnvironmentURL
				}
			}
			if d.AutoMerge || d.RequiredContexts == nil || len(d.RequiredContexts) != 0 {
				t.Errorf("deployment %d: auto_merge %v, required_contexts %v", d.ID, d.AutoMerge, d.RequiredContexts)
			}
			out = append(out, x)
		}
		return out
	}
	want := []dep{
		{Env: "staging/api", Ref: first, States: []string{"in_progress", "success"}, URL: "https://api.staging.example.org"},
		{Env: "staging/web", Ref: first, States: []string{"in_progress", "success"}},
	}
	if diff := cmp.Diff(want, summarize(h.gh.Deployments())); diff != "" {
		t.Errorf("deployments after the first apply (-want +got):\n%s", diff)
	}
	if p := string(h.gh.Deployments()[0].Payload); !strings.Contains(p, `"unit":"api"`) || !strings.Contains(p, `"to":"1.0.0"`) {
		t.Errorf("payload of api's deployment = %s", p)
	}

	// Nothing to do: nothing recorded.
	h.mustRun(0, "apply", "staging", "--repo", url)
	if n := len(h.gh.Deployments()); n != 2 {
		t.Errorf("an apply with nothing to do recorded deployments: %d in all", n)
	}

	// api moves on: its earlier deployment becomes inactive; web, which
	// did not change, keeps its own.
	second := h.git.Commit("state", "main", "api 1.1.0", map[string]string{"environments/staging/env.cue": deploymentsEnvCUE("1.1.0", "2.0.0", "")})
	h.mustRun(0, "apply", "staging", "--repo", url)
	want[0].States = append(want[0].States, "inactive")
	want = append(want, dep{Env: "staging/api", Ref: second, States: []string{"in_progress", "success"}, URL: "https://api.staging.example.org"})
	if diff := cmp.Diff(want, summarize(h.gh.Deployments())); diff != "" {
		t.Errorf("deployments after api 1.1.0 (-want +got):\n%s", diff)
	}

	// A failure: api is rolled back (its status says why, in 140 characters at
	// most), web is not deployed (error), and nothing becomes inactive.
	third := h.git.Commit("state", "main", "9.x", map[string]string{"environments/staging/env.cue": deploymentsEnvCUE("9.0.0", "9.0.0", "")})
	h.mustRun(1, "apply", "staging", "--repo", url)
	want = append(want,
		dep{Env: "staging/api", Ref: third, States: []string{"in_progress", "failure"}, URL: "https://api.staging.example.org"},
		dep{Env: "staging/web", Ref: third, States: []string{"in_progress", "error"}})
	ds := h.gh.Deployments()
	if diff := cmp.Diff(want, summarize(ds)); diff != "" {
		t.Errorf("deployments after a failure (-want +got):\n%s", diff)
	}
	failed := ds[3].Statuses[1].Description
	if n := utf8.RuneCountInString(failed); n > 140 || !strings.HasPrefix(failed, "api 9.0.0 rolled back to 1.1.0: ") || !strings.HasSuffix(failed, "…") {
		t.Errorf("failure description (%d characters) = %q", n, failed)
	}
	if d := ds[4].Statuses[1].Description; !strings.Contains(d, "depends on api") {
		t.Errorf("web's description = %q, want why it was not deployed", d)
	}

	// One deployment per environment, or none.
	h.git.Commit("state", "main", "per environment", map[string]string{"environments/staging/env.cue": deploymentsEnvCUE("1.2.0", "2.1.0",
		`github: {deployments: "environment", environmentURL: "https://staging.example.org"}`)})
	h.mustRun(0, "apply", "staging", "--repo", url)
	ds = h.gh.Deployments()
	last := ds[len(ds)-1]
	if last.Environment != "staging" || last.State() != "success" || last.Statuses[0].EnvironmentURL != "https://staging.example.org" ||
		!strings.Contains(string(last.Payload), `"unit":"web"`) {
		t.Errorf("per-environment deployment = %+v (payload %s)", last, last.Payload)
	}
	h.git.Commit("state", "main", "off", map[string]string{"environments/staging/env.cue": deploymentsEnvCUE("1.3.0", "2.1.0", `github: deployments: "off"`)})
	before := len(ds)
	h.mustRun(0, "apply", "staging", "--repo", url)
	if n := len(h.gh.Deployments()); n != before {
		t.Errorf("deployments: \"off\" recorded %d deployments", n-before)
	}
}

// TestApplyDeploymentsRefused: a token GitHub refuses (401; 403 for one
// without the deployments permission) is reported and the apply stands.
func TestApplyDeploymentsRefused(t *testing.T) {
	t.Setenv("GS_TEST_STATE", t.TempDir())
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	h.env["GITHUB_TOKEN"] = "ghp_not_a_token_the_fake_knows_0000000"
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":           "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":                    statusScript,
		"deploy.sh":                    deployScript,
		"environments/staging/env.cue": deploymentsEnvCUE("1.0.0", "2.0.0", ""),
	})
	code, out, stderr := h.run("apply", "staging", "--repo", h.git.URL("state"), "-o", "json")
	if code != 0 {
		t.Fatalf("apply with a refused token: exit %d\n%s\n%s", code, out, stderr)
	}
	r, ok := reportOf(published(t, out), "deployment", "staging/api")
	if !ok || r.Outcome != "failed" || !strings.Contains(r.Error, "401") {
		t.Errorf("report = %+v, want failed with GitHub's 401", r)
	}
	if !strings.Contains(stderr, "deployment staging/api failed") || strings.Contains(stderr, "ghp_not_a_token") {
		t.Errorf("stderr:\n%s", stderr)
	}

	// GITHUB_TOKEN in a workflow that does not grant deployments: write.
	h.gh.AddAppTokenWithout("ghs_actions_token_without_deployments_0", "github-actions[bot]", "deployments")
	h.env["GITHUB_TOKEN"] = "ghs_actions_token_without_deployments_0"
	h.git.Commit("state", "main", "api 1.1.0", map[string]string{"environments/staging/env.cue": deploymentsEnvCUE("1.1.0", "2.0.0", "")})
	code, out, stderr = h.run("apply", "staging", "--repo", h.git.URL("state"), "-o", "json")
	if code != 0 {
		t.Fatalf("apply without deployments: write: exit %d\n%s", code, stderr)
	}
	r, _ = reportOf(published(t, out), "deployment", "staging/api")
	if r.Outcome != "failed" || !strings.Contains(r.Error, "403") || !strings.Contains(r.Error, "(the token needs deployments: write)") {
		t.Errorf("report = %+v, want failed with GitHub's 403 and the permission it needs", r)
	}
	if n := len(h.gh.Deployments()); n != 0 {
		t.Errorf("%d deployments recorded with refused tokens", n)
	}
}
