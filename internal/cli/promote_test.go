package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func healthy(version string, age time.Duration, fw string) driver.Observation {
	o := driver.Observation{Deployed: true, Version: version, DeployedAt: testNow.Add(-age), Health: driver.HealthHealthy}
	if fw != "" {
		o.Frameworks = map[string]string{"fw": fw}
	}
	return o
}

// writeRecords writes status records to the server's state repository with
// writeStatus, as apply does.
func writeRecords(t *testing.T, h *harness, records ...*statusrec.Record) {
	t.Helper()
	e := h.testEnv(h.git.URL("state"))
	e.ref = "main"
	if err := writeStatus(context.Background(), e, h.checkout(e), records); err != nil {
		t.Fatal(err)
	}
}

// TestWriteStatus: one file per environment on the status branch, the
// checkout's commit in each, other environments' records kept; --no-status
// writes nothing.
func TestWriteStatus(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", stateRepo(h))
	// A URL at a ref is read like a directory.
	if out := h.mustRun(0, "validate", "--repo", h.git.URL("state"), "--ref", "main"); out != "ok: 3 environments, 7 units\n" {
		t.Errorf("validate: %q", out)
	}
	if code, _, errOut := h.run("validate", "--repo", h.git.URL("state"), "--ref", "nope"); code != ExitFailure || !strings.Contains(errOut, "ref not found: nope") {
		t.Errorf("an unknown ref: exit %d: %s", code, errOut)
	}
	writeRecords(t, h, &statusrec.Record{Environment: "dev", Units: map[string]driver.Observation{"api": healthy("1.0.0", time.Hour, "")}})
	writeRecords(t, h, &statusrec.Record{Environment: "staging", Units: map[string]driver.Observation{"api": healthy("1.1.0", time.Hour, "")}})
	for _, env := range []string{"dev", "staging"} {
		b, ok := h.git.File("state", gitops.DefaultStatusBranch, env+".json")
		if !ok {
			t.Fatalf("no %s.json on the status branch", env)
		}
		r, err := statusrec.Unmarshal([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		if r.Commit != h.git.Head("state", "main") || !r.WrittenAt.Equal(testNow) {
			t.Errorf("%s record: commit %s at %s", env, r.Commit, r.WrittenAt)
		}
	}
	if log := h.git.Log("state", gitops.DefaultStatusBranch); len(log) != 2 || !strings.HasPrefix(log[0], "gearshift status: staging at ") {
		t.Errorf("status branch log: %q", log)
	}
	e := h.testEnv(h.git.URL("state"))
	e.noStatus = true
	if err := writeStatus(context.Background(), e, h.checkout(e), []*statusrec.Record{{Environment: "prod"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.git.File("state", gitops.DefaultStatusBranch, "prod.json"); ok {
		t.Errorf("--no-status wrote a record")
	}
}

// TestPlanFromStatus plans with the records of the status branch: no
// target is asked (the exec commands do not exist), an environment without
// a record says so without failing the run, and prod's promotion rule reads
// staging's record.
func TestPlanFromStatus(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", stateRepo(h))
	url := h.git.URL("state")

	// No record at all: every unit "not observed" (none counts as
	// observed), exit 0.
	out := h.mustRun(0, "plan", "dev", "--repo", url, "--from-status")
	if !strings.Contains(out, "Environment dev (0 of 2 units observed status)") || !strings.Contains(out, "not observed: no status record of dev yet on gearshift/status") {
		t.Errorf("plan without records:\n%s", out)
	}

	writeRecords(t, h,
		&statusrec.Record{Environment: "dev", Units: map[string]driver.Observation{"api": healthy("0.9.0", time.Hour, "")}},
		&statusrec.Record{Environment: "staging", Units: map[string]driver.Observation{
			"api": healthy("1.1.0", 2*time.Hour, "1.4.0"), "web": healthy("2.1.0", 72*time.Hour, "1.4.0")}},
	)
	// dev: api runs 0.9.0 (deploy to 1.0.0); web is not in the record, so
	// it is not deployed. prod has no record: said, and exit is from its
	// denies (the framework rule), not from the missing record.
	code, out, _ := h.run("plan", "--repo", url, "--from-status")
	for _, want := range []string{
		"Environment dev (2 units observed status)",
		"+ deploy   api                  0.9.0 -> 1.0.0",
		"+ deploy   web                  (none) -> 2.0.0",
		"not observed: no status record of prod yet on gearshift/status",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if code != ExitDenied {
		t.Errorf("exit %d, want %d (prod denies api's old framework)", code, ExitDenied)
	}
	// A unit added to prod's record: promotion is judged with staging's.
	writeRecords(t, h, &statusrec.Record{Environment: "prod", Units: map[string]driver.Observation{
		"api": healthy("0.9.0", 24*time.Hour, "1.3.0"), "web": healthy("1.9.0", 24*time.Hour, ""), "db": healthy("3.0.0", time.Hour, "")}})
	_, out, _ = h.run("plan", "prod", "--repo", url, "--from-status")
	if !strings.Contains(out, "[deny] promotion web: staging runs 2.1.0, not 2.0.0") {
		t.Errorf("prod plan from status:\n%s", out)
	}
}

// TestPromote opens one pull request with the versions staging has soaked,
// refuses the unsoaked and pattern-breaking ones, and updates the same pull
// request on a second run.
func TestPromote(t *testing.T) {
	h := newHarness(t, nil)
	files := stateRepo(h)
	h.git.CreateRepo("state", "main", files)
	url := h.git.URL("state")

	code, _, errOut := h.run("promote", "--repo", url, "--to", "prod")
	if code != ExitFailure || !strings.Contains(errOut, "no status record of staging yet") {
		t.Errorf("promote without a record: exit %d\n%s", code, errOut)
	}
	writeRecords(t, h, &statusrec.Record{Environment: "staging", Units: map[string]driver.Observation{
		"api": healthy("1.1.0", 48*time.Hour, "1.4.0"),      // soaked: promoted with its framework
		"web": healthy("2.1.0", 3*time.Hour, "1.4.0"),       // not soaked
		"db":  healthy("3.1.0-rc.1", 72*time.Hour, "1.4.0"), // breaks prod's pattern
	}})
	for run := 1; run <= 2; run++ {
		out := h.mustRun(0, "promote", "--repo", url, "--ref", "main", "--to", "prod")
		verb := map[int]string{1: "opened #1", 2: "updated #1"}[run]
		for _, want := range []string{
			verb + " gearshift/promote-staging-prod: Promote staging → prod: api 1.1.0",
			"    prod/api version: 1.0.0 -> 1.1.0  environments/prod/units.cue:5:11",
			"    prod/api frameworks.fw: 1.3.0 -> 1.4.0  environments/prod/units.cue:6:18",
			"skipped prod/web 2.1.0: staging has run 2.1.0 for 3h of the 1d soak time (ready 2026-11-23T09:00:00Z)",
			"skipped prod/db 3.1.0-rc.1: 3.1.0-rc.1 does not match prod's version pattern",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("run %d lacks %q:\n%s", run, want, out)
			}
		}
	}
	prs := h.gh.PullRequests()
	if len(prs) != 1 {
		t.Fatalf("%d pull requests, want 1", len(prs))
	}
	for _, want := range []string{
		"| prod | api | `version` | `1.0.0` → `1.1.0` | `environments/prod/units.cue:5:11` | staging: healthy, deployed_at 2026-11-20T12:00:00Z, soaked 2d of 1d |",
		"- prod web 2.1.0: staging has run 2.1.0 for 3h",
	} {
		if !strings.Contains(prs[0].Body, want) {
			t.Errorf("the body lacks %q:\n%s", want, prs[0].Body)
		}
	}
	got, _ := h.git.File("state", "gearshift/promote-staging-prod", "environments/prod/units.cue")
	want := strings.Replace(strings.Replace(files["environments/prod/units.cue"], `version: "1.0.0"`, `version: "1.1.0"`, 1), `fw: "1.3.0"`, `fw: "1.4.0"`, 1)
	if got != want {
		t.Errorf("prod/units.cue on the promotion branch:\n%s\nwant\n%s", got, want)
	}
}
