package state

import (
	"context"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func loadState(t *testing.T, root string, fast bool) (*State, error) {
	t.Helper()
	old := perFile
	perFile = fast
	defer func() { perFile = old }()
	return Load(context.Background(), root, nil, Options{Now: func() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) }})
}

// TestPerFileAgrees checks that the per-file fast path decodes the demo state
// exactly as the whole-package evaluation does, positions included.
func TestPerFileAgrees(t *testing.T) {
	fast, err := loadState(t, "../..", true)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := loadState(t, "../..", false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(slow, fast); diff != "" {
		t.Errorf("per-file load differs from whole-package load (-slow +fast):\n%s", diff)
	}
	u := fast.Environments["prod"].Units["portal"]
	// The recorded position is where the literal is written.
	p := u.Pos.Of("version")
	src, err := os.ReadFile(filepath.Join("../..", p.File))
	if err != nil {
		t.Fatalf("portal version position %s: %v", p, err)
	}
	lines := strings.Split(string(src), "\n")
	if p.Line < 1 || p.Line > len(lines) || !strings.HasPrefix(lines[p.Line-1][p.Col-1:], `"`+u.Version+`"`) {
		t.Errorf("portal version position %s does not point at %q", p, u.Version)
	}
	if u.Strategy != "rolling" || u.Health.Timeout.Duration != 60*time.Second {
		t.Errorf("portal = %+v: defaults from the schema missing", u)
	}
}

// TestPerFileFallsBack: a unit file that refers to a unit of another file
// needs the whole package; the result is still right.
func TestPerFileFallsBack(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"environments/dev/a.cue": "package gearshift\n\nunits: a: {kind: \"gear\", version: \"1.2.3\", target: \"t\"}\n",
		"environments/dev/b.cue": "package gearshift\n\nunits: b: {kind: \"stack\", version: units.a.version, target: \"t\", dependsOn: [\"a\"]}\n",
		// A pattern constraint on units applies to every file's units.
		"environments/dev/defaults.cue": "package gearshift\n\nunits: [string]: maxAge: *\"7d\" | _\n",
	})
	for _, fast := range []bool{true, false} {
		st, err := loadState(t, dir, fast)
		if err != nil {
			t.Fatalf("fast=%v: %v", fast, err)
		}
		if got := st.Environments["dev"].Units["b"].Version; got != "1.2.3" {
			t.Errorf("fast=%v: b.version = %q, want 1.2.3", fast, got)
		}
		if m := st.Environments["dev"].Units["a"].MaxAge; m == nil || m.Duration != 7*24*time.Hour {
			t.Errorf("fast=%v: a.maxAge = %v, want 7d from the shared pattern", fast, m)
		}
	}
}

// TestPerFilePattern: a pattern constraint on units in a file of its own
// applies to the units of every other file, on both paths.
func TestPerFilePattern(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"environments/dev/a.cue":        "package gearshift\n\nunits: a: {kind: \"gear\", version: \"1.2.3\", target: \"t\"}\n",
		"environments/dev/defaults.cue": "package gearshift\n\nunits: [string]: maxAge: *\"7d\" | _\n",
	})
	for _, fast := range []bool{true, false} {
		st, err := loadState(t, dir, fast)
		if err != nil {
			t.Fatalf("fast=%v: %v", fast, err)
		}
		if m := st.Environments["dev"].Units["a"].MaxAge; m == nil || m.Duration != 7*24*time.Hour {
			t.Errorf("fast=%v: a.maxAge = %v, want 7d from the pattern in defaults.cue", fast, m)
		}
	}
}

// writeTree writes a minimal state repository (a module and a dev
// environment with an exec target t) and then files over it.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	all := map[string]string{
		"cue.mod/module.cue":       "module: \"example.com/x@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/dev/env.cue": "package gearshift\n\nenvironment: {name: \"dev\", deployFrom: branch: \"main\", targets: t: exec: {status: [\"s\"], deploy: [\"d\"]}}\n",
	}
	for k, v := range files {
		all[k] = v
	}
	if err := statetest.WriteFiles(dir, all); err != nil {
		t.Fatal(err)
	}
}
