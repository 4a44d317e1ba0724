package state

import (
	"os/exec"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestCheckTagNameAgreesWithGit: the names CheckTagName accepts are those
// `git check-ref-format` accepts as tags, but for two it refuses on
// purpose: a name starting with "-" (git's commands would read it as an
// option) and "@" alone (go-git refuses it).
func TestCheckTagNameAgreesWithGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed: scripts/install-deps.sh installs it")
	}
	for _, name := range []string{
		"gn3-v0.0.12-794db6e2-20220113", "prod-20261122-0123abcd", "release/prod/1", "v1.0.0+build.7",
		"", "a b", "a..b", "a~1", "a^", "a:b", "a?", "a*", "a[b", `a\b`, "a@{1}", "@", "a//b", "a/.b", ".a", "a.",
		"a/", "/a", "a.lock", "a.lock/b", "-a", "a\x7f", "a\tb", "é-1",
	} {
		want := exec.Command("git", "check-ref-format", "refs/tags/"+name).Run() == nil && (name == "" || name[0] != '-') && name != "@"
		if got := CheckTagName(name) == nil; got != want {
			t.Errorf("CheckTagName(%q) accepts: %v, git: %v", name, got, want)
		}
	}
}

// FuzzCheckTagName: every name CheckTagName accepts, go-git accepts as
// a tag too (a release tag's name comes from the state's template and a
// unit's version).
func FuzzCheckTagName(f *testing.F) {
	for _, s := range []string{"gn3-v0.0.12-794db6e2-20220113", "prod-20261122-0123abcd", "a.lock/b", "a/.b", "a@{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckTagName(name) != nil {
			return
		}
		if err := plumbing.NewTagReferenceName(name).Validate(); err != nil {
			t.Errorf("CheckTagName accepts %q, go-git does not: %v", name, err)
		}
	})
}
