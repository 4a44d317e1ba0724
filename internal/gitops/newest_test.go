package gitops

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/go-cmp/cmp"
)

// TestNewestRef: a branch is its tip; a tag pattern is the newest matching
// tag in version order (not the order of the names), annotated tags
// peeled; several patterns must all match. The token goes to the state
// repository's host without being listed in Hosts.
func TestNewestRef(t *testing.T) {
	srv, _ := newServer(t)
	ctx := testContext(t)
	a := srv.CreateRepo("state", "main", map[string]string{"a": "1"})
	srv.Tag("state", "v1.2.0-rel", "main")
	b := srv.Commit("state", "main", "b", map[string]string{"a": "2"})
	srv.AnnotatedTag("state", "v1.10.0-rel", "main", "release 1.10.0")
	c := srv.Commit("state", "main", "c", map[string]string{"a": "3"})
	srv.Tag("state", "v2.0.0", "main")
	srv.Tag("state", "v2.1.0-rel", "main")
	auth := Auth{Token: testToken} // no Hosts: the URL's own host is enough

	for _, tc := range []struct {
		name     string
		branch   string
		patterns []string
		want     Newest
		wantErr  error
	}{
		{name: "branch", branch: "main", want: Newest{Ref: "main", Commit: c}},
		{name: "full branch name", branch: "refs/heads/main", want: Newest{Ref: "main", Commit: c}},
		{name: "newest tag", patterns: []string{`^v[0-9]+\.[0-9]+\.[0-9]+-rel$`}, want: Newest{Ref: "v2.1.0-rel", IsTag: true, Commit: c}},
		{name: "every pattern", patterns: []string{`-rel$`, `^v1\.`}, want: Newest{Ref: "v1.10.0-rel", IsTag: true, Commit: b}},
		{name: "the one match", patterns: []string{`^v1\.2\.`}, want: Newest{Ref: "v1.2.0-rel", IsTag: true, Commit: a}},
		{name: "no matching tag", patterns: []string{`^release-`}, wantErr: ErrRefNotFound},
		{name: "no branch", branch: "release", wantErr: ErrRefNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewestRef(ctx, srv.URL("state"), auth, tc.branch, tc.patterns)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("NewestRef error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("NewestRef (-want +got):\n%s", diff)
			}
		})
	}

	// Without a token the server refuses, and says so without a secret.
	_, err := NewestRef(ctx, srv.URL("state"), Auth{}, "main", nil)
	if !errors.Is(err, ErrAuth) {
		t.Errorf("NewestRef without a token: %v, want ErrAuth", err)
	}
	if got := (Newest{Ref: "v2.1.0-rel", IsTag: true}).FullRef(); got != "refs/tags/v2.1.0-rel" {
		t.Errorf("FullRef = %s", got)
	}
}

// TestCheckoutOriginAndContains: a clone's origin is its URL (a path is
// made a file:// URL, which NewestRef reads); a repository without one
// says ErrNoOrigin. Contains is true for the commit checked out and its
// ancestors (a local commit not pushed), false for a newer commit the
// clone has not fetched.
func TestCheckoutOriginAndContains(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	a := srv.CreateRepo("state", "main", map[string]string{"a": "1"})

	dir := filepath.Join(t.TempDir(), "clone")
	repo, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: srv.URL("state"),
		Auth: &githttp.BasicAuth{Username: "x", Password: testToken}})
	if err != nil {
		t.Fatal(err)
	}
	b := srv.Commit("state", "main", "b", map[string]string{"a": "2"})
	c, err := Open(ctx, dir, "", "", auth)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := c.OriginURL(); err != nil || u != srv.URL("state") {
		t.Errorf("OriginURL = %q, %v; want %s", u, err, srv.URL("state"))
	}
	if !c.Contains(a) || c.Contains(b) {
		t.Errorf("at A: Contains(A) = %v, Contains(B) = %v; want true, false", c.Contains(a), c.Contains(b))
	}

	// A local commit on top of A, not pushed: A is contained.
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	local, err := wt.Commit("local", &git.CommitOptions{AllowEmptyCommits: true,
		Author: &object.Signature{Name: "a", Email: "a@example.com", When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = Open(ctx, dir, "", "", auth); err != nil {
		t.Fatal(err)
	}
	if c.Commit != local.String() || !c.Contains(a) || c.Contains(b) {
		t.Errorf("at a local commit: Commit %s, Contains(A) = %v, Contains(B) = %v; want %s, true, false", c.Commit, c.Contains(a), c.Contains(b), local)
	}

	// A URL's checkout has no origin of its own to ask.
	remote, err := Open(ctx, srv.URL("state"), "main", t.TempDir(), auth)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := remote.OriginURL(); u != "" || err != nil {
		t.Errorf("OriginURL of a URL's checkout = %q, %v; want empty", u, err)
	}

	// A clone of a path: origin is a file:// URL that NewestRef reads.
	pathClone := filepath.Join(t.TempDir(), "clone")
	if _, err := git.PlainCloneContext(ctx, pathClone, false, &git.CloneOptions{URL: srv.Path("state")}); err != nil {
		t.Fatal(err)
	}
	if c, err = Open(ctx, pathClone, "", "", auth); err != nil {
		t.Fatal(err)
	}
	u, err := c.OriginURL()
	if err != nil || u != "file://"+filepath.ToSlash(srv.Path("state")) {
		t.Fatalf("OriginURL of a path's clone = %q, %v", u, err)
	}
	if n, err := NewestRef(ctx, u, Auth{}, "main", nil); err != nil || n.Commit != b {
		t.Errorf("NewestRef(%s) = %+v, %v; want commit %s", u, n, err, b)
	}

	// No remote at all.
	bare := t.TempDir()
	r, err := git.PlainInit(bare, false)
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit("first", &git.CommitOptions{AllowEmptyCommits: true,
		Author: &object.Signature{Name: "a", Email: "a@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if c, err = Open(ctx, bare, "", "", auth); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OriginURL(); !errors.Is(err, ErrNoOrigin) {
		t.Errorf("OriginURL without a remote: %v, want ErrNoOrigin", err)
	}
}

// BenchmarkNewestRef is what an apply that waited for the lock asks the
// state repository before it plans, on the local git server: a branch's
// tip, and the newest of 2,000 release tags (with 2,000 other tags) for a
// tag pattern. requests/op is HTTP round trips (one listing each).
func BenchmarkNewestRef(b *testing.B) {
	srv, auth := newServer(b)
	srv.CreateRepo("state", "main", map[string]string{"a": "1"})
	var tags []string
	for i := range 2000 {
		tags = append(tags, fmt.Sprintf("v1.%d.%d-rel", i/100, i%100), fmt.Sprintf("build-%d", i))
	}
	srv.Tags("state", "main", tags...)
	ctx := context.Background()
	for _, bc := range []struct {
		name     string
		branch   string
		patterns []string
		want     string
	}{
		{"branch", "main", nil, "main"},
		{"tag-of-4000", "", []string{`^v[0-9]+\.[0-9]+\.[0-9]+-rel$`}, "v1.19.99-rel"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			start := srv.Requests()
			for range b.N {
				n, err := NewestRef(ctx, srv.URL("state"), auth, bc.branch, bc.patterns)
				if err != nil || n.Ref != bc.want {
					b.Fatalf("NewestRef = %+v, %v; want %s", n, err, bc.want)
				}
			}
			b.ReportMetric(float64(srv.Requests()-start)/float64(b.N), "requests/op")
		})
	}
}
