package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// gearUpdateScript stands in for `mix deps.update NAME`: it rewrites the
// gear's mix.lock with NAME at VERSION (the tests' update command, run by
// bump through internal/proc, no shell of gearshift's).
const gearUpdateScript = `set -eu
printf '%%{\n  "%s": {:git, "https://git.example.invalid/%s.git", "0123abcd", [tag: "%s"]},\n}\n' "$1" "$1" "$2" > mix.lock
mkdir -p deps/"$1" && echo fetched > deps/"$1"/mix.exs
`

func gearMixLock(v string) string {
	return fmt.Sprintf("%%{\n  \"antikythera\": {:git, \"https://git.example.invalid/antikythera.git\", \"0123abcd\", [tag: %q]},\n}\n", v)
}

// TestBumpRebuild is antikythera's dev: a new antikythera release makes
// bump update the dependency in the gear's own repository and push to
// master, the branch dev deploys from (the story's git-push to
// origin/master); prod (deny) is never touched. --dry-run lists the
// rebuild and pushes nothing; a second run finds master up to date and
// commits nothing.
func TestBumpRebuild(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("antikythera", "master", map[string]string{"README": "framework\n"})
	h.git.Tags("antikythera", "master", "1.1.0", "1.2.0")
	gearBase := h.git.CreateRepo("gear1", "master", map[string]string{"mix.lock": gearMixLock("1.1.0"), "update.sh": gearUpdateScript})
	unit := func(branch string) string {
		return fmt.Sprintf(`package gearshift

units: gear1: {
	kind: "gear", version: "1.0.0", target: "t"
	frameworks: antikythera: "1.1.0"
	artifact: source: "https://releases.example.invalid/gear1-{version}.tar.gz"
	builtAgainst: file: "mix.lock"
	rebuild: {
		repository: %q
		branch: %q
		command: ["sh", "./update.sh", "{framework}", "{version}"]
		push: "branch"
	}
}
`, h.git.URL("gear1"), branch)
	}
	env := func(name, policy, branch string) string {
		return fmt.Sprintf(`package gearshift

environment: {
	name: %q
	deployFrom: branch: %q
	policies: latestFramework: %q
	targets: t: exec: {status: ["s"], deploy: ["d"]}
}
`, name, branch, policy)
	}
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":          "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/frameworks.cue": fmt.Sprintf("package gearshift\n\nframeworks: antikythera: {latest: \"1.1.0\", releases: %q}\n", h.git.URL("antikythera")),
		"environments/dev/env.cue":    env("dev", "bump", "master"),
		"environments/dev/units.cue":  unit("master"),
		"environments/prod/env.cue":   env("prod", "deny", "release"),
		"environments/prod/units.cue": unit("release"),
	})
	url := h.git.URL("state")

	out := h.mustRun(0, "bump", "--repo", url, "--ref", "main", "--dry-run")
	wantDry := "would rebuild " + h.git.URL("gear1") + " (dev/gear1) against antikythera 1.2.0: sh ./update.sh antikythera 1.2.0 on master, then push to master\n"
	if !strings.Contains(out, wantDry) {
		t.Errorf("bump --dry-run:\n%s\nwant a line\n%s", out, wantDry)
	}
	if head := h.git.Head("gear1", "master"); head != gearBase {
		t.Fatalf("--dry-run moved gear1's master to %s", head)
	}

	code, out, stderr := h.run("bump", "--repo", url, "--ref", "main", "-o", "json")
	if code != 0 {
		t.Fatalf("bump: exit %d\n%s\n%s", code, out, stderr)
	}
	var doc struct {
		Rebuilds []struct {
			Units            []string
			Framework, From  string
			To, Pushed       string
			Commit, Error    string
			Repository, Push string
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("bump -o json: %v\n%s", err, out)
	}
	head := h.git.Head("gear1", "master")
	if len(doc.Rebuilds) != 1 {
		t.Fatalf("rebuilds = %+v, want one (dev's; prod denies)", doc.Rebuilds)
	}
	r := doc.Rebuilds[0]
	if strings.Join(r.Units, ",") != "dev/gear1" || r.From != "1.1.0" || r.To != "1.2.0" || r.Pushed != "master" ||
		r.Commit != head || r.Error != "" || r.Push != "branch" || r.Repository != h.git.URL("gear1") {
		t.Errorf("rebuild = %+v; master is at %s", r, head)
	}
	if got, _ := h.git.File("gear1", "master", "mix.lock"); got != gearMixLock("1.2.0") {
		t.Errorf("gear1's mix.lock on master:\n%s\nwant\n%s", got, gearMixLock("1.2.0"))
	}
	if _, ok := h.git.File("gear1", "master", "deps/antikythera/mix.exs"); ok {
		t.Error("what the update fetched was committed")
	}
	if log := h.git.Log("gear1", "master"); len(log) != 2 || !strings.Contains(log[0], "Update antikythera to 1.2.0") {
		t.Errorf("gear1's log: %q", log)
	}
	h.git.Fsck("gear1")
	// The state's own pull request (the framework's latest and the label)
	// is opened as before.
	if prs := h.gh.PullRequests(); len(prs) != 1 || prs[0].Head != "gearshift/bump-antikythera-1.2.0" {
		t.Errorf("state pull requests = %+v", prs)
	}

	out = h.mustRun(0, "bump", "--repo", url, "--ref", "main")
	if !strings.Contains(out, "rebuild "+h.git.URL("gear1")+" (dev/gear1) against antikythera 1.2.0: sh ./update.sh antikythera 1.2.0 changed nothing on master\n") {
		t.Errorf("second bump:\n%s", out)
	}
	if again := h.git.Head("gear1", "master"); again != head {
		t.Errorf("the second bump moved master to %s", again)
	}
}
