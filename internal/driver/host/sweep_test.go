package host

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/state"
)

func TestSweep(t *testing.T) {
	root := t.TempDir()
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	cur := putRelease(t, root, "greeter", "1.3.0", at, "", true)
	l := Layout{Root: root, Unit: "greeter"}
	orphan := NewID("1.4.0", at.Add(time.Hour))
	for _, p := range []string{
		filepath.Join(l.Dir(), ".current.tmp-0123456789abcdef"),
		filepath.Join(l.Releases(), "."+cur+".json.tmp-0123456789abcdef"),
		filepath.Join(root, ".gearshift.tmp-0011223344556677"),
	} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(l.Archive(), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		filepath.Join(l.Archive(), "."+cur+".tar.gz.partial"),
		// An archive copied just before a kill: its release never got a
		// record (or a directory).
		filepath.Join(l.Archive(), NewID("1.5.0", at.Add(2*time.Hour))+".tar.gz"),
		filepath.Join(l.Archive(), orphan+".zip"),
		filepath.Join(l.Archive(), NewID("1.6.0-rc.1", at.Add(3*time.Hour))),
		// Kept: the current release's archive, and names that are not
		// archive copies of a release.
		filepath.Join(l.Archive(), cur+".tar.gz"),
		filepath.Join(l.Archive(), "notes.txt"),
		filepath.Join(l.Archive(), "1.2.0.tar.gz"),
	} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(l.Release(orphan), "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := &Driver{Name: "local", Target: &state.HostTarget{Local: true, Root: root}, Connect: localConnect}
	if err := d.Sweep(context.Background(), &state.Environment{Name: "dev"}, "local"); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			got = append(got, rel)
		}
		return nil
	})
	sort.Strings(got)
	want := []string{"greeter", "greeter/archive", "greeter/archive/1.2.0.tar.gz", "greeter/archive/" + cur + ".tar.gz", "greeter/archive/notes.txt",
		"greeter/current", "greeter/releases", "greeter/releases/" + cur, "greeter/releases/" + cur + ".json"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after Sweep (-want +got):\n%s", diff)
	}
}
