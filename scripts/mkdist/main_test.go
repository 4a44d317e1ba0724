package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/artifact"
)

// TestDistChecksums builds the demo's tarballs as `make dist` does and
// compares them with the checksums committed in the demo state, so that a
// change to cmd/demo-gear that changes the tarballs fails here, loudly,
// rather than in `make demo`. Other toolchains and platforms build other
// bytes: there the test only checks that two builds are the same.
func TestDistChecksums(t *testing.T) {
	if testing.Short() {
		t.Skip("builds demo-gear")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	arts, err := Artifacts(ctx, repo, "dist")
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) < 7 {
		t.Fatalf("the demo state declares %d dist tarballs, want the 7 units of dev", len(arts))
	}
	bin, err := BuildDemoGear(ctx, repo, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	again, err := BuildDemoGear(ctx, repo, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bin, again) {
		t.Fatal("two builds of demo-gear differ: the build is not reproducible")
	}
	for _, a := range arts {
		b, err := Tarball(bin, a.Unit, a.Version)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		a.Sum = "sha256:" + hex.EncodeToString(h[:])
	}
	if here := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH; here != Platform {
		t.Skipf("the committed checksums are for %s, this is %s", Platform, here)
	}
	if err := Check(arts); err != nil {
		t.Fatal(err)
	}
}

// TestTarball checks that a tarball is the same bytes every time and
// unpacks, through gearshift's own hardened unpacker, to what the demo's
// run command expects.
func TestTarball(t *testing.T) {
	bin := []byte("#!/bin/sh\necho demo\n")
	a, err := Tarball(bin, "greeter", "1.3.0")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Tarball(bin, "greeter", "1.3.0")
	if !bytes.Equal(a, b) {
		t.Fatal("two tarballs of the same input differ")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "greeter-1.3.0.tar.gz")
	if err := os.WriteFile(file, a, 0o644); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(a)
	dest := filepath.Join(dir, "release")
	if _, err := artifact.New(artifact.Options{AllowLocal: true}).Fetch(context.Background(), file, "sha256:"+hex.EncodeToString(h[:]), dest); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dest, "bin", "demo-gear"))
	if err != nil || !bytes.Equal(got, bin) {
		t.Errorf("bin/demo-gear: got %q, %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(dest, "bin", "demo-gear")); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("bin/demo-gear is not executable: %v", fi.Mode())
	}
	if v, _ := os.ReadFile(filepath.Join(dest, "VERSION")); !strings.HasPrefix(string(v), "greeter 1.3.0") {
		t.Errorf("VERSION: got %q", v)
	}
}
