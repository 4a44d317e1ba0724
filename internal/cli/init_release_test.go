package cli

import (
	"bytes"
	"testing"

	gearshift "github.com/gearshift-dev/gearshift"
)

// TestInitPinsItsRelease: a release's init writes workflows that run that
// release unless the repository variable says otherwise; a build from
// source (dev, a pseudo-version) writes this repository's workflows as
// they are.
func TestInitPinsItsRelease(t *testing.T) {
	for _, tc := range []struct{ version, release string }{
		{"v1.2.3", "v1.2.3"}, {"v1.3.0-rc.1", "v1.3.0-rc.1"}, {"dev", ""}, {"v1.2.3+dirty", ""}, {"1.2.3", ""},
	} {
		if got := releaseTag(tc.version); got != tc.release {
			t.Errorf("releaseTag(%q) = %q, want %q", tc.version, got, tc.release)
		}
	}
	files, err := initFiles("state", "dev", "/srv", "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	pinned := 0
	for _, f := range files {
		orig, err := gearshift.Workflows.ReadFile(f.path)
		if err != nil {
			continue // not a workflow file
		}
		if bytes.Contains(f.data, []byte(versionVar)) {
			t.Errorf("%s still reads only the repository variable", f.path)
		}
		n := bytes.Count(orig, []byte(versionVar))
		if got := bytes.Count(f.data, []byte("${{ vars.GEARSHIFT_VERSION || 'v1.2.3' }}")); got != n {
			t.Errorf("%s: %d uses pinned to v1.2.3, want %d", f.path, got, n)
		}
		pinned += n
	}
	if pinned == 0 {
		t.Fatal("no workflow runs the action with a version: nothing was pinned")
	}
	dev, err := initFiles("state", "dev", "/srv", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range dev {
		if orig, err := gearshift.Workflows.ReadFile(f.path); err == nil && !bytes.Equal(orig, f.data) {
			t.Errorf("%s differs from this repository's in a build from source", f.path)
		}
	}
}
