package cli

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// UPDATE_GOLDEN=1 go test -run TestJSONGolden ./internal/cli rewrites
// testdata/json/*.json: the whole documents of docs/json.md.
var updateJSONGolden = os.Getenv("UPDATE_GOLDEN") != ""

func checkJSONGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "json", name)
	if updateJSONGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 creates it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); UPDATE_GOLDEN=1 rewrites it:\n%s", path, diff)
	}
}

// TestJSONGoldenList pins the whole `list -o json` document.
func TestJSONGoldenList(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", stateRepo(h))
	checkJSONGolden(t, "list.json", h.mustRun(0, "list", "--repo", h.git.URL("state"), "-o", "json"))
}

// TestJSONGoldenBump pins the whole `bump --dry-run -o json` document: a
// framework proposal, a unit proposal, a skipped unit.
func TestJSONGoldenBump(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", stateRepo(h))
	checkJSONGolden(t, "bump.json", h.mustRun(0, "bump", "--repo", h.git.URL("state"), "--dry-run", "-o", "json"))
	if n := len(h.gh.Requests()); n != 0 {
		t.Errorf("a dry run made %d GitHub requests", n)
	}
}

// TestJSONGoldenPromote pins the whole `promote --dry-run -o json`
// document: changes with their evidence, and skipped units.
func TestJSONGoldenPromote(t *testing.T) {
	h := newHarness(t, nil)
	h.git.CreateRepo("state", "main", stateRepo(h))
	writeRecords(t, h, &statusrec.Record{Environment: "staging", Units: map[string]driver.Observation{
		"api": healthy("1.1.0", 48*time.Hour, "1.4.0"),
		"web": healthy("2.1.0", 3*time.Hour, "1.4.0"),
		"db":  healthy("3.1.0-rc.1", 72*time.Hour, "1.4.0"),
	}})
	checkJSONGolden(t, "promote.json", h.mustRun(0, "promote", "--repo", h.git.URL("state"), "--to", "prod", "--dry-run", "-o", "json"))
	if n := len(h.gh.Requests()); n != 0 {
		t.Errorf("a dry run made %d GitHub requests", n)
	}
}
