package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
)

// releaseEnvCUE is GeneNetwork's production: gn3 follows its source's
// release tags, and the apply tags the source commit that reached
// production (gn3-v0.0.12-794db6e2-20220113) and the state commit applied,
// with a GitHub release of the latter.
func releaseEnvCUE(sourceURL, version string, art artifactServer) string {
	return `package gearshift

environment: {
	name: "prod"
	deployFrom: branch: "main"
	targets: t: exec: {status: ["sh", "./status.sh"], deploy: ["sh", "./deploy.sh"]}
	release: {
		tag: "prod-{date}-{commit}"
		githubRelease: links: [{name: "guix declaration", url: "https://archive.example.org/state/{commit}.scm"}]
	}
}

units: gn3: {
	kind: "gear"
	version: "` + version + `"
	target: "t"
	artifact: {source: "` + art.url + `/gn3-{version}.tar.gz", checksum: "` + art.sum + `"}
	track: source: "` + sourceURL + `"
	release: {
		repository: "source"
		ref: "v{version}"
		tag: "gn3-v{version}-{commit}-{date}"
	}
}
`
}

// artifactServer serves one release tarball under any name, as a CI's
// artifact store would.
type artifactServer struct{ url, sum string }

func newArtifactServer(t *testing.T) artifactServer {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("gn3\n")
	if err := tw.WriteHeader(&tar.Header{Name: "VERSION", Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	gz.Close()
	data := buf.Bytes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(data)
	return artifactServer{url: srv.URL, sum: "sha256:" + hex.EncodeToString(sum[:])}
}

// tagsOf lists repo's tags on the git server as "name commit".
func tagsOf(t *testing.T, h *harness, repo string) []string {
	t.Helper()
	out, err := exec.Command("git", "-C", h.git.Path(repo), "for-each-ref", "--format=%(refname:short) %(objecttype) %(if)%(*objectname)%(then)%(*objectname)%(else)%(objectname)%(end)", "refs/tags").CombinedOutput()
	if err != nil {
		t.Fatalf("git for-each-ref: %v: %s", err, out)
	}
	var tags []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			tags = append(tags, l)
		}
	}
	return tags
}

func published(t *testing.T, out string) []apply.Report {
	t.Helper()
	var r apply.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("apply -o json: %v\n%s", err, out)
	}
	var reps []apply.Report
	for _, e := range r.Environments {
		reps = append(reps, e.Published...)
	}
	return reps
}

func reportOf(reps []apply.Report, kind, namePrefix string) (apply.Report, bool) {
	for _, r := range reps {
		if r.Kind == kind && strings.HasPrefix(r.Name, namePrefix) {
			return r, true
		}
	}
	return apply.Report{}, false
}

// TestApplyReleaseTags: GeneNetwork's STEP 04. A successful apply to prod
// tags the source commit of gn3's version and the state commit, once: a
// re-run, the next day too, creates nothing; the GitHub release lists
// the version, its checksum and the archived artifacts. A failed apply
// tags nothing.
func TestApplyReleaseTags(t *testing.T) {
	t.Setenv("GS_TEST_STATE", t.TempDir())
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	art := newArtifactServer(t)
	h.env["GITHUB_SERVER_URL"] = "https://github.example.com"
	h.env["GITHUB_RUN_ID"] = "4242"

	src := h.git.CreateRepo("gn3", "main", map[string]string{"README": "gn3\n"})
	h.git.AnnotatedTag("gn3", "v0.0.12", "main", "gn3 0.0.12")
	h.git.Commit("gn3", "main", "after the release", map[string]string{"NEWS": "more\n"})
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":        "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":                 statusScript,
		"deploy.sh":                 deployScript,
		"environments/prod/env.cue": releaseEnvCUE(h.git.URL("gn3"), "0.0.12", art),
	})
	h.gh.TagExists = func(tag string) bool {
		for _, l := range tagsOf(t, h, "state") {
			if strings.HasPrefix(l, tag+" ") {
				return true
			}
		}
		return false
	}
	url := h.git.URL("state")
	stateCommit := h.git.Head("state", "main")

	out := h.mustRun(0, "apply", "prod", "--repo", url, "-o", "json")
	reps := published(t, out)
	wantSource := "gn3-v0.0.12-" + src[:8] + "-20261122"
	wantState := "prod-20261122-" + stateCommit[:8]
	// for-each-ref sorts by name; both are annotated tags of src.
	if got, want := strings.Join(tagsOf(t, h, "gn3"), "\n"), wantSource+" tag "+src+"\nv0.0.12 tag "+src; got != want {
		t.Errorf("tags of gn3:\n%s\nwant\n%s", got, want)
	}
	if got := tagsOf(t, h, "state"); len(got) != 1 || got[0] != wantState+" tag "+stateCommit {
		t.Errorf("tags of state = %q, want %s annotated at %s", got, wantState, stateCommit)
	}
	for _, want := range []struct{ kind, name, outcome string }{
		{"release", wantSource, "created"}, {"release", wantState, "created"}, {"github-release", wantState, "created"},
	} {
		if r, ok := reportOf(reps, want.kind, want.name); !ok || r.Outcome != want.outcome {
			t.Errorf("report %s %s = %+v, want %s (all: %+v)", want.kind, want.name, r, want.outcome, reps)
		}
	}
	rels := h.gh.Releases()
	if len(rels) != 1 || rels[0].Tag != wantState {
		t.Fatalf("GitHub releases = %+v, want one of %s", rels, wantState)
	}
	for _, want := range []string{"| gn3 | `0.0.12` | `" + art.sum + "` | [gn3-0.0.12.tar.gz](" + art.url + "/gn3-0.0.12.tar.gz) |",
		"[guix declaration](https://archive.example.org/state/" + stateCommit[:8] + ".scm)",
		"State commit `" + stateCommit + "`", "[Log of the apply](https://github.example.com/acme/state/actions/runs/4242)"} {
		if !strings.Contains(rels[0].Body, want) {
			t.Errorf("release notes lack %q:\n%s", want, rels[0].Body)
		}
	}
	msg, err := exec.Command("git", "-C", h.git.Path("gn3"), "tag", "-l", "--format=%(contents)", wantSource).CombinedOutput()
	if err != nil || !strings.Contains(string(msg), "gn3 0.0.12 "+art.sum) || !strings.Contains(string(msg), stateCommit) {
		t.Errorf("message of %s: %v\n%s", wantSource, err, msg)
	}
	h.git.Fsck("gn3")
	h.git.Fsck("state")

	// Created once: a re-run, and one the next day, find the tags.
	for _, now := range []string{"2026-11-22T13:00:00Z", "2026-11-23T09:00:00Z"} {
		h.env["GEARSHIFT_NOW"] = now
		reps := published(t, h.mustRun(0, "apply", "prod", "--repo", url, "-o", "json"))
		for _, name := range []string{wantSource, wantState} {
			if r, ok := reportOf(reps, "release", name); !ok || r.Outcome != "exists" {
				t.Errorf("%s: re-run report of %s = %+v, want exists", now, name, r)
			}
		}
		if r, ok := reportOf(reps, "github-release", wantState); !ok || r.Outcome != "exists" {
			t.Errorf("%s: re-run GitHub release = %+v, want exists", now, r)
		}
	}
	if n := len(tagsOf(t, h, "gn3")) + len(tagsOf(t, h, "state")); n != 3 {
		t.Errorf("re-runs made tags: gn3 %q, state %q", tagsOf(t, h, "gn3"), tagsOf(t, h, "state"))
	}
	if n := len(h.gh.Releases()); n != 1 {
		t.Errorf("re-runs made %d GitHub releases, want 1", n)
	}
}

// TestApplyReleaseNotMoved: a release tag's name taken at another commit
// is never moved: the apply reports it and exits 1, the tag stays; and a
// failed deploy tags nothing.
func TestApplyReleaseNotMoved(t *testing.T) {
	t.Setenv("GS_TEST_STATE", t.TempDir())
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	art := newArtifactServer(t)
	src := h.git.CreateRepo("gn3", "main", map[string]string{"README": "gn3\n"})
	h.git.Tag("gn3", "v0.0.12", "main")
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":        "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":                 statusScript,
		"deploy.sh":                 deployScript + "[ \"$GEARSHIFT_VERSION\" != 9.9.9 ] || { echo 'no such release' >&2; exit 1; }\n",
		"environments/prod/env.cue": strings.Replace(releaseEnvCUE(h.git.URL("gn3"), "0.0.12", art), "githubRelease: links", "_x: links", 1),
	})
	// Someone else's tag with the name the release would take, elsewhere.
	other := h.git.Commit("gn3", "main", "other", map[string]string{"X": "x\n"})
	taken := "gn3-v0.0.12-" + src[:8] + "-20261122"
	h.git.Tag("gn3", taken, other)

	code, out, stderr := h.run("apply", "prod", "--repo", h.git.URL("state"), "-o", "json")
	if code != ExitFailure {
		t.Fatalf("apply with a taken tag name: exit %d, want 1\n%s\n%s", code, out, stderr)
	}
	r, _ := reportOf(published(t, out), "release", taken)
	if r.Outcome != "failed" || !strings.Contains(r.Error, "never moved") {
		t.Errorf("report = %+v, want failed: never moved", r)
	}
	if !strings.Contains(stderr, "release "+taken+" failed") {
		t.Errorf("stderr does not report the tag:\n%s", stderr)
	}
	if got := h.git.Head("gn3", "refs/tags/"+taken); got != other {
		t.Errorf("the tag moved to %s, want it at %s", got, other)
	}

	// A failed deploy: no tag at all.
	h.git.Commit("state", "main", "9.9.9", map[string]string{"environments/prod/env.cue": releaseEnvCUE(h.git.URL("gn3"), "9.9.9", art)})
	before := len(tagsOf(t, h, "state"))
	code, out, _ = h.run("apply", "prod", "--repo", h.git.URL("state"), "-o", "json")
	if code != ExitFailure {
		t.Fatalf("apply of a failing version: exit %d, want 1", code)
	}
	for _, r := range published(t, out) {
		if r.Kind == "release" && r.Outcome != "skipped" {
			t.Errorf("a failed apply published %+v", r)
		}
	}
	if after := len(tagsOf(t, h, "state")); after != before {
		t.Errorf("a failed apply tagged the state: %q", tagsOf(t, h, "state"))
	}
}
