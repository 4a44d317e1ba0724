package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds gearshift, writes its image tarball as `make image`
// does, reads it back as a container runtime would (the manifest and
// config of the tarball, the flattened filesystem), and runs the
// entrypoint's binary from that filesystem: the image runs gearshift, as
// a user that is not root.
func TestImage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image holds a linux binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gearshift")
	build := exec.Command("go", "build", "-o", bin, "github.com/gearshift-dev/gearshift/cmd/gearshift")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "image.tar")
	if err := run(bin, "gearshift:test", out, runtime.GOARCH); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; len(got) != 1 || got[0] != Entrypoint {
		t.Errorf("entrypoint %q, want [%s]", got, Entrypoint)
	}
	if u := cf.Config.User; u == "" || strings.HasPrefix(u, "0") || strings.HasPrefix(u, "root") {
		t.Errorf("the image runs as %q, want a user that is not root", u)
	}
	// The filesystem as a runtime lays it out: the entrypoint is an
	// executable file, the user has a home it owns.
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	root := filepath.Join(dir, "rootfs")
	var sawHome bool
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if "/"+strings.TrimSuffix(h.Name, "/") == home && h.Uid == uid {
			sawHome = true
		}
		if "/"+h.Name != Entrypoint {
			continue
		}
		if h.Mode&0o111 == 0 {
			t.Errorf("%s is not executable: mode %o", h.Name, h.Mode)
		}
		p := filepath.Join(root, h.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if !sawHome {
		t.Errorf("no home %s owned by %d in the image", home, uid)
	}
	got, err := exec.Command(filepath.Join(root, Entrypoint), "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(got), "gearshift ") {
		t.Errorf("the image's gearshift --version: %v: %s", err, got)
	}
}
