package release_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/forge/githubtest"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/release"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
)

const token = "glpat_RELEASEtestTOKEN0123456789"

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func prodEnv() *state.Environment {
	return &state.Environment{Name: "prod", Release: &state.Release{Repository: state.ReleaseState, Tag: "prod-{date}-{commit}"},
		Units: map[string]*state.Unit{"gn3": {Name: "gn3", Version: "0.0.12"}}}
}

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// TestStateTagLocal: a local state repository without an origin gets its
// tag in place, once.
func TestStateTagLocal(t *testing.T) {
	dir := t.TempDir()
	git(t, dir, "init", "--quiet", "--initial-branch=main")
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	git(t, dir, "add", "f")
	git(t, dir, "commit", "--quiet", "-m", "state")
	head := git(t, dir, "rev-parse", "HEAD")
	c, err := gitops.Open(context.Background(), dir, "", "", gitops.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	in := release.Input{Env: prodEnv(), Result: &apply.EnvResult{Name: "prod", Run: "r1"}, Checkout: c, Now: now}
	for i, want := range []string{release.Created, release.Exists} {
		reps := release.Publish(context.Background(), in)
		if len(reps) != 1 || reps[0].Outcome != want || reps[0].Name != "prod-20261122-"+head[:8] {
			t.Errorf("run %d: %+v, want %s", i+1, reps, want)
		}
	}
	if got := git(t, dir, "for-each-ref", "--format=%(refname:short) %(objecttype) %(*objectname)", "refs/tags"); got != "prod-20261122-"+head[:8]+" tag "+head {
		t.Errorf("tags = %q", got)
	}
	git(t, dir, "fsck", "--strict", "--no-progress")
}

// TestStateTagOrigin: a local checkout (a CI's) pushes its tag to its
// origin with the token, which goes to the origin's host; a source on
// another host gets no token, and says why it was refused.
func TestStateTagOrigin(t *testing.T) {
	srv := gitserver.New(t, token)
	head := srv.CreateRepo("state", "main", map[string]string{"f": "x"})
	dir := t.TempDir()
	git(t, dir, "init", "--quiet", "--initial-branch=main")
	git(t, dir, "fetch", "--quiet", srv.Path("state"), "main")
	git(t, dir, "checkout", "--quiet", "FETCH_HEAD", "-B", "main")
	git(t, dir, "remote", "add", "origin", srv.URL("state"))
	c, err := gitops.Open(context.Background(), dir, "", "", gitops.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	auth := gitops.Auth{Token: token}.ForRepo(c)
	env := prodEnv()
	in := release.Input{Env: env, Result: &apply.EnvResult{Name: "prod", Run: "r1"}, Checkout: c, Auth: auth, Now: now}
	reps := release.Publish(context.Background(), in)
	if len(reps) != 1 || reps[0].Outcome != release.Created {
		t.Fatalf("%+v", reps)
	}
	if got := srv.Head("state", "refs/tags/prod-20261122-"+head[:8]); got != head {
		t.Errorf("tag on the server at %s, want %s", got, head)
	}
	if out := git(t, dir, "tag", "-l"); out != "" {
		t.Errorf("the checkout got tags of its own: %q", out)
	}

	// A source on a host the token does not go to (a state's URL names
	// it): anonymous, refused, and the error says why.
	other := gitserver.New(t, "glpat_OTHERserverTOKEN000000000")
	other.CreateRepo("gn3", "main", map[string]string{"g": "y"})
	other.Tag("gn3", "v0.0.12", "main")
	env.Release = nil
	env.Units["gn3"].Track = &state.Track{Source: strings.Replace(other.URL("gn3"), "127.0.0.1", "localhost", 1)}
	env.Units["gn3"].Release = &state.Release{Repository: state.ReleaseSource, Ref: "v{version}", Tag: "gn3-{version}-{commit}"}
	reps = release.Publish(context.Background(), in)
	if len(reps) != 1 || reps[0].Outcome != release.Failed || !strings.Contains(reps[0].Error, "is not one of them") || strings.Contains(reps[0].Error, token) {
		t.Errorf("%+v", reps)
	}
	for _, r := range other.Received() {
		if r.Authorization != "" {
			t.Errorf("the token went to a host it does not belong to: %s %s", r.Method, r.Path)
		}
	}
}

// TestNotDone: a run that failed, or that a policy held, tags nothing.
func TestNotDone(t *testing.T) {
	for _, res := range []*apply.EnvResult{
		{Name: "prod", Counts: apply.Counts{RolledBack: 1}},
		{Name: "prod", Errors: []string{"gn3: could not be observed"}},
		{Name: "prod", BlockingViolations: 1},
		{Name: "prod", Interrupted: true},
	} {
		reps := release.Publish(context.Background(), release.Input{Env: prodEnv(), Result: res, Now: now})
		if len(reps) != 1 || reps[0].Outcome != release.Skipped {
			t.Errorf("%+v: %+v, want skipped", res, reps)
		}
	}
}

// TestSourceGitHubRelease: a unit's release tag in its source, and the
// GitHub release of it in the source's GitHub repository, whose notes
// list the version, its checksum and its artifact.
func TestSourceGitHubRelease(t *testing.T) {
	srv := gitserver.New(t, token)
	src := srv.CreateRepo("gn3", "main", map[string]string{"g": "y"})
	srv.AnnotatedTag("gn3", "v0.0.12", "main", "0.0.12")
	gh := githubtest.New(t, "genenetwork", "genenetwork3", "ghs_RELEASEapiTOKEN0123")
	gh.TagExists = func(tag string) bool { return srv.Head("gn3", "refs/tags/"+tag) == src }
	env := &state.Environment{Name: "production", Units: map[string]*state.Unit{"gn3": {
		Name: "gn3", Version: "0.0.12",
		Artifact: &state.Artifact{Source: "https://user:pw@ci.example.org/gn3-{version}.tar.gz?sig=x", Checksum: "sha256:" + strings.Repeat("0f", 32)},
		Track:    &state.Track{Source: srv.URL("gn3")},
		Release: &state.Release{Repository: state.ReleaseSource, Ref: "v{version}", Tag: "gn3-v{version}-{commit}-{date}",
			GitHubRelease: &state.GitHubRelease{Repository: "genenetwork/genenetwork3"}},
	}}}
	var asked []string
	in := release.Input{Env: env, Result: &apply.EnvResult{Name: "production", Run: "r1"}, Auth: gitops.Auth{Token: token, Hosts: []string{"127.0.0.1"}}, Now: now,
		GitHub: func(repo string) (release.Publisher, error) {
			asked = append(asked, repo)
			return forge.NewGitHub("genenetwork", "genenetwork3", "ghs_RELEASEapiTOKEN0123", forge.WithBaseURL(gh.URL))
		}}
	reps := release.Publish(context.Background(), in)
	tag := "gn3-v0.0.12-" + src[:8] + "-20261122"
	if len(reps) != 2 || reps[0].Name != tag || reps[0].Outcome != release.Created || reps[1].Kind != release.KindGitHubRelease || reps[1].Outcome != release.Created {
		t.Fatalf("reports = %+v", reps)
	}
	if len(asked) != 1 || asked[0] != "genenetwork/genenetwork3" {
		t.Errorf("GitHub asked for %q", asked)
	}
	rels := gh.Releases()
	if len(rels) != 1 || rels[0].Tag != tag || rels[0].Name != tag {
		t.Fatalf("releases = %+v", rels)
	}
	want := "| gn3 | `0.0.12` | `sha256:" + strings.Repeat("0f", 32) + "` | [gn3-0.0.12.tar.gz](https://ci.example.org/gn3-0.0.12.tar.gz) |"
	if !strings.Contains(rels[0].Body, want) || strings.Contains(rels[0].Body, "pw@") || strings.Contains(rels[0].Body, "sig=") {
		t.Errorf("notes do not list the artifact without its credentials:\n%s", rels[0].Body)
	}
}
