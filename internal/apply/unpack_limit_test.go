package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/host"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// TestUnpackLimit applies, with the real host driver on this machine, a
// small archive that unpacks beyond the unit's artifact.maxUnpackedSize:
// the deploy is refused before anything reaches the target, the running
// release stays, and nothing is left in releases/, archive/ or the run's
// scratch directory.
func TestUnpackLimit(t *testing.T) {
	dir := t.TempDir()
	root, cache := filepath.Join(dir, "root"), filepath.Join(dir, "cache")
	good := tarGz(t, map[string]string{"VERSION": "1.0.0\n"})
	bomb := tarGz(t, map[string]string{"VERSION": "2.0.0\n", "zeros": strings.Repeat("\x00", 3<<20)})
	for name, b := range map[string][]byte{"app-1.0.0.tar.gz": good, "app-2.0.0.tar.gz": bomb} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }
	target := &state.HostTarget{Local: true, Root: root, AllowLocalArtifacts: true}
	unit := &state.Unit{Name: "app", Kind: "gear", Target: "local", Run: &state.Command{Command: []string{"sleep", "3600"}}}
	env := &state.Environment{Name: "dev", Targets: map[string]state.Target{"local": {Host: target}}, Units: map[string]*state.Unit{"app": unit}}
	lock, err := Acquire(context.Background(), LocalDir(filepath.Join(root, ".gearshift")), "dev", NewLockInfo("run1", nil, time.Now()), LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release(context.Background())
	d := &host.Driver{Name: "local", Target: target, Connect: func(context.Context, *state.HostTarget, string) (host.Conn, error) { return transport.Local(), nil }}
	t.Cleanup(func() { d.Prune(context.Background(), env, "local", "app") })
	apply := func(from, to string, b []byte) *EnvResult {
		unit.Version = to
		unit.Artifact = &state.Artifact{Source: filepath.Join(dir, "app-{version}.tar.gz"), Checksum: sum(b), MaxUnpackedSize: "1MiB"}
		resolve := func(*state.Environment, string) (driver.Deployer, error) { return d, nil }
		res, err := applyPlan(context.Background(), env, dir, lock, resolve, Options{CacheDir: cache},
			&plan.Action{Unit: "app", Type: plan.Deploy, Target: "local", From: from, To: to, Applyable: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := apply("", "1.0.0", good); res.Failed() {
		t.Fatalf("first deploy: %+v", res.Units)
	}
	res := apply("1.0.0", "2.0.0", bomb)
	if u := res.Units[0]; u.Outcome != Failed || !strings.Contains(u.Error, "the unpacked size would exceed 1048576 bytes (1.0 MiB, the unpack limit: artifact.maxUnpackedSize)") {
		t.Errorf("a 3 MiB release under a 1 MiB limit: got %s: %s", u.Outcome, u.Error)
	}
	l := host.Layout{Root: root, Unit: "app"}
	cur, _, err := host.ReadCurrent(context.Background(), transport.Local(), l)
	if err != nil || cur.Version != "1.0.0" {
		t.Fatalf("current after the refused deploy: %+v, %v; want 1.0.0", cur, err)
	}
	for dir, want := range map[string]int{l.Releases(): 2, l.Archive(): 1, filepath.Join(cache, "work"): 0} {
		names, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != want {
			var got []string
			for _, n := range names {
				got = append(got, n.Name())
			}
			t.Errorf("%s holds %v, want %d entries (the first release only)", dir, got, want)
		}
	}
}
