package rebuild

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/bump"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/forge/githubtest"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
)

const (
	gitToken = "glpat_REBUILDgitTOKEN0123456789secret"
	ghToken  = "ghp_REBUILDgithubTOKEN9876543210secret"
)

// TestMain makes this test binary a stand-in for `mix deps.update NAME`
// when REBUILD_FAKE_MIX is set (the update command of the tests, started
// through internal/proc like any user's command): it moves NAME's tag in
// ./mix.lock to $REBUILD_FAKE_VERSION, and fetches a dependency into deps/
// as mix does (an untracked file that must not be committed). With
// REBUILD_FAKE_FAIL it fails as a broken update would.
func TestMain(m *testing.M) {
	if os.Getenv("REBUILD_FAKE_MIX") == "1" {
		os.Exit(fakeMix(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeMix(args []string) int {
	if os.Getenv("REBUILD_FAKE_FAIL") != "" {
		fmt.Fprintln(os.Stderr, "** (Mix) Could not resolve dependency antikythera")
		return 1
	}
	if len(args) != 2 || args[0] != "deps.update" {
		fmt.Fprintln(os.Stderr, "usage: mix deps.update NAME")
		return 2
	}
	b, err := os.ReadFile("mix.lock")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	re := regexp.MustCompile(`("` + regexp.QuoteMeta(args[1]) + `": \{:git, "[^"]*", )"[0-9a-f]+", \[tag: "[^"]*"\]`)
	v := os.Getenv("REBUILD_FAKE_VERSION")
	out := re.ReplaceAll(b, []byte(`${1}"`+fmt.Sprintf("%x", v)+`", [tag: "`+v+`"]`))
	if err := os.WriteFile("mix.lock", out, 0o644); err != nil {
		return 1
	}
	os.MkdirAll("deps/"+args[1], 0o755)
	os.WriteFile("deps/"+args[1]+"/mix.exs", []byte("fetched\n"), 0o644)
	return 0
}

func mixLock(v string) string {
	return fmt.Sprintf("%%{\n  \"antikythera\": {:git, \"https://github.com/access-company/antikythera.git\", \"%x\", [tag: %q]},\n}\n", v, v)
}

// rebuildOf is the rebuild bump decides for gear, with the test binary as
// its mix.
func rebuildOf(repository, push string, env map[string]string) *bump.Rebuild {
	self, _ := os.Executable()
	e := map[string]string{"REBUILD_FAKE_MIX": "1", "REBUILD_FAKE_VERSION": "1.2.0"}
	for k, v := range env {
		e[k] = v
	}
	rb := &bump.Rebuild{
		Units: []string{"dev/gear1"}, Framework: "antikythera", From: "1.1.0", To: "1.2.0",
		Repository: repository, Branch: "master", Push: push, GitHub: "acme/gear1",
		Command: []string{self, "deps.update", "antikythera"}, Env: e, Timeout: time.Minute,
		Title: "Update antikythera to 1.2.0", Message: "Update antikythera to 1.2.0\n\nby the test\n", Body: "antikythera `1.2.0` was released.\n",
	}
	if push == state.RebuildPullRequest {
		rb.WorkBranch = "gearshift/rebuild-antikythera-1.2.0"
	}
	return rb
}

func serverAuth(t *testing.T, git *gitserver.Server) gitops.Auth {
	u, err := url.Parse(git.URL("x"))
	if err != nil {
		t.Fatal(err)
	}
	return gitops.Auth{Token: gitToken, Hosts: []string{u.Host}}
}

// TestRebuildPush is the story's dev: the update is pushed to master,
// which the environment deploys from; nothing it fetched is committed; a
// second run finds nothing to change and commits nothing.
func TestRebuildPush(t *testing.T) {
	ctx := context.Background()
	git := gitserver.New(t, gitToken)
	base := git.CreateRepo("gear1", "master", map[string]string{"mix.lock": mixLock("1.1.0"), "mix.exs": "defmodule Gear1 do end\n"})
	o := Options{Auth: serverAuth(t, git), WorkDir: t.TempDir()}

	res := Run(ctx, rebuildOf(git.URL("gear1"), state.RebuildBranch, nil), o)
	if res.Error != "" || res.Pushed != "master" || res.Commit == "" || res.Unchanged {
		t.Fatalf("result %+v", res)
	}
	if head := git.Head("gear1", "master"); head != res.Commit {
		t.Errorf("master is at %s, want the rebuild's commit %s", head, res.Commit)
	}
	if got, _ := git.File("gear1", "master", "mix.lock"); got != mixLock("1.2.0") {
		t.Errorf("mix.lock on master:\n%s\nwant\n%s", got, mixLock("1.2.0"))
	}
	if _, ok := git.File("gear1", "master", "deps/antikythera/mix.exs"); ok {
		t.Error("the fetched dependency was committed")
	}
	log := git.Log("gear1", "master")
	if len(log) != 2 || !strings.Contains(log[0], "Update antikythera to 1.2.0") {
		t.Errorf("master's log = %q, want the update on top of the initial commit %s", log, base)
	}
	git.Fsck("gear1")

	again := Run(ctx, rebuildOf(git.URL("gear1"), state.RebuildBranch, nil), o)
	if again.Error != "" || !again.Unchanged || again.Commit != "" {
		t.Errorf("second run: %+v, want unchanged", again)
	}
	if head := git.Head("gear1", "master"); head != res.Commit {
		t.Errorf("the second run moved master to %s", head)
	}
}

// TestRebuildPullRequest: the update goes to a work branch, and a pull
// request against master is opened in the gear's repository (the API fake
// checks the calls); a second run updates the same pull request; master
// is untouched.
func TestRebuildPullRequest(t *testing.T) {
	ctx := context.Background()
	git := gitserver.New(t, gitToken)
	base := git.CreateRepo("gear1", "master", map[string]string{"mix.lock": mixLock("1.1.0")})
	gh := githubtest.New(t, "acme", "gear1", ghToken)
	var asked []string
	o := Options{Auth: serverAuth(t, git), WorkDir: t.TempDir(), Footer: "Proposed by gearshift.",
		Forge: func(repo string) (forge.Forge, error) {
			asked = append(asked, repo)
			owner, name, _ := strings.Cut(repo, "/")
			return forge.NewGitHub(owner, name, ghToken, forge.WithBaseURL(strings.TrimSuffix(gh.URL, "/")+"/"))
		}}
	for run := 1; run <= 2; run++ {
		res := Run(ctx, rebuildOf(git.URL("gear1"), state.RebuildPullRequest, nil), o)
		if res.Error != "" || res.Pushed != "gearshift/rebuild-antikythera-1.2.0" || res.PullRequest == nil || res.Created != (run == 1) {
			t.Fatalf("run %d: %+v", run, res)
		}
	}
	prs := gh.PullRequests()
	if len(prs) != 1 || prs[0].Head != "gearshift/rebuild-antikythera-1.2.0" || prs[0].Base != "master" ||
		prs[0].Title != "Update antikythera to 1.2.0" || !strings.HasSuffix(prs[0].Body, "Proposed by gearshift.\n") {
		t.Errorf("pull requests = %+v", prs)
	}
	if strings.Join(asked, " ") != "acme/gear1 acme/gear1" {
		t.Errorf("forge asked for %q", asked)
	}
	if head := git.Head("gear1", "master"); head != base {
		t.Errorf("master moved to %s", head)
	}
	if got, _ := git.File("gear1", "gearshift/rebuild-antikythera-1.2.0", "mix.lock"); got != mixLock("1.2.0") {
		t.Errorf("mix.lock on the work branch:\n%s", got)
	}
}

// TestRebuildCommandFails: a failing update says why (its last line) and
// pushes nothing.
func TestRebuildCommandFails(t *testing.T) {
	git := gitserver.New(t, gitToken)
	base := git.CreateRepo("gear1", "master", map[string]string{"mix.lock": mixLock("1.1.0")})
	res := Run(context.Background(), rebuildOf(git.URL("gear1"), state.RebuildBranch, map[string]string{"REBUILD_FAKE_FAIL": "1"}),
		Options{Auth: serverAuth(t, git), WorkDir: t.TempDir()})
	if !strings.Contains(res.Error, "Could not resolve dependency antikythera") || res.Pushed != "" {
		t.Errorf("result %+v, want the command's error and nothing pushed", res)
	}
	if head := git.Head("gear1", "master"); head != base {
		t.Errorf("master moved to %s", head)
	}
}

// TestAuthFor: the token goes only to the hosts it is meant for, never to
// a host a repository URL of the state names.
func TestAuthFor(t *testing.T) {
	a := gitops.Auth{Token: gitToken, Hosts: []string{"github.com", "git.example:8443"}}
	for _, tt := range []struct {
		url  string
		sent bool
	}{
		{"https://github.com/acme/gear1.git", true},
		{"https://GitHub.com/acme/gear1.git", true},
		{"https://git.example:8443/gear1.git", true},
		{"https://git.example/gear1.git", false},
		{"https://attacker.example/github.com/gear1.git", false},
		{"/srv/git/gear1", false},
	} {
		if got := authFor(tt.url, a).Token != ""; got != tt.sent {
			t.Errorf("authFor(%s) sends the token: %v, want %v", tt.url, got, tt.sent)
		}
	}
}

func TestGitHubRepository(t *testing.T) {
	for _, tt := range []struct{ repo, github, want, err string }{
		{"https://github.com/access-company/gear1.git", "", "access-company/gear1", ""},
		{"https://ghe.example/acme/gear1", "", "acme/gear1", ""},
		{"https://git.example/gear1.git", "acme/gear1", "acme/gear1", ""},
		{"https://git.example/acme/gear1.git", "", "", "set rebuild.github"},
		{"https://github.com/acme/group/gear1.git", "", "", "set rebuild.github"},
	} {
		got, err := githubRepository(&bump.Rebuild{Repository: tt.repo, GitHub: tt.github}, []string{"ghe.example"})
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("githubRepository(%s, %q) = %q, %v; want %q, %q", tt.repo, tt.github, got, err, tt.want, tt.err)
		}
	}
}
