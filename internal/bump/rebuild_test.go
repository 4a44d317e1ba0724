package bump

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDiscoverRebuilds: a new release of the framework makes bump rebuild
// the units of bump environments that declare rebuild in their own
// repositories: one rebuild per repository and branch (dev and qa share
// gear1's master), none for a unit labelled with the latest version, none
// in a deny environment; a unit without a label is rebuilt too (its
// source alone knows).
func TestDiscoverRebuilds(t *testing.T) {
	rebuild := func(repo, push string) string {
		return `rebuild: {repository: "` + repo + `", branch: "master", command: ["mix", "deps.update", "{framework}"], env: {MIX_ENV: "prod"}, push: "` + push + `"}`
	}
	st := load(t, map[string]string{
		"cue.mod/module.cue": "module: \"example.com/s@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/frameworks.cue": `package gearshift

frameworks: antikythera: {latest: "1.1.0", releases: "https://git.example.invalid/antikythera.git"}
`,
		"environments/dev/env.cue": env("dev", "bump", ""),
		"environments/dev/units.cue": `package gearshift

units: gear1: {kind: "gear", version: "1.0.0", target: "t", frameworks: antikythera: "1.0.0", ` + rebuild("https://git.example.invalid/gear1.git", "branch") + `}
units: gear2: {kind: "gear", version: "1.0.0", target: "t", ` + rebuild("https://github.com/acme/gear2.git", "pull-request") + `}
units: gear3: {kind: "gear", version: "1.0.0", target: "t", frameworks: antikythera: "1.2.0", ` + rebuild("https://git.example.invalid/gear3.git", "branch") + `}
units: plain: {kind: "gear", version: "1.0.0", target: "t", frameworks: antikythera: "1.0.0"}
`,
		"environments/qa/env.cue":     env("qa", "bump", ""),
		"environments/qa/units.cue":   "package gearshift\n\nunits: gear1: {kind: \"gear\", version: \"1.0.0\", target: \"t\", frameworks: antikythera: \"1.1.0\", " + rebuild("https://git.example.invalid/gear1.git", "branch") + "}\n",
		"environments/prod/env.cue":   env("prod", "deny", ""),
		"environments/prod/units.cue": "package gearshift\n\nunits: gear1: {kind: \"gear\", version: \"1.0.0\", target: \"t\", frameworks: antikythera: \"1.0.0\", " + rebuild("https://git.example.invalid/gear1.git", "branch") + "}\n",
	})
	tags := &fakeTags{tags: map[string][]string{"https://git.example.invalid/antikythera.git": {"1.0.0", "1.1.0", "1.2.0"}}, calls: map[string]int{}}
	res, err := Discover(context.Background(), st, Options{Tags: tags, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := []*Rebuild{
		{Units: []string{"dev/gear1", "qa/gear1"}, Framework: "antikythera", From: "1.0.0", To: "1.2.0",
			Repository: "https://git.example.invalid/gear1.git", Branch: "master", Push: "branch",
			Command: []string{"mix", "deps.update", "antikythera"}, Env: map[string]string{"MIX_ENV": "prod"}, Timeout: 10 * time.Minute,
			Title: "Update antikythera to 1.2.0"},
		{Units: []string{"dev/gear2"}, Framework: "antikythera", To: "1.2.0",
			Repository: "https://github.com/acme/gear2.git", Branch: "master", Push: "pull-request", WorkBranch: "gearshift/rebuild-antikythera-1.2.0",
			Command: []string{"mix", "deps.update", "antikythera"}, Env: map[string]string{"MIX_ENV": "prod"}, Timeout: 10 * time.Minute,
			Title: "Update antikythera to 1.2.0"},
	}
	if diff := cmp.Diff(res.Rebuilds, want, cmp.FilterPath(func(p cmp.Path) bool {
		n := p.Last().String()
		return n == ".Message" || n == ".Body"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("rebuilds (-got +want):\n%s", diff)
	}
	if len(res.Rebuilds) == 2 {
		wantMsg := "Update antikythera to 1.2.0\n\nantikythera 1.2.0 was released; dev/gear1, qa/gear1 are built against 1.0.0.\ngearshift bump ran mix deps.update antikythera in a fresh checkout of master.\n"
		if res.Rebuilds[0].Message != wantMsg {
			t.Errorf("commit message:\n%s\nwant\n%s", res.Rebuilds[0].Message, wantMsg)
		}
	}
}
