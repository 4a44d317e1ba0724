package gitserver_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
)

const token = "s3cret-token-for-tests"

// gitCLI runs the real git client against the server, hermetically.
func gitCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid",
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func withToken(t *testing.T, raw, user, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

func TestCloneAndPushWithGitCLI(t *testing.T) {
	srv := gitserver.New(t, token)
	first := srv.CreateRepo("state", "main", map[string]string{"README": "hello\n", "env/dev.cue": "package x\n"})
	srv.Tag("state", "v1.0.0", "main")

	dir := t.TempDir()
	clone := filepath.Join(dir, "clone")
	if out, err := gitCLI(t, dir, "clone", "--quiet", withToken(t, srv.URL("state"), "x-access-token", token), clone); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(clone, "env", "dev.cue"))
	if err != nil || string(got) != "package x\n" {
		t.Fatalf("cloned env/dev.cue = %q, %v; want %q", got, err, "package x\n")
	}
	if err := os.WriteFile(filepath.Join(clone, "new.txt"), []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "new.txt"}, {"commit", "--quiet", "-m", "add new"}, {"push", "--quiet", "origin", "main"}} {
		if out, err := gitCLI(t, clone, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if got, ok := srv.File("state", "main", "new.txt"); !ok || got != "new\n" {
		t.Errorf("pushed new.txt = %q, %v; want %q", got, ok, "new\n")
	}
	if got := srv.Head("state", "v1.0.0"); got != first {
		t.Errorf("tag v1.0.0 at %s, want %s", got, first)
	}
	if got, want := srv.Log("state", "main"), []string{"add new", "initial commit"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("log = %q, want %q", got, want)
	}
	if srv.Requests() == 0 {
		t.Errorf("Requests() = 0 after a clone and a push")
	}
}

func TestWrongTokenRefused(t *testing.T) {
	srv := gitserver.New(t, token)
	srv.CreateRepo("state", "main", map[string]string{"a": "b"})

	for _, tc := range []struct{ name, url string }{
		{"wrong", withToken(t, srv.URL("state"), "x-access-token", "not-the-token")},
		{"missing", srv.URL("state")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out, err := gitCLI(t, dir, "ls-remote", tc.url)
			if err == nil {
				t.Fatalf("ls-remote succeeded with a %s token:\n%s", tc.name, out)
			}
		})
	}

	resp, err := http.Get(srv.URL("state") + "/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("anonymous request: status %d, WWW-Authenticate %q; want 401 with a challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if srv.Refused() == 0 {
		t.Errorf("Refused() = 0 after refused requests")
	}
}

func TestManyTags(t *testing.T) {
	srv := gitserver.New(t, "")
	srv.CreateRepo("lib", "main", nil)
	tags := make([]string, 50)
	for i := range tags {
		tags[i] = "v1.0." + string(rune('0'+i/10)) + string(rune('0'+i%10))
	}
	srv.Tags("lib", "main", tags...)
	srv.AnnotatedTag("lib", "v2.0.0", "main", "release 2.0.0")
	out, err := gitCLI(t, t.TempDir(), "ls-remote", "--tags", srv.URL("lib"))
	if err != nil {
		t.Fatalf("ls-remote: %v\n%s", err, out)
	}
	if n := strings.Count(out, "refs/tags/v1.0."); n != 50 {
		t.Errorf("ls-remote lists %d v1.0.x tags, want 50", n)
	}
	if !strings.Contains(out, "refs/tags/v2.0.0^{}") {
		t.Errorf("ls-remote does not list the peeled annotated tag:\n%s", out)
	}
}

// TestReceivedRecordsAuthorization: the server records what each request
// carried, refused or not, and under which host name it was reached.
func TestReceivedRecordsAuthorization(t *testing.T) {
	srv := gitserver.New(t, token)
	srv.CreateRepo("state", "main", nil)
	asLocalhost := strings.Replace(srv.URL("state"), "127.0.0.1", "localhost", 1)
	for _, tc := range []struct {
		url, user, password string
	}{
		{srv.URL("state"), "x-access-token", token},
		{asLocalhost, "x-access-token", "wrong"},
	} {
		req, err := http.NewRequest(http.MethodGet, tc.url+"/info/refs?service=git-upload-pack", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(tc.user, tc.password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := srv.Received()
	if len(got) != 2 {
		t.Fatalf("received %d requests, want 2: %+v", len(got), got)
	}
	if _, pw, _ := (&http.Request{Header: http.Header{"Authorization": {got[0].Authorization}}}).BasicAuth(); pw != token || got[0].Status != 0 || !strings.HasPrefix(got[0].Host, "127.0.0.1:") {
		t.Errorf("first request recorded as %+v, want the token, served, on 127.0.0.1", got[0].Host)
	}
	if got[1].Status != http.StatusUnauthorized || !strings.HasPrefix(got[1].Host, "localhost:") || got[1].Authorization == "" {
		t.Errorf("second request recorded as status %d on %s, want 401 on localhost with its header", got[1].Status, got[1].Host)
	}
}
