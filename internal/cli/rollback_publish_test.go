package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/notify"
)

// TestRollbackPublishes: gearshift rollback publishes as apply does. The
// unit's GitHub deployment goes in_progress then success, saying what it
// was rolled back from and to, so the Environments page shows what runs;
// a webhook that asks for rollbacks gets a "rollback.success" event, one
// that asks for failures only gets nothing, and the commit status of the
// state commit is left alone (a rollback applies no commit). A rollback
// refused because it would change nothing publishes nothing.
func TestRollbackPublishes(t *testing.T) {
	t.Setenv("GS_TEST_STATE", t.TempDir())
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	h.env["GITHUB_SERVER_URL"] = "https://github.example.com"
	h.env["GITHUB_RUN_ID"] = "12"
	rollbacks := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	failures := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	notes := `{webhook: url: "` + rollbacks.URL + `/hook", on: ["rollback"]},
		{webhook: url: "` + failures.URL + `/hook"},
		{githubStatus: {}, on: ["failure", "success"]}`
	notifyRepo(h, failingDeploy, notes)
	url := h.git.URL("state")
	h.mustRun(0, "apply", "prod", "--repo", url)
	h.git.Commit("state", "main", "1.1.0", map[string]string{"environments/prod/env.cue": notifyEnvCUE("1.1.0", notes)})
	h.mustRun(0, "apply", "prod", "--repo", url)
	deployments, statuses := len(h.gh.Deployments()), len(h.gh.CommitStatuses())
	if deployments != 2 || statuses != 2 {
		t.Fatalf("after two applies: %d deployments, %d commit statuses; want 2 and 2", deployments, statuses)
	}

	out := h.mustRun(0, "rollback", "prod", "gn3", "--to", "1.0.0", "--repo", url)
	if !strings.Contains(out, "Rolled back gn3 in prod from 1.1.0 to 1.0.0") {
		t.Errorf("rollback printed:\n%s", out)
	}
	ds := h.gh.Deployments()
	if len(ds) != deployments+1 {
		t.Fatalf("the rollback recorded %d deployments, want 1", len(ds)-deployments)
	}
	d := ds[len(ds)-1]
	if d.Environment != "prod/gn3" || d.Ref != h.git.Head("state", "main") || d.State() != "success" || len(d.Statuses) != 2 ||
		d.Statuses[0].State != "in_progress" || d.Statuses[0].Description != "rolling back gn3 from 1.1.0 to 1.0.0" ||
		!strings.HasPrefix(d.Statuses[1].Description, "gn3 rolled back from 1.1.0 to 1.0.0 by gearshift rollback in ") ||
		d.Statuses[1].LogURL != "https://github.example.com/acme/state/actions/runs/12" {
		t.Errorf("the rollback's deployment = %+v", d)
	}
	if p := string(d.Payload); !strings.Contains(p, `"from":"1.1.0"`) || !strings.Contains(p, `"to":"1.0.0"`) {
		t.Errorf("the rollback's deployment payload = %s", p)
	}
	// The deployment of 1.1.0 is no longer the one that runs.
	if prev := ds[len(ds)-2]; prev.State() != "inactive" {
		t.Errorf("the deployment of 1.1.0 is %s after the rollback, want inactive", prev.State())
	}
	bodies, heads := rollbacks.received()
	if len(bodies) != 1 {
		t.Fatalf("the rollback webhook got %d posts, want 1", len(bodies))
	}
	var ev notify.Event
	if err := json.Unmarshal(bodies[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Event != "rollback.success" || ev.Outcome != "success" || ev.Environment != "prod" || !ev.Changed ||
		ev.Summary != "gn3 rolled back from 1.1.0 to 1.0.0" || len(ev.Units) != 1 ||
		ev.Units[0].Action != "rollback" || ev.Units[0].From != "1.1.0" || ev.Units[0].To != "1.0.0" || ev.Units[0].Outcome != "rolled-back" {
		t.Errorf("rollback event = %+v", ev)
	}
	if got := heads[0].Get("X-Gearshift-Event"); got != "rollback.success" {
		t.Errorf("X-Gearshift-Event = %q", got)
	}
	if b, _ := failures.received(); len(b) != 0 {
		t.Errorf("a webhook on failures got a successful rollback: %s", b)
	}
	if n := len(h.gh.CommitStatuses()); n != statuses {
		t.Errorf("the rollback set %d commit statuses on the state commit", n-statuses)
	}

	// Nothing to roll back to: refused, nothing published.
	code, _, stderr := h.run("rollback", "prod", "gn3", "--to", "1.0.0", "--repo", url)
	if code == 0 || !strings.Contains(stderr, "already runs 1.0.0") {
		t.Errorf("a rollback to the running version: exit %d\n%s", code, stderr)
	}
	if n := len(h.gh.Deployments()); n != len(ds) {
		t.Errorf("a refused rollback recorded %d deployments", n-len(ds))
	}
	if b, _ := rollbacks.received(); len(b) != 1 {
		t.Errorf("a refused rollback was notified: %d posts in all", len(b))
	}

	// A rollback that fails: the deployment says failure and why, and
	// both webhooks hear of it.
	code, _, stderr = h.run("rollback", "prod", "gn3", "--to", "9.0.0", "--repo", url)
	if code != ExitFailure {
		t.Fatalf("a failing rollback: exit %d\n%s", code, stderr)
	}
	ds = h.gh.Deployments()
	if d := ds[len(ds)-1]; d.State() != "failure" || !strings.HasPrefix(d.Statuses[1].Description, "gearshift rollback: gn3 1.0.0 not rolled back: ") {
		t.Errorf("the failed rollback's deployment = %+v", d)
	}
	for _, rc := range []*receiver{rollbacks, failures} {
		b, _ := rc.received()
		if len(b) == 0 || !strings.Contains(string(b[len(b)-1]), `"event":"rollback.failure"`) {
			t.Errorf("a failed rollback was not notified as rollback.failure: %s", b)
		}
	}
}
