package bump

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// genenetwork is the GeneNetwork story's state: release tags that carry the
// version, the commit and the date (gn3-v0.0.12-794db6e2-20220113), staging
// tracking them, prod promoted from staging.
var genenetwork = map[string]string{
	"cue.mod/module.cue":           "module: \"example.com/gn@v0\"\nlanguage: version: \"v0.17.0\"\n",
	"environments/frameworks.cue":  "package gearshift\n",
	"environments/staging/env.cue": env("staging", "warn", ""),
	"environments/staging/units.cue": `package gearshift

units: gn3: {
	kind: "stack"
	version: "gn3-v0.0.9-aaaa1111-20211201"
	target: "t"
	track: {
		source: "https://git.example.invalid/genenetwork3.git"
		tagPattern: "gn3-v([0-9]+\\.[0-9]+\\.[0-9]+)-[0-9a-f]+-[0-9]{8}"
	}
}
units: gn2: {
	kind: "stack"
	version: "gn2-v0.2.9-bbbb2222-20220112"
	target: "t"
	track: {
		source: "https://git.example.invalid/genenetwork2.git"
		tagPattern: "gn2-v(?P<version>[0-9]+\\.[0-9]+\\.[0-9]+)-[0-9a-f]+-[0-9]{8}"
		level: "patch"
	}
}
`,
	"environments/prod/env.cue": env("prod", "warn", `promotion: {from: "staging", soak: "24h"}`),
	"environments/prod/units.cue": `package gearshift

units: gn2: {kind: "stack", version: "gn2-v0.2.9-bbbb2222-20220112", target: "t"}
units: gn3: {kind: "stack", version: "gn3-v0.0.12-794db6e2-20220113", target: "t"}
`,
}

// TestDiscoverTagPattern bumps units whose tags are not semantic versions
// (issue 9, defect 5): the version group orders them, numerically.
func TestDiscoverTagPattern(t *testing.T) {
	st := load(t, genenetwork)
	tags := &fakeTags{calls: map[string]int{}, tags: map[string][]string{
		"https://git.example.invalid/genenetwork3.git": {
			"gn3-v0.0.9-aaaa1111-20211201", "gn3-v0.0.10-bbbb2222-20211215", "gn3-v0.0.12-794db6e2-20220113",
			"gn3-v1.0.0-cccc3333-20220301", "nightly",
		},
		"https://git.example.invalid/genenetwork2.git": {
			"gn2-v0.2.9-bbbb2222-20220112", "gn2-v0.2.10-cccc3333-20220125", "gn2-v0.3.0-dddd4444-20220201",
		},
	}}
	res, err := Discover(context.Background(), st, Options{Tags: tags, Now: now, Envs: []string{"staging"}})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Branch, Unit, Old, New string }
	var got []row
	for _, p := range res.Proposals {
		for _, c := range p.Changes {
			got = append(got, row{p.Branch, c.Unit, c.Old, c.New})
		}
	}
	want := []row{
		{"gearshift/bump-staging-gn2-gn2-v0.2.10-cccc3333-20220125", "gn2", "gn2-v0.2.9-bbbb2222-20220112", "gn2-v0.2.10-cccc3333-20220125"},
		{"gearshift/bump-staging-gn3-gn3-v0.0.12-794db6e2-20220113", "gn3", "gn3-v0.0.9-aaaa1111-20211201", "gn3-v0.0.12-794db6e2-20220113"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("proposals (-want +got):\n%s", diff)
	}
	if len(res.Skipped) != 0 || len(res.Errors) != 0 {
		t.Errorf("skipped %+v, errors %+v", res.Skipped, res.Errors)
	}
}

// TestPromoteNumericAware promotes gn2-v0.2.10 over gn2-v0.2.9 (issue 9,
// defect 5: as strings it was older, and promote refused it forever) and
// still refuses a real step backwards.
func TestPromoteNumericAware(t *testing.T) {
	st := load(t, genenetwork)
	rec := &statusrec.Record{Environment: "staging", Units: map[string]observation.Unit{
		"gn2": {Deployed: true, Version: "gn2-v0.2.10-cccc3333-20220125", DeployedAt: now.Add(-48 * time.Hour), Health: observation.HealthHealthy},
		"gn3": {Deployed: true, Version: "gn3-v0.0.9-aaaa1111-20211201", DeployedAt: now.Add(-48 * time.Hour), Health: observation.HealthHealthy},
	}}
	p, skipped, err := Promote(PromoteInput{State: st, From: "staging", To: "prod", Record: rec, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if p == nil {
		t.Fatalf("no proposal; skipped %+v", skipped)
	}
	type row struct{ Unit, Old, New string }
	var got []row
	for _, c := range p.Changes {
		got = append(got, row{c.Unit, c.Old, c.New})
	}
	if diff := cmp.Diff([]row{{"gn2", "gn2-v0.2.9-bbbb2222-20220112", "gn2-v0.2.10-cccc3333-20220125"}}, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	wantSkipped := []Skipped{{Env: "prod", Unit: "gn3", Version: "gn3-v0.0.9-aaaa1111-20211201",
		Reason: "gn3-v0.0.9-aaaa1111-20211201 is older than prod's gn3-v0.0.12-794db6e2-20220113: promote never goes backwards (use rollback)"}}
	if diff := cmp.Diff(wantSkipped, skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

// TestPromoteWithoutDeployedAt: a release whose record does not say when
// it was deployed has not soaked, as Judge's promotion rule says too
// (policy.Soaked, issue 9, defect 6).
func TestPromoteWithoutDeployedAt(t *testing.T) {
	st := load(t, genenetwork)
	rec := &statusrec.Record{Environment: "staging", Units: map[string]observation.Unit{
		"gn2": {Deployed: true, Version: "gn2-v0.2.10-cccc3333-20220125", Health: observation.HealthHealthy},
	}}
	p, skipped, err := Promote(PromoteInput{State: st, From: "staging", To: "prod", Record: rec, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if p != nil {
		t.Errorf("proposal %+v, want none", p)
	}
	want := []Skipped{
		{Env: "prod", Unit: "gn2", Version: "gn2-v0.2.10-cccc3333-20220125", Reason: "staging's record does not say when gn2-v0.2.10-cccc3333-20220125 was deployed, so it has not soaked"},
		{Env: "prod", Unit: "gn3", Reason: "staging does not run gn3"},
	}
	if diff := cmp.Diff(want, skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}
