package state

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindRoot(t *testing.T) {
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	for _, d := range []string{"repo/cue.mod", "repo/environments/dev", "plain/sub"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ dir, want string }{
		{"repo", repo},
		{"repo/environments/dev", repo},
		{"repo/environments", repo},
		// No repository upward: the directory itself, for Load to explain.
		{"plain/sub", filepath.Join(top, "plain/sub")},
	} {
		got, err := FindRoot(filepath.Join(top, tc.dir))
		if err != nil || got != tc.want {
			t.Errorf("FindRoot(%s) = %q, %v; want %q", tc.dir, got, err, tc.want)
		}
	}
	if _, err := FindRoot(filepath.Join(top, "missing")); err == nil || err.Error() != "state repository "+filepath.Join(top, "missing")+": no such directory" {
		t.Errorf("FindRoot(missing) error = %v, want no such directory", err)
	}
}
