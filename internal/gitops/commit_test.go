package gitops

import (
	"errors"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/google/go-cmp/cmp"
)

func TestCommitBranchAndPush(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	base := srv.CreateRepo("state", "main", map[string]string{
		"environments/dev/units.cue":  "version: \"1.3.0\"\n",
		"environments/dev/target.cue": "target: local\n",
	})
	c, err := Open(ctx, srv.URL("state"), "main", t.TempDir(), auth)
	if err != nil {
		t.Fatal(err)
	}

	const branch = "gearshift/bump/greeter-1.4.0"
	commit, err := CommitBranch(ctx, c, branch, "bump greeter to 1.4.0", map[string][]byte{
		"environments/dev/units.cue": []byte("version: \"1.4.0\"\n"),
		"BUMPED":                     []byte("yes\n"),
	}, Author{Name: "bot", Email: "bot@example.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	// The working tree is untouched: the caller decides what Dir holds.
	if got := readFile(t, c.Dir, "environments/dev/units.cue"); got != "version: \"1.3.0\"\n" {
		t.Errorf("working tree changed by CommitBranch: %q", got)
	}
	if err := Push(ctx, c, branch, false, auth); err != nil {
		t.Fatal(err)
	}
	if got := srv.Head("state", branch); got != commit {
		t.Errorf("server %s at %s, want %s", branch, got, commit)
	}
	if got := srv.Log("state", branch); len(got) != 2 || got[0] != "bump greeter to 1.4.0" {
		t.Errorf("server log of %s = %q", branch, got)
	}
	if got := srv.Head("state", branch+"~1"); got != base {
		t.Errorf("parent of the bump commit = %s, want %s", got, base)
	}

	// A fresh clone of the branch shows the files.
	clone, err := Open(ctx, srv.URL("state"), branch, t.TempDir(), auth)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"environments/dev/units.cue":  "version: \"1.4.0\"\n",
		"environments/dev/target.cue": "target: local\n",
		"BUMPED":                      "yes\n",
	} {
		if got := readFile(t, clone.Dir, name); got != want {
			t.Errorf("clone %s = %q, want %q", name, got, want)
		}
	}

	// Rebuilding the branch from main again needs a forced push.
	if _, err := CommitBranch(ctx, c, branch, "bump greeter to 1.4.1", map[string][]byte{
		"environments/dev/units.cue": []byte("version: \"1.4.1\"\n"),
	}, Author{}); err != nil {
		t.Fatal(err)
	}
	if err := Push(ctx, c, branch, false, auth); err == nil {
		t.Errorf("a non-fast-forward push without force succeeded")
	}
	if err := Push(ctx, c, branch, true, auth); err != nil {
		t.Fatal(err)
	}
	if got, _ := srv.File("state", branch, "environments/dev/units.cue"); got != "version: \"1.4.1\"\n" {
		t.Errorf("after a forced push units.cue = %q", got)
	}
	srv.Fsck("state")
	// Pushing what is there already is fine.
	if err := Push(ctx, c, branch, true, auth); err != nil {
		t.Errorf("pushing an up-to-date branch: %v", err)
	}

	// A checkout cloned from a URL pushes with the credential it was
	// cloned with, whatever auth the caller has at hand.
	if err := Push(ctx, c, branch, true, Auth{Token: "wrongTOKENvalue42"}); err != nil {
		t.Errorf("Push of a URL checkout with another auth = %v, want the clone's credential used", err)
	}
}

func TestCommitBranchRefusals(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	srv.CreateRepo("state", "main", map[string]string{"a.cue": "a\n"})
	c, err := Open(ctx, srv.URL("state"), "", t.TempDir(), auth)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		branch string
		files  map[string][]byte
	}{
		{"checked out branch", "main", map[string][]byte{"b": []byte("b")}},
		{"invalid branch", "bad..name", map[string][]byte{"b": []byte("b")}},
		{"empty branch", "", map[string][]byte{"b": []byte("b")}},
		{"dot dot", "x", map[string][]byte{"../escape": []byte("b")}},
		{"absolute", "x", map[string][]byte{"/etc/passwd": []byte("b")}},
		{"git dir", "x", map[string][]byte{".git/config": []byte("b")}},
		{"git dir case", "x", map[string][]byte{"sub/.GIT/hooks/x": []byte("b")}},
		{"backslash", "x", map[string][]byte{`a\b`: []byte("b")}},
		{"empty segment", "x", map[string][]byte{"a//b": []byte("b")}},
		{"file and directory", "x", map[string][]byte{"d": []byte("1"), "d/e": []byte("2")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := CommitBranch(ctx, c, tc.branch, "m", tc.files, Author{}); err == nil {
				t.Errorf("CommitBranch = %s, want an error", got)
			}
		})
	}
	if _, err := CommitBranch(ctx, c, "same", "m", map[string][]byte{"a.cue": []byte("a\n")}, Author{}); !errors.Is(err, ErrNoChanges) {
		t.Errorf("CommitBranch with identical content = %v, want ErrNoChanges", err)
	}
}

func TestWriteTree(t *testing.T) {
	s := memory.NewStorage()
	commit := func(base *object.Commit, files map[string][]byte) *object.Commit {
		t.Helper()
		h, err := commitFiles(s, base, files, "m", Author{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := object.GetCommit(s, h)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	files := func(c *object.Commit) map[string]string {
		t.Helper()
		tree, err := c.Tree()
		if err != nil {
			t.Fatal(err)
		}
		got, err := readTree(tree)
		if err != nil {
			t.Fatal(err)
		}
		out := make(map[string]string, len(got))
		for k, v := range got {
			out[k] = string(v)
		}
		return out
	}

	c1 := commit(nil, map[string][]byte{"a": []byte("1"), "d/e/f": []byte("2"), "d/g": []byte("3"), "d.txt": []byte("4")})
	if diff := cmp.Diff(map[string]string{"a": "1", "d/e/f": "2", "d/g": "3", "d.txt": "4"}, files(c1)); diff != "" {
		t.Errorf("orphan commit (-want +got):\n%s", diff)
	}
	c2 := commit(c1, map[string][]byte{"d/e/f": nil, "d/g": []byte("33"), "new/x": []byte("5")})
	if diff := cmp.Diff(map[string]string{"a": "1", "d/g": "33", "d.txt": "4", "new/x": "5"}, files(c2)); diff != "" {
		t.Errorf("second commit (-want +got):\n%s", diff)
	}
	c3 := commit(c2, map[string][]byte{"d": nil, "a/b": []byte("file became a dir")})
	if diff := cmp.Diff(map[string]string{"a/b": "file became a dir", "d.txt": "4", "new/x": "5"}, files(c3)); diff != "" {
		t.Errorf("third commit (-want +got):\n%s", diff)
	}
	if len(c3.ParentHashes) != 1 || c3.ParentHashes[0] != c2.Hash {
		t.Errorf("parents of the third commit = %v, want [%s]", c3.ParentHashes, c2.Hash)
	}
}
