package cli

import (
	"net/url"
	"strings"
	"testing"
)

// Where the git token goes, through the whole command (issue 8, item 6).
// The harness checks after each test that no token was printed, committed
// or sent to the API.

// TestBumpWithTokenInRepoURL: bump --repo http://x-access-token:T@host/...
// with no git token in the environment lists the tags beside the state,
// clones and pushes with T, and opens the pull requests; T is printed
// nowhere.
func TestBumpWithTokenInRepoURL(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", stateRepo(h))
	delete(h.env, "GEARSHIFT_GIT_TOKEN")
	u, err := url.Parse(h.git.URL("state"))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("x-access-token", gitToken)

	out := h.mustRun(0, "bump", "--repo", u.String(), "--ref", "main")
	if !strings.Contains(out, "opened #1 gearshift/bump-fw-1.5.0") || !strings.Contains(out, "opened #2 gearshift/bump-dev-api-1.2.0") {
		t.Errorf("bump output:\n%s", out)
	}
	if _, ok := h.git.File("state", "gearshift/bump-fw-1.5.0", "environments/frameworks.cue"); !ok {
		t.Errorf("the bump branch was not pushed")
	}
}

// TestBumpTokenStaysWithTheStateHost: a release source that the state names
// on another host gets no token, even when it asks for one; bump reports
// the source's error, saying the token was withheld.
func TestBumpTokenStaysWithTheStateHost(t *testing.T) {
	h := newHarness(t, nil)
	files := stateRepo(h)
	// The same server under another name is another host.
	other := strings.Replace(h.git.URL("api"), "127.0.0.1", "localhost", 1)
	files["environments/dev/units.cue"] = strings.ReplaceAll(files["environments/dev/units.cue"], h.git.URL("api"), other)
	h.git.CreateRepo("state", "main", files)

	code, out, errOut := h.run("bump", "--repo", h.git.URL("state"), "--ref", "main", "--dry-run")
	if code != ExitFailure || !strings.Contains(out, "GEARSHIFT_GIT_TOKEN_HOSTS") {
		t.Errorf("exit %d, want %d with the source's error naming GEARSHIFT_GIT_TOKEN_HOSTS\nstdout:\n%s\nstderr:\n%s", code, ExitFailure, out, errOut)
	}
	for _, r := range h.git.Received() {
		if strings.HasPrefix(r.Host, "localhost:") && r.Authorization != "" {
			t.Errorf("the source on another host was sent credentials: %s %s", r.Method, r.Path)
		}
	}

	// Named in GEARSHIFT_GIT_TOKEN_HOSTS, it gets the token.
	ou, err := url.Parse(other)
	if err != nil {
		t.Fatal(err)
	}
	h.env["GEARSHIFT_GIT_TOKEN_HOSTS"] = ou.Host
	if code, out, errOut := h.run("bump", "--repo", h.git.URL("state"), "--ref", "main", "--dry-run"); code != 0 {
		t.Errorf("with the host allowed: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestRepoURLWithQueryPrintsNoToken: a token in a --repo query string is
// refused, and the error shows the URL without it.
func TestRepoURLWithQueryPrintsNoToken(t *testing.T) {
	h := newHarness(t, map[string]string{"README.md": "x\n"})
	code, _, errOut := h.run("validate", "--repo", h.git.URL("state")+"?private_token="+gitToken)
	if code == 0 || !strings.Contains(errOut, h.git.URL("state")+"?***") {
		t.Errorf("exit %d, stderr:\n%s\nwant a failure naming the URL with its query redacted", code, errOut)
	}
	if n := h.git.Requests(); n != 0 {
		t.Errorf("%d requests sent to the server, want none", n)
	}
}
