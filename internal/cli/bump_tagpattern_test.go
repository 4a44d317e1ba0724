package cli

import (
	"fmt"
	"strings"
	"testing"
)

// TestBumpTagPattern tracks GeneNetwork's release tags, which carry the
// version, the commit and the date (gn3-v0.0.12-794db6e2-20220113), from a
// real git server (issue 9, defect 5: "needs a semantic version", and
// gn3-v0.0.10 sorted before gn3-v0.0.9 as a string). The tags of another
// product in the same repository, and tags that do not match, are not
// releases.
func TestBumpTagPattern(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("genenetwork3", "main", map[string]string{"README": "gn3\n"})
	h.git.Tags("genenetwork3", "main",
		"gn3-v0.0.9-aaaa1111-20211201", "gn3-v0.0.10-794db6e2-20220113", "gn3-v1.0.0-bbbb2222-20220301",
		"gn2-v0.9.0-cccc3333-20220302", "gn3-v0.0.11", "latest")
	units := fmt.Sprintf(`package gearshift

units: gn3: {
	kind:    "stack"
	version: "gn3-v0.0.9-aaaa1111-20211201"
	target:  "t"
	track: {
		source:     %q
		tagPattern: "gn3-v([0-9]+\\.[0-9]+\\.[0-9]+)-[0-9a-f]+-[0-9]{8}"
	}
}
`, h.git.URL("genenetwork3"))
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":             "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/frameworks.cue":    "package gearshift\n",
		"environments/staging/env.cue":   envCUE("staging", "warn", ""),
		"environments/staging/units.cue": units,
	})

	out := h.mustRun(0, "bump", "--repo", h.git.URL("state"), "--ref", "main")
	const branch = "gearshift/bump-staging-gn3-gn3-v0.0.10-794db6e2-20220113"
	for _, want := range []string{
		"opened #1 " + branch + ": staging: bump gn3 to gn3-v0.0.10-794db6e2-20220113",
		"    staging/gn3 version: gn3-v0.0.9-aaaa1111-20211201 -> gn3-v0.0.10-794db6e2-20220113  environments/staging/units.cue:5:11",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("bump output lacks %q:\n%s", want, out)
		}
	}
	got, ok := h.git.File("state", branch, "environments/staging/units.cue")
	if want := strings.Replace(units, "gn3-v0.0.9-aaaa1111-20211201", "gn3-v0.0.10-794db6e2-20220113", 1); !ok || got != want {
		t.Errorf("staging/units.cue on %s:\n%s\nwant\n%s", branch, got, want)
	}
	if n := len(h.gh.PullRequests()); n != 1 {
		t.Errorf("%d pull requests, want 1", n)
	}
}
