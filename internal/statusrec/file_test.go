package statusrec

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/observation"
)

// TestWriteFile: a record written to a new directory reads back the same,
// readable by others (0644), with no temporary file left beside it; a
// second write replaces it whole.
func TestWriteFile(t *testing.T) {
	path := LocalFile(t.TempDir(), "prod")
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, version := range []string{"1.0.0", "1.1.0"} {
		want := &Record{FormatVersion: FormatVersion, Environment: "prod", WrittenAt: at,
			Units: map[string]observation.Unit{"api": {Unit: "api", Deployed: true, Version: version, Health: observation.HealthHealthy}}}
		if err := WriteFile(path, want); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("%s: record read back differs (-got +want):\n%s", version, diff)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("record mode %v, want 0644", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files beside the record, want it alone: %v", len(entries), entries)
	}
}
