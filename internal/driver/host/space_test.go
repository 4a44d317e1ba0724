package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	art "github.com/gearshift-dev/gearshift/internal/artifact"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/tmpfs"
)

func TestParseDF(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      art.Space
	}{
		{"coreutils", "Filesystem     1024-blocks  Used Available Capacity Mounted on\ntmpfs                 8192     4      8188       1% /tmp/x\n", art.Space{Free: 8188 << 10, Total: 8192 << 10}},
		{"busybox", "Filesystem           1024-blocks    Used Available Capacity Mounted on\n/dev/sda1             10190100 2317460   7331968  24% /\n", art.Space{Free: 7331968 << 10, Total: 10190100 << 10}},
		{"spaces in names", "Filesystem 1024-blocks Used Available Capacity Mounted on\nmy disk 100 40 60 40% /mnt/my disk\n", art.Space{Free: 60 << 10, Total: 100 << 10}},
	} {
		got, err := parseDF([]byte(tc.out))
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	for _, out := range []string{"", "Filesystem 1024-blocks Used Available Capacity Mounted on\n", "x\nfs a b c 1% /\n"} {
		if got, err := parseDF([]byte(out)); err == nil {
			t.Errorf("parseDF(%q) = %+v, want an error", out, got)
		}
	}
	sp, err := freeSpace(context.Background(), transport.Local(), t.TempDir())
	if err != nil || sp.Total <= 0 || sp.Free < 0 || sp.Free > sp.Total {
		t.Errorf("free space of a temporary directory: %+v, %v", sp, err)
	}
}

// bigArtifact is an unpacked artifact of n bytes.
func bigArtifact(t *testing.T, n int) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data"), make([]byte, n), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDeployNoSpace deploys to a real 8 MiB filesystem a release that does
// not fit: it is refused before anything is copied, with a message that
// says what it needs and what is free, and nothing is left.
func TestDeployNoSpace(t *testing.T) {
	root := tmpfs.Mount(t, "8m")
	ev := newEvents(t)
	d := localDriver(t, &state.HostTarget{Service: "command", Root: root, Command: &state.ServiceArgv{Start: []string{"true"}, Stop: []string{"true"}}}, ev)
	u := &state.Unit{Name: "big", Version: "1.0.0", Target: "t", Artifact: &state.Artifact{Source: "https://releases.invalid/big.tar.gz"}}
	req := deployReq(t, u, false, time.Now(), ev)
	req.ArtifactDir = bigArtifact(t, 10<<20)
	_, err := d.Deploy(context.Background(), req)
	if !errors.Is(err, art.ErrNoSpace) {
		t.Fatalf("a 10 MiB release on an 8 MiB disk: got %v, want %v", err, art.ErrNoSpace)
	}
	for _, s := range []string{"needs 10.0 MiB (unpacked 10.0 MiB, archive 4.0 KiB)", "the filesystem of " + filepath.Join(root, "big") + " has ", " usable ("} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	l := Layout{Root: root, Unit: "big"}
	for _, dir := range []string{l.Releases(), l.Archive()} {
		if got := listDir(t, dir); len(got) != 0 {
			t.Errorf("%s after the refused deploy: %v", dir, got)
		}
	}
}

// TestDeployENOSPC fills a disk in the middle of a copy: archive/ is a
// 1 MiB filesystem of its own (the check looks at the unit's directory),
// and the archive copy fails with ENOSPC. The failed deploy leaves no
// .partial file and no release behind, and neither does the next sweep.
func TestDeployENOSPC(t *testing.T) {
	ev := newEvents(t)
	d := localDriver(t, &state.HostTarget{Service: "command", Command: &state.ServiceArgv{Start: []string{"true"}, Stop: []string{"true"}}}, ev)
	l := Layout{Root: d.Target.Root, Unit: "big"}
	if err := os.MkdirAll(l.Archive(), 0o755); err != nil {
		t.Fatal(err)
	}
	small := tmpfs.Mount(t, "1m")
	// The mount is at a directory of the test's; bind it where archive/ is.
	if err := os.Remove(l.Archive()); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(small, l.Archive()); err != nil {
		t.Fatal(err)
	}
	u := &state.Unit{Name: "big", Version: "1.0.0", Target: "t", Artifact: &state.Artifact{Source: "https://releases.invalid/big.tar.gz"}}
	req := deployReq(t, u, false, time.Now(), ev)
	req.ArtifactDir = bigArtifact(t, 4096)
	req.ArchiveFile = filepath.Join(t.TempDir(), "big-1.0.0.tar.gz")
	if err := os.WriteFile(req.ArchiveFile, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := d.Deploy(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("archiving 2 MiB onto a 1 MiB disk: got %v, want ENOSPC", err)
	}
	check := func(when string) {
		for _, dir := range []string{l.Releases(), small} {
			if got := listDir(t, dir); len(got) != 0 {
				t.Errorf("%s: %s holds %v", when, dir, got)
			}
		}
	}
	check("after the failed deploy")
	if err := d.Sweep(context.Background(), &state.Environment{Name: "dev"}, "t"); err != nil {
		t.Fatal(err)
	}
	check("after the next sweep")
}

// TestDeployNoSpaceSharedArchive: the target's archive directory
// (tsd-import's shared {transfer}/sw/archive) is part of the check. On a
// filesystem of its own that cannot hold the archive, the deploy is
// refused before anything is copied, although the unit's filesystem has
// room; on the unit's filesystem, the archive and the tree must fit
// together there, although each would alone.
func TestDeployNoSpaceSharedArchive(t *testing.T) {
	u := &state.Unit{Name: "site", Version: "1.0.0", Target: "t", Artifact: &state.Artifact{Source: "https://releases.invalid/site.tar.gz"}}
	deploy := func(d *Driver, ev *events, tree, archive int) error {
		req := deployReq(t, u, false, time.Now(), ev)
		req.ArtifactDir = bigArtifact(t, tree)
		req.ArchiveFile = filepath.Join(t.TempDir(), "site-1.0.0.tar.gz")
		if err := os.WriteFile(req.ArchiveFile, make([]byte, archive), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := d.Deploy(context.Background(), req)
		return err
	}
	cmd := &state.ServiceArgv{Start: []string{"true"}, Stop: []string{"true"}}

	// Another filesystem, 1 MiB, and an archive directory not made yet.
	small := tmpfs.Mount(t, "1m")
	archive := filepath.Join(small, "sw", "archive")
	ev := newEvents(t)
	d := localDriver(t, &state.HostTarget{Service: "command", Command: cmd, Archive: &state.HostArchive{Dir: archive, Keep: 3}}, ev)
	err := deploy(d, ev, 4096, 2<<20)
	if !errors.Is(err, art.ErrNoSpace) || !strings.Contains(err.Error(), "the archive of release ") ||
		!strings.Contains(err.Error(), "needs 2.0 MiB and the filesystem of the archive directory "+archive+" has ") {
		t.Fatalf("a 2 MiB archive into a 1 MiB archive directory: got %v, want %v naming the archive directory", err, art.ErrNoSpace)
	}
	if got := listDir(t, small); len(got) != 0 {
		t.Errorf("the refused deploy left %v in the archive filesystem", got)
	}
	if got := listDir(t, Layout{Root: d.Target.Root, Unit: "site"}.Releases()); len(got) != 0 {
		t.Errorf("the refused deploy left releases %v", got)
	}
	// What fits is deployed, and its archive is where the target says.
	if err := deploy(d, ev, 4096, 64<<10); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, archive); len(got) != 1 {
		t.Errorf("archive directory after the deploy: %v", got)
	}

	// One 8 MiB filesystem for the root and the archive: 5 MiB of tree and
	// 5 MiB of archive do not fit together.
	root := tmpfs.Mount(t, "8m")
	ev = newEvents(t)
	d = localDriver(t, &state.HostTarget{Service: "command", Command: cmd, Root: root, Archive: &state.HostArchive{Dir: filepath.Join(root, "archive"), Keep: 3}}, ev)
	err = deploy(d, ev, 5<<20, 5<<20)
	if !errors.Is(err, art.ErrNoSpace) || !strings.Contains(err.Error(), "needs 10.0 MiB (unpacked 5.0 MiB, archive 5.0 MiB)") {
		t.Fatalf("5 MiB and a 5 MiB archive on one 8 MiB disk: got %v, want %v", err, art.ErrNoSpace)
	}
}
