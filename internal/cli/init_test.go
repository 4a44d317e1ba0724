package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	gearshift "github.com/gearshift-dev/gearshift"
)

// TestInitWorkflows: init writes every workflow of this repository except
// its own CI, and the action, exactly as they are in .github (embedded, so
// they cannot drift; this catches a workflow added to .github and not to
// the embed).
func TestInitWorkflows(t *testing.T) {
	want := []string{".github/actions/gearshift/action.yml"}
	ymls, err := filepath.Glob("../../.github/workflows/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ymls {
		if filepath.Base(p) != "ci.yml" {
			want = append(want, ".github/workflows/"+filepath.Base(p))
		}
	}
	got := slices.Clone(gearshift.WorkflowFiles)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("init writes %v, want %v", got, want)
	}
	for _, p := range gearshift.WorkflowFiles {
		emb, err := gearshift.Workflows.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		disk, err := os.ReadFile(filepath.Join("../..", p))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(emb, disk) {
			t.Errorf("%s: the embedded copy differs from the file", p)
		}
	}
}
