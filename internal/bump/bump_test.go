package bump

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// fleet is a state repository with the three environments of the stories:
// dev bumps, staging warns and tracks, prod denies and is promoted.
var fleet = map[string]string{
	"cue.mod/module.cue": "module: \"example.com/s@v0\"\nlanguage: version: \"v0.17.0\"\n",
	"environments/frameworks.cue": `package gearshift

frameworks: fw: {
	latest:   "1.4.0"
	releases: "https://git.example.invalid/fw.git"
	tagPrefix: "fw-"
	released: "2026-01-01"
	grace:    "7d"
}
frameworks: lib: {latest: "0.1.0", releases: "https://git.example.invalid/lib.git"}
`,
	"environments/dev/env.cue": env("dev", "bump", ""),
	"environments/dev/units.cue": `package gearshift

units: api: {
	kind:    "gear"
	version: "1.0.0"
	frameworks: fw: "1.3.0"
	target: "t"
	track: source: "https://git.example.invalid/api.git"
}
units: web: {
	kind:    "gear"
	version: "2.0.0"
	frameworks: fw: "1.4.0"
	frameworks: lib: "0.1.0"
	target: "t"
	track: {source: "https://git.example.invalid/web.git", level: "patch"}
}
`,
	"environments/staging/env.cue": env("staging", "warn", ""),
	"environments/staging/units.cue": `package gearshift

units: api: {
	kind:    "gear"
	version: "1.0.0"
	frameworks: fw: "1.3.0"
	target: "t"
	track: {source: "https://git.example.invalid/api.git", level: "major"}
}
`,
	"environments/prod/env.cue": env("prod", "deny", `promotion: {from: "staging", soak: "24h"}
	policies: versionPattern: "^[0-9]+\\.[0-9]+\\.[0-9]+$"`),
	"environments/prod/units.cue": `package gearshift

units: api: {
	kind:    "gear"
	version: "0.9.0"
	frameworks: fw: "1.2.0"
	target: "t"
	track: source: "https://git.example.invalid/api.git"
}
units: web: {kind: "gear", version: "2.0.0", target: "t"}
units: db: {kind: "gear", version: "3.0.0", target: "t"}
units: cache: {kind: "gear", version: "1.0.0", target: "t"}
`,
}

func env(name, policy, extra string) string {
	return `package gearshift

environment: {
	name: "` + name + `"
	deployFrom: branch: "main"
	policies: latestFramework: "` + policy + `"
	targets: t: exec: {status: ["s"], deploy: ["d"]}
	` + extra + `
}
`
}

func load(t *testing.T, files map[string]string) *state.State {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := state.Load(context.Background(), root, nil, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// fakeTags lists tags from a map and counts the listings.
// bump lists sources concurrently, hence the lock.
type fakeTags struct {
	mu    sync.Mutex
	tags  map[string][]string
	calls map[string]int
}

func (f *fakeTags) Tags(_ context.Context, url string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[url]++
	ts, ok := f.tags[url]
	if !ok {
		return nil, errors.New("repository not found")
	}
	return ts, nil
}

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestDiscover(t *testing.T) {
	st := load(t, fleet)
	tags := &fakeTags{calls: map[string]int{}, tags: map[string][]string{
		"https://git.example.invalid/fw.git":  {"fw-1.3.0", "fw-1.4.0", "fw-1.5.0", "fw-2.0.0-rc.1", "1.9.0", "v9"},
		"https://git.example.invalid/lib.git": {"v0.1.0"},
		"https://git.example.invalid/api.git": {"v1.0.0", "v1.1.0", "v1.2.0", "v2.0.0", "v2.1.0-rc.1"},
		"https://git.example.invalid/web.git": {"2.0.1", "2.1.0"},
	}}
	res, err := Discover(context.Background(), st, Options{Tags: tags, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Kind, Branch, Env, Unit, Field, Old, New, Pos string }
	var got []row
	for _, p := range res.Proposals {
		for _, c := range p.Changes {
			got = append(got, row{string(p.Kind), p.Branch, c.Env, c.Unit, c.Field, c.Old, c.New, c.Pos.String()})
		}
	}
	want := []row{
		// One PR for the framework release: latest, released, and the dev
		// units (bump policy) built against an older version. staging
		// warns and prod denies: neither is touched.
		{"framework", "gearshift/bump-fw-1.5.0", "", "", "frameworks.fw.latest", "1.4.0", "1.5.0", "environments/frameworks.cue:4:12"},
		{"framework", "gearshift/bump-fw-1.5.0", "", "", "frameworks.fw.released", "2026-01-01", "2026-11-22", "environments/frameworks.cue:7:12"},
		{"framework", "gearshift/bump-fw-1.5.0", "dev", "api", "frameworks.fw", "1.3.0", "1.5.0", "environments/dev/units.cue:6:18"},
		{"framework", "gearshift/bump-fw-1.5.0", "dev", "web", "frameworks.fw", "1.4.0", "1.5.0", "environments/dev/units.cue:13:18"},
		// One PR per tracked unit: minor level (default) and patch level.
		{"unit", "gearshift/bump-dev-api-1.2.0", "dev", "api", "version", "1.0.0", "1.2.0", "environments/dev/units.cue:5:11"},
		{"unit", "gearshift/bump-dev-web-2.0.1", "dev", "web", "version", "2.0.0", "2.0.1", "environments/dev/units.cue:12:11"},
		{"unit", "gearshift/bump-staging-api-2.0.0", "staging", "api", "version", "1.0.0", "2.0.0", "environments/staging/units.cue:5:11"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("proposals (-want +got):\n%s", diff)
	}
	wantSkipped := []Skipped{{Env: "prod", Unit: "api", Reason: "prod is never bumped: its latestFramework policy is deny"}}
	if diff := cmp.Diff(wantSkipped, res.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	for url, n := range tags.calls {
		if n != 1 {
			t.Errorf("%s listed %d times, want once", url, n)
		}
	}
	if len(tags.calls) != 4 {
		t.Errorf("listed %d sources, want 4: %v", len(tags.calls), tags.calls)
	}
	// The edits change only the literals.
	files, err := Files(st.Root, res.Proposals[0].Changes)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(files["environments/frameworks.cue"]),
		strings.NewReplacer(`"1.4.0"`, `"1.5.0"`, `"2026-01-01"`, `"2026-11-22"`).Replace(fleet["environments/frameworks.cue"]); got != want {
		t.Errorf("frameworks.cue:\n%s\nwant\n%s", got, want)
	}
	if got, want := string(files["environments/dev/units.cue"]),
		strings.Replace(strings.Replace(fleet["environments/dev/units.cue"], `fw: "1.3.0"`, `fw: "1.5.0"`, 1), `fw: "1.4.0"`, `fw: "1.5.0"`, 1); got != want {
		t.Errorf("dev/units.cue:\n%s\nwant\n%s", got, want)
	}
	body := Body(res.Proposals[0], nil, "footer")
	for _, s := range []string{"| dev | api | `frameworks.fw` | `1.3.0` → `1.5.0` | `environments/dev/units.cue:6:18` |",
		"| (all) | – | `frameworks.fw.latest` | `1.4.0` → `1.5.0` | `environments/frameworks.cue:4:12` |", "rebuilt against fw 1.5.0"} {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %q:\n%s", s, body)
		}
	}
}

// TestDiscoverOnlyDev: --env dev leaves staging alone, the framework's own
// fields are still proposed, and a source that cannot be listed is an
// error for its units only.
func TestDiscoverOnlyDev(t *testing.T) {
	files := map[string]string{}
	for k, v := range fleet {
		files[k] = v
	}
	// No released date: it is not added, and the PR says so.
	files["environments/frameworks.cue"] = strings.Replace(fleet["environments/frameworks.cue"], "\treleased: \"2026-01-01\"\n", "", 1)
	st := load(t, files)
	tags := &fakeTags{calls: map[string]int{}, tags: map[string][]string{
		"https://git.example.invalid/fw.git":  {"fw-1.4.1"},
		"https://git.example.invalid/lib.git": {"v0.1.0"},
		"https://git.example.invalid/web.git": {"2.0.0"},
	}}
	res, err := Discover(context.Background(), st, Options{Tags: tags, Now: now, Envs: []string{"dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Proposals) != 1 || res.Proposals[0].Branch != "gearshift/bump-fw-1.4.1" || len(res.Proposals[0].Changes) != 3 {
		t.Fatalf("proposals = %+v", res.Proposals)
	}
	if n := res.Proposals[0].Notes; len(n) != 2 || !strings.Contains(n[0], "has no `released` date") {
		t.Errorf("notes = %q", n)
	}
	if len(res.Errors) != 1 || res.Errors[0].Source != "https://git.example.invalid/api.git" {
		t.Errorf("errors = %+v", res.Errors)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Unit != "api" || !strings.Contains(res.Skipped[0].Reason, "could not be listed") {
		t.Errorf("skipped = %+v", res.Skipped)
	}
	if tags.calls["https://git.example.invalid/api.git"] != 1 {
		t.Errorf("calls = %v", tags.calls)
	}
}

func TestPromote(t *testing.T) {
	st := load(t, fleet)
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	rec := &statusrec.Record{Environment: "staging", Units: map[string]observation.Unit{
		// soaked two days, built against fw 1.4.0: promoted with it
		"api": {Deployed: true, Version: "1.1.0", DeployedAt: at(48 * time.Hour), Health: observation.HealthHealthy, Frameworks: map[string]string{"fw": "1.4.0"}},
		// only three hours: not yet
		"web": {Deployed: true, Version: "2.1.0", DeployedAt: at(3 * time.Hour), Health: observation.HealthHealthy},
		// breaks prod's version pattern
		"db": {Deployed: true, Version: "3.1.0-rc.1", DeployedAt: at(72 * time.Hour), Health: observation.HealthHealthy},
		// unhealthy
		"cache": {Deployed: true, Version: "1.1.0", DeployedAt: at(72 * time.Hour), Health: observation.HealthDegraded},
	}}
	p, skipped, err := Promote(PromoteInput{State: st, From: "staging", To: "prod", Record: rec, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if p == nil || p.Branch != "gearshift/promote-staging-prod" || p.Title != "Promote staging → prod: api 1.1.0" {
		t.Fatalf("proposal = %+v", p)
	}
	type row struct{ Unit, Field, Old, New string }
	var got []row
	for _, c := range p.Changes {
		got = append(got, row{c.Unit, c.Field, c.Old, c.New})
	}
	if diff := cmp.Diff([]row{{"api", "version", "0.9.0", "1.1.0"}, {"api", "frameworks.fw", "1.2.0", "1.4.0"}}, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	var reasons []string
	for _, s := range skipped {
		reasons = append(reasons, s.Unit+": "+s.Reason)
	}
	want := []string{
		"cache: staging runs 1.1.0 but it is degraded",
		"db: 3.1.0-rc.1 does not match prod's version pattern ^[0-9]+\\.[0-9]+\\.[0-9]+$",
		"web: staging has run 2.1.0 for 3h of the 1d soak time (ready 2026-11-23T09:00:00Z)",
	}
	if diff := cmp.Diff(want, reasons); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	body := Body(p, skipped, "")
	for _, s := range []string{"staging: healthy, deployed_at 2026-11-20T12:00:00Z, soaked 2d of 1d", "Not proposed", "soak time (ready"} {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %q:\n%s", s, body)
		}
	}

	// Nothing soaked: no proposal. No record: an error.
	rec.Units = map[string]observation.Unit{"api": {Deployed: true, Version: "0.8.0", DeployedAt: at(72 * time.Hour), Health: observation.HealthHealthy}}
	if p, skipped, err := Promote(PromoteInput{State: st, From: "staging", To: "prod", Record: rec, Now: now}); err != nil || p != nil || !strings.Contains(skipped[0].Reason, "never goes backwards") {
		t.Errorf("a downgrade: %+v %+v %v", p, skipped, err)
	}
	if _, _, err := Promote(PromoteInput{State: st, From: "staging", To: "prod", Now: now}); !errors.Is(err, ErrNoRecord) {
		t.Errorf("no record: err = %v", err)
	}
	if _, _, err := Promote(PromoteInput{State: st, From: "dev", To: "prod", Record: rec, Now: now}); err == nil || !strings.Contains(err.Error(), "prod is promoted from staging, not dev") {
		t.Errorf("wrong source: err = %v", err)
	}
}

func TestSetVersion(t *testing.T) {
	st := load(t, fleet)
	p, err := SetVersion(st, "prod", "db", "2.9.0", "3.0.0 corrupts the index")
	if err != nil {
		t.Fatal(err)
	}
	if p.Branch != "gearshift/version-prod-db-2.9.0" || p.Changes[0].Old != "3.0.0" || p.Notes[0] != "Reason: 3.0.0 corrupts the index" {
		t.Errorf("proposal = %+v", p)
	}
	files, err := Files(st.Root, p.Changes)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(files["environments/prod/units.cue"]); !strings.Contains(got, `units: db: {kind: "gear", version: "2.9.0", target: "t"}`) {
		t.Errorf("prod/units.cue:\n%s", got)
	}
	for _, bad := range [][3]string{{"prod", "db", "2.9.0-rc.1"}, {"prod", "db", "3.0.0"}, {"prod", "nope", "1.0.0"}, {"qa", "db", "1.0.0"}} {
		if _, err := SetVersion(st, bad[0], bad[1], bad[2], ""); err == nil {
			t.Errorf("SetVersion%v succeeded", bad)
		}
	}
}
