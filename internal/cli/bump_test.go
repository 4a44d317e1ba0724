package cli

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/forge/githubtest"

	"github.com/gearshift-dev/gearshift/internal/gitops"
)

// TestBump runs bump twice against a real git server and the GitHub fake:
// one pull request per framework release and per tracked unit, prod never
// touched, files byte-identical but for the literals, and a second run
// (after main moved, from a local clone as in a workflow) updates the same
// branches and pull requests instead of opening new ones.
func TestBump(t *testing.T) {
	h := newHarness(t, nil)
	files := stateRepo(h)
	h.git.CreateRepo("state", "main", files)
	url := h.git.URL("state")

	out := h.mustRun(0, "bump", "--repo", url, "--ref", "main")
	for _, want := range []string{
		"opened #1 gearshift/bump-fw-1.5.0: Bump fw to 1.5.0 (2 units)",
		"    frameworks.fw.latest: 1.4.0 -> 1.5.0  environments/frameworks.cue:5:12",
		"    dev/api frameworks.fw: 1.3.0 -> 1.5.0  environments/dev/units.cue:6:18",
		"opened #2 gearshift/bump-dev-api-1.2.0: dev: bump api to 1.2.0",
		"skipped prod/api: prod is never bumped: its latestFramework policy is deny",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("bump output lacks %q:\n%s", want, out)
		}
	}
	prs := h.gh.PullRequests()
	if len(prs) != 2 {
		t.Fatalf("%d pull requests, want 2: %+v", len(prs), prs)
	}
	for _, want := range []string{
		"| dev | api | `frameworks.fw` | `1.3.0` → `1.5.0` | `environments/dev/units.cue:6:18` |",
		"| (all) | – | `frameworks.fw.released` | `2026-10-01` → `2026-11-22` | `environments/frameworks.cue:7:12` |",
	} {
		if !strings.Contains(prs[0].Body, want) {
			t.Errorf("PR #1 body lacks %q:\n%s", want, prs[0].Body)
		}
	}
	if prs[0].Base != "main" || prs[0].Head != "gearshift/bump-fw-1.5.0" {
		t.Errorf("PR #1 is %s -> %s", prs[0].Head, prs[0].Base)
	}
	// Byte-identical but for the literals; prod is never bumped.
	edited := map[string]string{
		"environments/frameworks.cue": strings.NewReplacer(`latest:   "1.4.0"`, `latest:   "1.5.0"`, `"2026-10-01"`, `"2026-11-22"`).Replace(files["environments/frameworks.cue"]),
		"environments/dev/units.cue":  strings.NewReplacer(`fw: "1.3.0"`, `fw: "1.5.0"`, `fw: "1.4.0"`, `fw: "1.5.0"`).Replace(files["environments/dev/units.cue"]),
		"environments/prod/units.cue": files["environments/prod/units.cue"],
		"environments/dev/env.cue":    files["environments/dev/env.cue"],
	}
	for name, want := range edited {
		got, _ := h.git.File("state", "gearshift/bump-fw-1.5.0", name)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s on the framework branch (-want +got):\n%s", name, diff)
		}
	}
	got, _ := h.git.File("state", "gearshift/bump-dev-api-1.2.0", "environments/dev/units.cue")
	if want := strings.Replace(files["environments/dev/units.cue"], `version: "1.0.0"`, `version: "1.2.0"`, 1); got != want {
		t.Errorf("dev/units.cue on the unit branch:\n%s\nwant\n%s", got, want)
	}
	h.git.Fsck("state")

	// main moves on; the second run is from a local clone whose origin is
	// the server (as actions/checkout leaves it): same branches, same PRs.
	main2 := h.git.Commit("state", "main", "docs", map[string]string{"README.md": "the state, again\n"})
	clone, err := gitops.Open(context.Background(), url, "main", t.TempDir(), gitops.Auth{Token: gitToken})
	if err != nil {
		t.Fatal(err)
	}
	out = h.mustRun(0, "bump", "--repo", clone.Dir)
	if !strings.Contains(out, "updated #1 gearshift/bump-fw-1.5.0") || !strings.Contains(out, "updated #2 gearshift/bump-dev-api-1.2.0") {
		t.Errorf("second run:\n%s", out)
	}
	if n := len(h.gh.PullRequests()); n != 2 {
		t.Errorf("%d pull requests after the second run, want 2", n)
	}
	if parent := h.git.Head("state", "gearshift/bump-fw-1.5.0~1"); parent != main2 {
		t.Errorf("the bump branch is on %s, want the new main %s", parent, main2)
	}
	if log := h.git.Log("state", "gearshift/bump-fw-1.5.0"); len(log) != 3 {
		t.Errorf("one bump commit on main expected, log: %q", log)
	}
	var branches []string
	for _, pr := range h.gh.PullRequests() {
		branches = append(branches, pr.Head)
	}
	sort.Strings(branches)
	if diff := cmp.Diff([]string{"gearshift/bump-dev-api-1.2.0", "gearshift/bump-fw-1.5.0"}, branches); diff != "" {
		t.Errorf("branches (-want +got):\n%s", diff)
	}
}

// TestBumpDryRunAndOnlyEnv: --dry-run pushes nothing and opens nothing;
// --env staging bumps staging's units only (none track), not dev's.
func TestBumpDryRunAndOnlyEnv(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", stateRepo(h))
	out := h.mustRun(0, "bump", "--repo", h.git.URL("state"), "--dry-run", "-o", "json")
	var doc proposalsDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if !doc.DryRun || len(doc.Proposals) != 2 || doc.Proposals[0].PullRequest != nil {
		t.Errorf("dry run: %s", out)
	}
	if len(h.gh.PullRequests()) != 0 || len(h.gh.Requests()) != 0 {
		t.Errorf("a dry run talked to GitHub: %+v", h.gh.Requests())
	}
	if _, ok := h.git.File("state", "gearshift/bump-fw-1.5.0", "README.md"); ok {
		t.Errorf("a dry run pushed a branch")
	}
	out = h.mustRun(0, "bump", "--repo", h.git.URL("state"), "--env", "staging", "--dry-run")
	if !strings.Contains(out, "would open gearshift/bump-fw-1.5.0: Bump fw to 1.5.0\n") || strings.Contains(out, "dev/api") {
		t.Errorf("--env staging:\n%s", out)
	}
}

// TestBumpRefusedToken: a wrong git token is refused by the server and the
// error says so without showing either token.
func TestBumpRefusedToken(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", stateRepo(h))
	h.env["GEARSHIFT_GIT_TOKEN"] = "glpat_WRONGtokenGEARSHIFT0000"
	code, _, errOut := h.run("bump", "--repo", h.git.URL("state"))
	if code != ExitFailure || !strings.Contains(errOut, "authentication refused") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	if strings.Contains(errOut, "WRONGtoken") {
		t.Errorf("the wrong token is shown: %s", errOut)
	}
	if h.git.Refused() == 0 {
		t.Errorf("the server refused nothing")
	}
	if len(h.gh.PullRequests()) != 0 {
		t.Errorf("pull requests opened with a refused token")
	}
}

// TestOpenVersionPR is what rollback --pr does: set a unit's version and
// open the pull request; a second call updates it.
func TestOpenVersionPR(t *testing.T) {
	h := newHarness(t, nil)
	files := stateRepo(h)
	h.git.CreateRepo("state", "main", files)
	e := h.testEnv(h.git.URL("state"))
	e.ref = "main"
	c := h.checkout(e)
	for range 2 {
		pr, err := openVersionPR(context.Background(), e, c, "prod", "db", "2.9.0", "3.0.0 corrupts the index")
		if err != nil {
			t.Fatal(err)
		}
		if pr.Number != 1 || pr.Branch != "gearshift/version-prod-db-2.9.0" || !strings.Contains(pr.Body, "Reason: 3.0.0 corrupts the index") {
			t.Errorf("pull request = %+v", pr)
		}
	}
	got, _ := h.git.File("state", "gearshift/version-prod-db-2.9.0", "environments/prod/units.cue")
	if want := strings.Replace(files["environments/prod/units.cue"], `version: "3.0.0"`, `version: "2.9.0"`, 1); got != want {
		t.Errorf("prod/units.cue:\n%s\nwant\n%s", got, want)
	}
	if n := len(h.gh.PullRequests()); n != 1 {
		t.Errorf("%d pull requests, want 1", n)
	}
	if _, err := openVersionPR(context.Background(), e, c, "prod", "db", "3.1.0-rc.1", ""); err == nil || !strings.Contains(err.Error(), "version pattern") {
		t.Errorf("a version breaking the pattern: %v", err)
	}
}

// TestBumpSupersedes: a newer release of a tracked unit opens its own pull
// request and closes the one for the older release, with a comment; the
// framework's pull request, a different proposal, stays open.
func TestBumpSupersedes(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", stateRepo(h))
	url := h.git.URL("state")
	h.mustRun(0, "bump", "--repo", url, "--ref", "main")
	h.git.Tag("api", "v1.3.0", "main")
	h.mustRun(0, "bump", "--repo", url, "--ref", "main")

	state := map[string]string{}
	for _, p := range h.gh.PullRequests() {
		state[p.Head] = p.State
	}
	want := map[string]string{
		"gearshift/bump-fw-1.5.0":      "open",
		"gearshift/bump-dev-api-1.2.0": "closed",
		"gearshift/bump-dev-api-1.3.0": "open",
	}
	if diff := cmp.Diff(want, state); diff != "" {
		t.Errorf("pull requests by branch (-want +got):\n%s", diff)
	}
	var closed githubtest.PullRequest
	for _, p := range h.gh.PullRequests() {
		if p.Head == "gearshift/bump-dev-api-1.2.0" {
			closed = p
		}
	}
	comments := h.gh.Comments(closed.Number)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "Superseded by #3") {
		t.Errorf("comments on the superseded pull request = %+v", comments)
	}
}
