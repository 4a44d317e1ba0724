package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/driver/host"
	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// TestStatusAgreesWithPlan: status and plan read one drift rule
// (plan.Assess). For every unit of an environment observed in every way
// that matters, status calls it drifted exactly when plan deploys it for a
// drift reason (not deployed, another version, another artifact, hosts that
// disagree), and not observed exactly when plan lists it as not observed.
func TestStatusAgreesWithPlan(t *testing.T) {
	sum := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	env := &state.Environment{
		Name:     "dev",
		Policies: state.Policies{MaxAge: state.Duration{Duration: 30 * 24 * time.Hour}},
		Targets:  map[string]state.Target{"t": {Exec: &state.ExecTarget{}}},
		Units:    map[string]*state.Unit{},
	}
	run := func(v string, age time.Duration) observation.Unit {
		return observation.Unit{Deployed: true, Version: v, DeployedAt: testNow.Add(-age), Health: observation.HealthHealthy}
	}
	obs := map[string]observation.Unit{
		"as-desired":    run("1.0.0", time.Hour),
		"other-version": run("0.9.0", time.Hour),
		"not-deployed":  {Health: observation.HealthMissing},
		"too-old":       run("1.0.0", 40*24*time.Hour),
		"unhealthy": func() observation.Unit {
			o := run("1.0.0", time.Hour)
			o.Health = observation.HealthUnhealthy
			return o
		}(),
		"artifact":  func() observation.Unit { o := run("1.0.0", time.Hour); o.Checksum = sum("a"); return o }(),
		"hosts":     {Deployed: true, Health: observation.HealthHealthy, Hosts: []observation.Host{{Host: "a", Version: "1.0.0"}, {Host: "b", Version: "0.9.0"}}},
		"timed-out": {Health: observation.HealthUnknown, Error: "observe timed out after 30s"},
		"partly":    func() observation.Unit { o := run("0.9.0", time.Hour); o.Error = "b: connection refused"; return o }(),
	}
	for n := range obs {
		env.Units[n] = &state.Unit{Name: n, Kind: "gear", Version: "1.0.0", Target: "t",
			Artifact: &state.Artifact{Source: "x", Checksum: sum("b")}}
	}
	env.Units["never-observed"] = &state.Unit{Name: "never-observed", Kind: "gear", Version: "1.0.0", Target: "t"}
	observed := observation.Environment{Units: obs}

	pe := plan.Compute(plan.Input{Env: env, Observed: observed, Now: testNow})
	rows := statusRows(env, observed, testNow)
	if len(rows) != len(env.Units) {
		t.Fatalf("%d status rows for %d units", len(rows), len(env.Units))
	}
	drifted := map[string]bool{}
	for _, a := range pe.Actions {
		drifted[a.Unit] = a.HasReason(plan.NotDeployed) || a.HasReason(plan.VersionChanged) || a.HasReason(plan.Drift)
	}
	wantDrift := []string{"artifact", "hosts", "not-deployed", "other-version", "partly"}
	var gotDrift []string
	for _, r := range rows {
		notObserved := slices.Contains(pe.NotObserved, r.Unit)
		if r.Observed == notObserved {
			t.Errorf("%s: status observed %v, plan not observed %v", r.Unit, r.Observed, notObserved)
		}
		switch {
		case notObserved && r.Drift != nil:
			t.Errorf("%s: not observed, status drift %v, want unknown (nil)", r.Unit, *r.Drift)
		case !notObserved && (r.Drift == nil || *r.Drift != drifted[r.Unit]):
			t.Errorf("%s: status drift %v, plan's actions say %v", r.Unit, r.Drift, drifted[r.Unit])
		}
		if r.Drift != nil && *r.Drift {
			gotDrift = append(gotDrift, r.Unit)
		}
	}
	if !slices.Equal(gotDrift, wantDrift) {
		t.Errorf("drifted units %v, want %v", gotDrift, wantDrift)
	}
}

// TestDriversUseTheRunClock: the host driver records times (the
// deployed_at a rollback renews) with the run's clock, GEARSHIFT_NOW in a
// rehearsal, not the wall clock.
func TestDriversUseTheRunClock(t *testing.T) {
	env := &state.Environment{Name: "dev", Targets: map[string]state.Target{"h": {Host: &state.HostTarget{Local: true, Root: t.TempDir()}}}}
	ds := newDrivers(t.TempDir(), func() time.Time { return testNow })
	defer ds.Close()
	o, err := ds.resolve(env, "h")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := o.(*host.Driver)
	if !ok {
		t.Fatalf("resolve gave %T, want *host.Driver", o)
	}
	if d.Now == nil || !d.Now().Equal(testNow) {
		t.Errorf("the host driver's clock is not the run's (Now nil: %v)", d.Now == nil)
	}
}

// TestPlanFromStatusSaysWhatItKnows: a pull request's plan of an
// environment without a status record says so plainly, never "no
// changes"; with a record it names the record's age and commit.
func TestPlanFromStatusSaysWhatItKnows(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", stateRepo(h))
	url := h.git.URL("state")

	md := h.mustRun(0, "plan", "dev", "--repo", url, "--from-status", "-o", "markdown")
	head, _, _ := strings.Cut(md, "| environment |")
	for _, want := range []string{
		"## ⚠️ gearshift plan: incomplete, 2 units not observed\n",
		"- ⚠️ **dev has no status record on `gearshift/status` yet**: its 2 units were not observed",
	} {
		if !strings.Contains(head, want) {
			t.Errorf("markdown head lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "No changes") {
		t.Errorf("a plan without a status record says \"No changes\":\n%s", md)
	}
	out := h.mustRun(0, "plan", "dev", "--repo", url, "--from-status")
	if !strings.Contains(out, "  Not planned: no status record of dev on gearshift/status yet, so nothing is known of its 2 units.\n") {
		t.Errorf("text plan without a status record:\n%s", out)
	}

	// In Actions: one warning for the environment, not one per unit.
	number := h.gh.AddIssue()
	inActions(t, h, number, false)
	code, _, errOut := h.run("plan", "dev", "--repo", url, "--from-status")
	if code != 0 {
		t.Fatalf("plan in Actions: exit %d\n%s", code, errOut)
	}
	if n := strings.Count(errOut, "::warning title=gearshift"); n != 1 || !strings.Contains(errOut, "::warning title=gearshift%3A dev not observed::no status record of dev on gearshift/status yet: its 2 units were not observed") {
		t.Errorf("%d warnings on stderr, want one for dev:\n%s", n, errOut)
	}
	comments := h.gh.Comments(number)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "dev has no status record") {
		t.Errorf("comments = %+v", comments)
	}

	writeRecords(t, h, &statusrec.Record{Environment: "dev", WrittenAt: testNow.Add(-26*time.Hour - 5*time.Minute),
		Units: map[string]observation.Unit{"api": healthy("1.0.0", 30*time.Hour, ""), "web": healthy("2.0.0", 30*time.Hour, "")}})
	md = h.mustRun(0, "plan", "dev", "--repo", url, "--from-status", "-o", "markdown")
	want := "- dev: planned from its status record on gearshift/status, written 2026-11-21 09:55 UTC, 1d2h before this plan (commit " +
		h.git.Head("state", "main")[:12] + ")\n"
	if !strings.Contains(md, want) {
		t.Errorf("markdown lacks %q:\n%s", want, md)
	}
}

// TestPlanObservesOnce: plan observes each environment once per command,
// the promotion source too, whether or not it is planned itself; status
// observes each once.
func TestPlanObservesOnce(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"cue.mod/module.cue":          "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/frameworks.cue": "package gearshift\n",
		"status.sh": "#!/bin/sh\necho \"$GEARSHIFT_ENVIRONMENT/$GEARSHIFT_UNIT\" >> calls.log\n" +
			"echo '{\"format_version\":\"1\",\"deployed\":true,\"version\":\"1.0.0\",\"deployed_at\":\"2026-11-20T00:00:00Z\",\"health\":\"healthy\"}'\n",
	}
	for _, env := range []string{"staging", "prod"} {
		promotion := ""
		if env == "prod" {
			promotion = "\tpromotion: {from: \"staging\", soak: \"1h\"}\n"
		}
		files["environments/"+env+"/env.cue"] = "package gearshift\n\nenvironment: {\n\tname: \"" + env + "\"\n\tdeployFrom: branch: \"main\"\n" + promotion +
			"\ttargets: scripts: exec: {status: [\"./status.sh\"], deploy: [\"./deploy.sh\"]}\n}\n"
		files["environments/"+env+"/units.cue"] = "package gearshift\n\nunits: api: {kind: \"gear\", version: \"1.0.0\", target: \"scripts\"}\n" +
			"units: web: {kind: \"gear\", version: \"1.0.0\", target: \"scripts\"}\n"
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	getenv := func(k string) string {
		return map[string]string{"GEARSHIFT_NOW": "2026-11-22T12:00:00Z", "NO_COLOR": "1", "PATH": os.Getenv("PATH")}[k]
	}
	for _, args := range [][]string{{"plan"}, {"plan", "prod"}, {"status"}} {
		if err := os.Remove(filepath.Join(dir, "calls.log")); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append(args, "--repo", dir), &out, &errOut, getenv); code != 0 {
			t.Fatalf("gearshift %v: exit %d\n%s%s", args, code, out.String(), errOut.String())
		}
		b, err := os.ReadFile(filepath.Join(dir, "calls.log"))
		if err != nil {
			t.Fatal(err)
		}
		calls := strings.Fields(string(b))
		slices.Sort(calls)
		want := []string{"prod/api", "prod/web", "staging/api", "staging/web"}
		if diff := cmp.Diff(want, calls); diff != "" {
			t.Errorf("gearshift %v: units observed (-want +got):\n%s", args, diff)
		}
	}
}

// TestRollbackUsesTheRunClock: a rollback renews the deployed_at of the
// release it returns to with the run's clock (GEARSHIFT_NOW), as every
// recorded time is; status then reads that time back.
func TestRollbackUsesTheRunClock(t *testing.T) {
	repo, root := t.TempDir(), t.TempDir()
	var tgz bytes.Buffer
	gz := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(gz)
	readme := []byte("a release\n")
	if err := tw.WriteHeader(&tar.Header{Name: "README", Mode: 0o644, Size: int64(len(readme)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(readme)
	tw.Close()
	gz.Close()
	units := func(version string) string {
		return fmt.Sprintf("package gearshift\n\nunits: svc: {\n\tkind: \"gear\", version: %q, target: \"local\"\n"+
			"\tartifact: source: \"svc.tar.gz\"\n\trun: command: [\"sleep\", \"3600\"]\n}\n", version)
	}
	write := func(files map[string]string) {
		t.Helper()
		if err := statetest.WriteFiles(repo, files); err != nil {
			t.Fatal(err)
		}
	}
	write(map[string]string{
		"svc.tar.gz":         tgz.String(),
		"cue.mod/module.cue": "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/dev/env.cue": fmt.Sprintf("package gearshift\n\nenvironment: {\n\tname: \"dev\"\n\tdeployFrom: branch: \"main\"\n"+
			"\ttargets: local: host: {local: true, root: %q, allowLocalArtifacts: true}\n}\n", root),
		"environments/dev/units.cue": units("1.0.0"),
	})
	env := map[string]string{"XDG_STATE_HOME": t.TempDir(), "XDG_CACHE_HOME": t.TempDir(), "NO_COLOR": "1", "PATH": os.Getenv("PATH")}
	gearshift := func(now string, want int, args ...string) string {
		t.Helper()
		env["GEARSHIFT_NOW"] = now
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var o, e bytes.Buffer
		if code := run(ctx, append(args, "--repo", repo), &o, &e, func(k string) string { return env[k] }); code != want {
			t.Fatalf("gearshift %v: exit %d, want %d\n%s%s", args, code, want, o.String(), e.String())
		}
		return o.String()
	}
	t.Cleanup(func() {
		// Stop what the test started.
		write(map[string]string{"environments/dev/units.cue": "package gearshift\n",
			"environments/dev/prune.cue": "package gearshift\n\nenvironment: policies: prune: true\n"})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		run(ctx, []string{"apply", "dev", "--no-status", "--repo", repo}, io.Discard, io.Discard, func(k string) string { return env[k] })
	})
	gearshift("2026-11-01T10:00:00Z", 0, "apply", "dev", "--no-status")
	write(map[string]string{"environments/dev/units.cue": units("2.0.0")})
	gearshift("2026-11-10T10:00:00Z", 0, "apply", "dev", "--no-status")
	gearshift("2026-11-22T12:00:00Z", 0, "rollback", "dev", "svc", "--no-status")

	var doc struct {
		Units []struct {
			Running    string    `json:"running"`
			DeployedAt time.Time `json:"deployed_at"`
		} `json:"units"`
	}
	out := gearshift("2026-11-22T12:00:00Z", 0, "status", "dev", "-o", "json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Units) != 1 {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if u := doc.Units[0]; u.Running != "1.0.0" || !u.DeployedAt.Equal(testNow) {
		t.Errorf("after the rollback: runs %s deployed at %s, want 1.0.0 deployed at %s (GEARSHIFT_NOW)", u.Running, u.DeployedAt, testNow)
	}
}
