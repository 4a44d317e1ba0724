package serve

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestPushWakesOnlyItsEnvironment: with polling out of the way (an hour),
// a push to main followed by its signed webhook applies dev, which
// deploys from main, and not prod, which deploys from release and has a
// change waiting there. A delivery with a bad signature and a replayed
// delivery do nothing; the next genuine delivery applies the next commit;
// a push to release then applies prod.
func TestPushWakesOnlyItsEnvironment(t *testing.T) {
	f := newFixture(t, map[string]string{
		"environments/dev/env.cue":  envCUE("dev", `{branch: "main"}`, "", map[string]string{"api": "1.0.0", "web": "1.0.0"}),
		"environments/prod/env.cue": envCUE("prod", `{branch: "release"}`, "", map[string]string{"api": "1.0.0"}),
	})
	f.branch("release")
	f.start(time.Hour)
	f.waitFor("both environments synced", func(st *Status) bool {
		return envOf(st, "dev").Phase == PhaseSynced && envOf(st, "prod").Phase == PhaseSynced
	})
	if got := [3]string{f.deployed("dev", "api"), f.deployed("dev", "web"), f.deployed("prod", "api")}; got != [3]string{"1.0.0", "1.0.0", "1.0.0"} {
		t.Fatalf("after the first reconcile the targets run %v, want 1.0.0 everywhere", got)
	}
	if envOf(f.srv.Status(), "prod").Ref != "release" {
		t.Errorf("prod runs ref %q, want release", envOf(f.srv.Status(), "prod").Ref)
	}

	// A change waits on release (its webhook is not sent yet), and main
	// moves for dev; main's copy of prod changes too, which prod must
	// ignore: it deploys from release.
	f.git.Commit("state", "release", "prod api 2.0.0", map[string]string{
		"environments/prod/env.cue": envCUE("prod", `{branch: "release"}`, "", map[string]string{"api": "2.0.0"}),
	})
	head := f.git.Commit("state", "main", "dev api 1.1.0", map[string]string{
		"environments/dev/env.cue":  envCUE("dev", `{branch: "main"}`, "", map[string]string{"api": "1.1.0", "web": "1.0.0"}),
		"environments/prod/env.cue": envCUE("prod", `{branch: "release"}`, "", map[string]string{"api": "3.0.0"}),
	})
	code, _, validBody := f.push("refs/heads/main", head, f.secret)
	if code != http.StatusAccepted {
		t.Fatalf("push webhook answered %d, want 202", code)
	}
	st := f.waitFor("dev at the new commit", func(st *Status) bool {
		d := envOf(st, "dev")
		return d.AppliedCommit == head && d.Phase == PhaseSynced
	})
	if got := f.deployed("dev", "api"); got != "1.1.0" {
		t.Errorf("dev api runs %q after the push, want 1.1.0", got)
	}
	if u := unitOf(envOf(st, "dev"), "api"); u.Running != "1.1.0" || u.Desired != "1.1.0" {
		t.Errorf("status of dev api = %+v, want running and desired 1.1.0", u)
	}
	if got, runs := f.deployed("prod", "api"), len(envOf(st, "prod").Runs); got != "1.0.0" || runs != 1 {
		t.Errorf("prod after a push to main: runs %q with %d reconciles, want 1.0.0 and 1 (untouched)", got, runs)
	}
	if want := []string{"dev api 1.0.0", "dev web 1.0.0", "prod api 1.0.0", "dev api 1.1.0"}; !sameDeploys(f.deploys(), want) {
		t.Errorf("deploys = %q, want %q (in any order within the first three)", f.deploys(), want)
	}

	// A bad signature and a replay of the delivery just handled: refused
	// or ignored, and nothing is fetched or applied for them.
	next := f.git.Commit("state", "main", "dev api 1.2.0", map[string]string{
		"environments/dev/env.cue": envCUE("dev", `{branch: "main"}`, "", map[string]string{"api": "1.2.0", "web": "1.0.0"}),
	})
	fetchesBefore := f.git.Requests()
	if code, _, _ := f.push("refs/heads/main", next, []byte("not the secret")); code != http.StatusUnauthorized {
		t.Errorf("a delivery signed with another secret answered %d, want 401", code)
	}
	if code := f.deliver("push", "delivery-1", validBody, f.secret); code != http.StatusOK {
		t.Errorf("a replayed delivery answered %d, want 200 (ignored)", code)
	}
	time.Sleep(time.Second) // time for a wrongly woken loop to fetch
	if n := f.git.Requests(); n != fetchesBefore {
		t.Errorf("the git server got %d requests after a bad and a replayed delivery, want none", n-fetchesBefore)
	}
	if got := f.deployed("dev", "api"); got != "1.1.0" {
		t.Errorf("dev api runs %q after a bad and a replayed delivery, want 1.1.0 still", got)
	}
	if n := f.metric(`gearshift_webhook_deliveries_total{event="push",result="bad_signature"}`); n != 1 {
		t.Errorf("bad_signature deliveries counted %v, want 1", n)
	}
	if n := f.metric(`gearshift_webhook_deliveries_total{event="push",result="duplicate"}`); n != 1 {
		t.Errorf("duplicate deliveries counted %v, want 1", n)
	}

	// The genuine delivery of that commit applies it.
	f.push("refs/heads/main", next, f.secret)
	f.waitFor("dev at 1.2.0", func(st *Status) bool { return envOf(st, "dev").AppliedCommit == next })
	if got := f.deployed("dev", "api"); got != "1.2.0" {
		t.Errorf("dev api runs %q, want 1.2.0", got)
	}
	// And a push to release moves prod, to release's version.
	f.push("refs/heads/release", "", f.secret)
	f.waitFor("prod at 2.0.0", func(st *Status) bool {
		return unitOf(envOf(st, "prod"), "api").Running == "2.0.0" && envOf(st, "prod").Phase == PhaseSynced
	})
	if got := f.deployed("prod", "api"); got != "2.0.0" {
		t.Errorf("prod api runs %q after the push to release, want 2.0.0", got)
	}
	if n := f.metric(`gearshift_commit_to_first_action_seconds_count{environment="dev"}`); n != 3 {
		t.Errorf("commit-to-first-action observations of dev = %v, want 3 (one per commit that deployed)", n)
	}
}

// sameDeploys compares deploy logs: the first reconciles of several
// environments run at once, so their order is free; the rest is not.
func sameDeploys(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	a, b := slices.Clone(got[:3]), slices.Clone(want[:3])
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b) && slices.Equal(got[3:], want[3:])
}

// TestDenyIsReportedNotLooped: a merge that makes a policy deny the new
// version is reconciled once, reported (phase held, the violation on the
// page and in the metrics), and not tried again on the following polls.
func TestDenyIsReportedNotLooped(t *testing.T) {
	f := newFixture(t, map[string]string{
		"environments/dev/env.cue": envCUE("dev", `{branch: "main"}`, "", map[string]string{"api": "1.0.0"}),
	})
	// A short poll: the loop turns many times while the deny stands.
	f.start(100 * time.Millisecond)
	f.waitFor("dev synced", func(st *Status) bool { return envOf(st, "dev").Phase == PhaseSynced })

	head := f.git.Commit("state", "main", "api 2.0.0, and only 1.x allowed", map[string]string{
		"environments/dev/env.cue": envCUE("dev", `{branch: "main"}`, `{versionPattern: "^1\\."}`, map[string]string{"api": "2.0.0"}),
	})
	f.push("refs/heads/main", head, f.secret)
	st := f.waitFor("dev held", func(st *Status) bool {
		return envOf(st, "dev").Phase == PhaseHeld && envOf(st, "dev").AppliedCommit == head
	})
	d := envOf(st, "dev")
	if len(d.Violations) != 1 || d.Violations[0].Rule != "version-pattern" || d.Violations[0].Pos.File != "environments/dev/env.cue" {
		t.Errorf("violations = %+v, want one version-pattern at environments/dev/env.cue", d.Violations)
	}
	if u := unitOf(d, "api"); !u.Denied || u.Running != "1.0.0" || u.Desired != "2.0.0" {
		t.Errorf("dev api = %+v, want denied, running 1.0.0, desired 2.0.0", u)
	}
	polls := f.git.Requests()
	time.Sleep(2 * time.Second) // some twenty polls
	if f.git.Requests() == polls {
		t.Error("the loop did not poll while the deny stood: the test proves nothing")
	}
	if got := f.deploys(); len(got) != 1 || got[0] != "dev api 1.0.0" {
		t.Errorf("deploys = %q, want only the first one", got)
	}
	if n := f.metric(`gearshift_reconcile_total{environment="dev",result="held"}`); n != 1 {
		t.Errorf("held reconciles = %v, want 1 (reported once, not retried)", n)
	}
	if n := f.metric(`gearshift_policy_violations{environment="dev",rule="version-pattern",severity="deny"}`); n != 1 {
		t.Errorf("gearshift_policy_violations = %v, want 1", n)
	}
	if runs := envOf(f.srv.Status(), "dev").Runs; len(runs) != 2 || runs[0].Result != "held" {
		t.Errorf("runs = %+v, want the first (done) and one held", runs)
	}
}

// TestTagPattern: an environment that deploys from release tags runs the
// newest matching tag, and a pushed tag moves it.
func TestTagPattern(t *testing.T) {
	pattern := `{tag: "^v[0-9]+\\.[0-9]+\\.[0-9]+-rel$"}`
	f := newFixture(t, map[string]string{
		"environments/prod/env.cue": envCUE("prod", pattern, "", map[string]string{"api": "1.0.0"}),
	})
	f.git.Tag("state", "v1.0.0-rel", "main")
	f.git.Commit("state", "main", "api 1.1.0", map[string]string{
		"environments/prod/env.cue": envCUE("prod", pattern, "", map[string]string{"api": "1.1.0"}),
	})
	f.git.Tag("state", "v1.1.0-rel", "main")
	f.git.Commit("state", "main", "api 9.9.9 on main, not released", map[string]string{
		"environments/prod/env.cue": envCUE("prod", pattern, "", map[string]string{"api": "9.9.9"}),
	})
	f.start(time.Hour)
	st := f.waitFor("prod synced", func(st *Status) bool { return envOf(st, "prod").Phase == PhaseSynced })
	if e := envOf(st, "prod"); e.Ref != "v1.1.0-rel" || f.deployed("prod", "api") != "1.1.0" {
		t.Fatalf("prod runs ref %q and api %q, want v1.1.0-rel and 1.1.0", e.Ref, f.deployed("prod", "api"))
	}
	// A push to main does not wake prod; a release tag does.
	f.push("refs/heads/main", "", f.secret)
	f.git.Commit("state", "main", "api 1.2.0", map[string]string{
		"environments/prod/env.cue": envCUE("prod", pattern, "", map[string]string{"api": "1.2.0"}),
	})
	f.git.Tag("state", "v1.2.0-rel", "main")
	f.push("refs/tags/v1.2.0-rel", "", f.secret)
	f.waitFor("prod at v1.2.0-rel", func(st *Status) bool {
		return envOf(st, "prod").Ref == "v1.2.0-rel" && envOf(st, "prod").Phase == PhaseSynced
	})
	if got := f.deployed("prod", "api"); got != "1.2.0" {
		t.Errorf("prod api runs %q, want 1.2.0", got)
	}
	if runs := envOf(f.srv.Status(), "prod").Runs; len(runs) != 2 {
		t.Errorf("prod reconciled %d times, want 2 (the push to main woke nothing)", len(runs))
	}
}
