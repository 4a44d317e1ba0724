package gitops

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
)

func TestOpenURLClonesThenFetches(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	first := srv.CreateRepo("state", "main", map[string]string{"environments/dev/units.cue": "package gearshift\n"})
	cache := t.TempDir()

	c, err := Open(ctx, srv.URL("state"), "", cache, auth)
	if err != nil {
		t.Fatal(err)
	}
	if c.Commit != first || c.Ref != "main" || c.IsTag || c.Source != srv.URL("state") {
		t.Errorf("Open = {Commit %s, Ref %q, IsTag %v, Source %s}; want {%s, main, false, %s}", c.Commit, c.Ref, c.IsTag, c.Source, first, srv.URL("state"))
	}
	if !strings.HasPrefix(c.Dir, cache) {
		t.Errorf("Dir %s is not under the cache %s", c.Dir, cache)
	}
	if got := readFile(t, c.Dir, "environments/dev/units.cue"); got != "package gearshift\n" {
		t.Errorf("units.cue = %q", got)
	}

	// Someone pushes; a leftover edit and an untracked file must not survive.
	second := srv.Commit("state", "main", "second", map[string]string{"environments/prod/units.cue": "package prod\n"})
	if err := os.WriteFile(filepath.Join(c.Dir, "environments/dev/units.cue"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "stray.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := srv.Requests()
	c2, err := Open(ctx, srv.URL("state"), "main", cache, auth)
	if err != nil {
		t.Fatal(err)
	}
	// list, then fetch (advertisement, upload-pack): no fresh clone.
	if n := srv.Requests() - before; n != 3 {
		t.Errorf("Open with a new commit made %d requests, want 3", n)
	}
	if c2.Dir != c.Dir || c2.Commit != second {
		t.Errorf("second Open = {Dir %s, Commit %s}; want {%s, %s}", c2.Dir, c2.Commit, c.Dir, second)
	}
	if got := readFile(t, c2.Dir, "environments/prod/units.cue"); got != "package prod\n" {
		t.Errorf("fetched prod/units.cue = %q", got)
	}
	if got := readFile(t, c2.Dir, "environments/dev/units.cue"); got != "package gearshift\n" {
		t.Errorf("dev/units.cue after reset = %q, want the committed content", got)
	}
	if _, err := os.Stat(filepath.Join(c2.Dir, "stray.txt")); !os.IsNotExist(err) {
		t.Errorf("untracked stray.txt survived the reset: %v", err)
	}

	// Nothing new: one round trip (the listing), nothing fetched.
	before = srv.Requests()
	c3, err := Open(ctx, srv.URL("state"), "", cache, auth)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Commit != second {
		t.Errorf("third Open Commit = %s, want %s", c3.Commit, second)
	}
	if n := srv.Requests() - before; n != 1 {
		t.Errorf("an up-to-date Open made %d requests, want 1", n)
	}
}

func TestOpenURLTags(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	first := srv.CreateRepo("state", "main", map[string]string{"version": "1\n"})
	srv.AnnotatedTag("state", "v1.0.0-rel", "main", "release 1.0.0")
	second := srv.Commit("state", "main", "two", map[string]string{"version": "2\n"})
	srv.Tag("state", "v2.0.0-rel", "main")
	cache := t.TempDir()

	for _, tc := range []struct{ ref, commit, version string }{
		{"v1.0.0-rel", first, "1\n"},
		{"refs/tags/v2.0.0-rel", second, "2\n"},
		{"v1.0.0-rel", first, "1\n"}, // from the cache
	} {
		c, err := Open(ctx, srv.URL("state"), tc.ref, cache, auth)
		if err != nil {
			t.Fatalf("Open %s: %v", tc.ref, err)
		}
		if c.Commit != tc.commit || !c.IsTag || c.Ref != strings.TrimPrefix(tc.ref, "refs/tags/") {
			t.Errorf("Open %s = {Commit %s, Ref %q, IsTag %v}; want {%s, %s, true}", tc.ref, c.Commit, c.Ref, c.IsTag, tc.commit, tc.ref)
		}
		if got := readFile(t, c.Dir, "version"); got != tc.version {
			t.Errorf("Open %s: version = %q, want %q", tc.ref, got, tc.version)
		}
	}
}

func TestOpenURLRefErrors(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	srv.CreateRepo("state", "main", map[string]string{"a": "b"})
	srv.Tag("state", "main", "main") // a tag named like the branch

	_, err := Open(ctx, srv.URL("state"), "nope", t.TempDir(), auth)
	if !errors.Is(err, ErrRefNotFound) {
		t.Errorf("Open of a missing ref = %v, want ErrRefNotFound", err)
	}
	_, err = Open(ctx, srv.URL("state"), "main", t.TempDir(), auth)
	if err == nil || !strings.Contains(err.Error(), "both a branch and a tag") {
		t.Errorf("Open of an ambiguous ref = %v, want an ambiguity error", err)
	}
	if c, err := Open(ctx, srv.URL("state"), "refs/heads/main", t.TempDir(), auth); err != nil || c.IsTag {
		t.Errorf("Open refs/heads/main = %+v, %v; want the branch", c, err)
	}
}

func TestOpenWrongTokenRefused(t *testing.T) {
	srv, _ := newServer(t)
	ctx := testContext(t)
	srv.CreateRepo("state", "main", map[string]string{"a": "b"})
	withUser := func(user *url.Userinfo) string {
		u, err := url.Parse(srv.URL("state"))
		if err != nil {
			t.Fatal(err)
		}
		u.User = user
		return u.String()
	}

	tests := []struct {
		name string
		url  string
		auth Auth
		hint string
	}{
		{"wrong token", srv.URL("state"), Auth{Token: "wrongTOKENvalue42"}, "token was refused"},
		{"wrong token in the URL", withUser(url.UserPassword("x-access-token", "wrongTOKENvalue42")), Auth{}, "token was refused"},
		{"wrong token as URL username", withUser(url.User("wrongTOKENvalue42")), Auth{}, "token was refused"},
		{"no token", srv.URL("state"), Auth{}, "no token given"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			c, err := Open(ctx, tc.url, "", cache, tc.auth)
			if err == nil {
				t.Fatalf("Open succeeded: %+v", c)
			}
			if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("error %q: want ErrAuth with %q", err, tc.hint)
			}
			assertNoSecret(t, "error", err.Error())
			assertNoSecret(t, "error %+v", fmt.Sprintf("%+v %#v", err, err))
			assertNoSecret(t, "auth", fmt.Sprintf("%v %+v %#v %s", tc.auth, tc.auth, tc.auth, tc.auth))
		})
	}
}

func TestOpenTokenInURLNeverStored(t *testing.T) {
	srv, _ := newServer(t)
	ctx := testContext(t)
	srv.CreateRepo("state", "main", map[string]string{"a": "b"})
	u, err := url.Parse(srv.URL("state"))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("x-access-token", testToken)

	cache := t.TempDir()
	c, err := Open(ctx, u.String(), "", cache, Auth{})
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, "Source", c.Source)
	assertNoSecret(t, "Checkout", fmt.Sprintf("%+v", *c))
	// Nothing under the cache (the .git/config above all) holds the token.
	err = filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), testToken) {
			t.Errorf("%s holds the token", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenLocal(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	head := srv.CreateRepo("state", "main", map[string]string{"a": "b"})
	srv.Tag("state", "v1.0.0", "main")
	remote, err := Open(ctx, srv.URL("state"), "", t.TempDir(), auth)
	if err != nil {
		t.Fatal(err)
	}
	// The cache is a real repository: open it as a local path.
	dir := remote.Dir

	c, err := Open(ctx, dir, "", "", Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir != dir || c.Commit != head || c.Ref != "main" || c.IsTag {
		t.Errorf("Open(local) = %+v; want Dir %s, Commit %s, Ref main", c, dir, head)
	}
	if c, err := Open(ctx, dir, "refs/heads/main", "", Auth{}); err != nil || c.Ref != "main" {
		t.Errorf("Open(local, refs/heads/main) = %+v, %v", c, err)
	}

	// A branch at another commit is refused: the files in Dir are not its.
	if _, err := CommitBranch(ctx, c, "other", "other", map[string][]byte{"c": []byte("d")}, Author{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, "other", "", Auth{}); err == nil || !strings.Contains(err.Error(), "check other out first") {
		t.Errorf("Open(local, other) = %v, want a refusal", err)
	}
	if _, err := Open(ctx, dir, "missing", "", Auth{}); !errors.Is(err, ErrRefNotFound) {
		t.Errorf("Open(local, missing) = %v, want ErrRefNotFound", err)
	}
	if _, err := Open(ctx, t.TempDir(), "", "", Auth{}); !errors.Is(err, ErrNotRepository) {
		t.Errorf("Open(plain directory) = %v, want ErrNotRepository", err)
	}
}

// TestOpenLocalNoCommitAndUncommitted: a repository without a commit is
// ErrNoCommit (not "HEAD: reference not found"), and Uncommitted lists the
// files that differ from the commit, sorted; a clone of a URL has none.
func TestOpenLocalNoCommitAndUncommitted(t *testing.T) {
	ctx := testContext(t)
	empty := t.TempDir()
	if _, err := git.PlainInit(empty, false); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, empty, "", "", Auth{}); !errors.Is(err, ErrNoCommit) || strings.Contains(err.Error(), "reference not found") {
		t.Errorf("Open(no commit) = %v, want ErrNoCommit", err)
	}

	srv, auth := newServer(t)
	srv.CreateRepo("state", "main", map[string]string{"environments/dev/units.cue": "a", "README.md": "r"})
	remote, err := Open(ctx, srv.URL("state"), "", t.TempDir(), auth)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := remote.Uncommitted(); err != nil || got != nil {
		t.Errorf("Uncommitted(clone) = %q, %v; want none", got, err)
	}
	c, err := Open(ctx, remote.Dir, "", "", Auth{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Uncommitted(); err != nil || len(got) != 0 {
		t.Errorf("Uncommitted(clean) = %q, %v; want none", got, err)
	}
	for name, content := range map[string]string{"environments/dev/units.cue": "b", "environments/qa/env.cue": "q"} {
		p := filepath.Join(c.Dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(c.Dir, "README.md")); err != nil {
		t.Fatal(err)
	}
	got, err := c.Uncommitted()
	if want := []string{"README.md", "environments/dev/units.cue", "environments/qa/env.cue"}; err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Uncommitted = %q, %v; want %q", got, err, want)
	}
}
