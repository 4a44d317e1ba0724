// Command mkdist builds the demo's release tarballs: for every unit of the
// demo state (environments/) whose artifact source is a file under dist/,
// dist/<unit>-<version>.tar.gz holding bin/demo-gear and a VERSION file,
// plus dist/SHA256SUMS. Run it as `make dist`.
//
// The tarballs are reproducible: demo-gear is built with -trimpath, without
// VCS stamping or a build id and with cgo off, and the archives are written
// here rather than by tar(1), with fixed times, owners and modes and a gzip
// header without a name or time. The same toolchain on the same platform
// therefore gives the same bytes, and the checksums committed in the state
// can be verified like a real release's: after writing the tarballs mkdist
// compares them with the state's artifact checksums and fails, naming the
// file:line to change, when they differ. `make dist-checksums` (-update)
// writes this machine's checksums into the state instead, for a change to
// cmd/demo-gear or a different toolchain or platform.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// Platform is what the committed checksums were made with. Another
// toolchain or platform builds other bytes: mkdist then says so.
const Platform = "go1.26.8 linux/amd64"

// mtime is every entry's modification time.
var mtime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	repo := flag.String("repo", ".", "the repository (state and cmd/demo-gear)")
	out := flag.String("out", "dist", "where the tarballs go, relative to -repo")
	update := flag.Bool("update", false, "write the built checksums into the state instead of checking them")
	flag.Parse()
	if err := run(context.Background(), *repo, *out, *update); err != nil {
		fmt.Fprintf(os.Stderr, "mkdist: %v\n", err)
		os.Exit(1)
	}
}

// Artifact is one tarball and the units that declare it.
type Artifact struct {
	File    string // relative to the repository: dist/greeter-1.3.0.tar.gz
	Unit    string
	Version string
	// Uses are the units' checksum positions and the checksum each declares.
	Uses []Use
	Sum  string // "sha256:<hex>" of the built file
}

// Use is one unit declaring an artifact.
type Use struct {
	Pos      state.Pos
	Checksum string
}

func run(ctx context.Context, repo, out string, update bool) error {
	arts, err := Artifacts(ctx, repo, out)
	if err != nil {
		return err
	}
	dir := filepath.Join(repo, out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin, err := BuildDemoGear(ctx, repo, dir)
	if err != nil {
		return err
	}
	var sums strings.Builder
	for _, a := range arts {
		b, err := Tarball(bin, a.Unit, a.Version)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(repo, a.File), b); err != nil {
			return err
		}
		h := sha256.Sum256(b)
		a.Sum = "sha256:" + hex.EncodeToString(h[:])
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(h[:]), filepath.Base(a.File))
	}
	if err := writeFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String())); err != nil {
		return err
	}
	fmt.Printf("mkdist: %d tarballs and SHA256SUMS in %s\n", len(arts), dir)
	if update {
		return Update(repo, arts)
	}
	return Check(arts)
}

// Artifacts lists the tarballs the demo state declares under out/.
func Artifacts(ctx context.Context, repo, out string) ([]*Artifact, error) {
	st, err := state.Load(ctx, repo, nil, state.Options{KeepExpiredWaivers: true})
	if err != nil {
		return nil, fmt.Errorf("load the demo state: %w", err)
	}
	by := map[string]*Artifact{}
	for _, en := range st.Names() {
		env := st.Environments[en]
		for _, un := range env.UnitNames() {
			u := env.Units[un]
			if u.Artifact == nil {
				continue
			}
			file := strings.ReplaceAll(u.Artifact.Source, "{version}", u.Version)
			if !strings.HasPrefix(file, out+"/") {
				continue
			}
			a := by[file]
			if a == nil {
				a = &Artifact{File: file, Unit: un, Version: u.Version}
				by[file] = a
			}
			pos := u.Pos.Of("artifact.checksum")
			a.Uses = append(a.Uses, Use{Pos: pos, Checksum: u.Artifact.Checksum})
		}
	}
	arts := make([]*Artifact, 0, len(by))
	for _, a := range by {
		arts = append(arts, a)
	}
	sort.Slice(arts, func(i, j int) bool { return arts[i].File < arts[j].File })
	return arts, nil
}

// BuildDemoGear builds cmd/demo-gear reproducibly into dir/.build and
// returns the binary's bytes.
func BuildDemoGear(ctx context.Context, repo, dir string) ([]byte, error) {
	bin := filepath.Join(dir, ".build", "demo-gear")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", bin, "./cmd/demo-gear")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOAMD64=v1", "GOEXPERIMENT=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build demo-gear: %w", err)
	}
	return os.ReadFile(bin)
}

// Tarball is the release tarball of one unit's version: VERSION, bin/ and
// bin/demo-gear, with fixed times, owners and modes.
func Tarball(bin []byte, unit, version string) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	entries := []struct {
		name string
		mode int64
		body []byte
		dir  bool
	}{
		{name: "VERSION", mode: 0o644, body: []byte(unit + " " + version + "\n")},
		{name: "bin/", mode: 0o755, dir: true},
		{name: "bin/demo-gear", mode: 0o755, body: bin},
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Format: tar.FormatUSTAR, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Check compares the built checksums with the state's.
func Check(arts []*Artifact) error {
	var bad []string
	for _, a := range arts {
		for _, u := range a.Uses {
			if u.Checksum != a.Sum {
				got := u.Checksum
				if got == "" {
					got = "no checksum"
				}
				bad = append(bad, fmt.Sprintf("  %s: %s declares %s, the built %s is %s", u.Pos, a.Unit, got, a.File, a.Sum))
			}
		}
	}
	if len(bad) == 0 {
		fmt.Println("mkdist: every checksum in the state matches its tarball")
		return nil
	}
	return fmt.Errorf("the tarballs do not match the checksums in the state:\n%s\n"+
		"The committed checksums were made with %s; this build used %s %s/%s.\n"+
		"If cmd/demo-gear changed, or you use another toolchain or platform, run\n"+
		"`make dist-checksums` to write this build's checksums into environments/*/units.cue.",
		strings.Join(bad, "\n"), Platform, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Update replaces each unit's checksum literal with the built one, on the
// line the state says it is written.
func Update(repo string, arts []*Artifact) error {
	type edit struct {
		line     int
		old, new string
	}
	files := map[string][]edit{}
	for _, a := range arts {
		for _, u := range a.Uses {
			if u.Checksum == "" || !u.Pos.IsValid() || u.Pos.Line == 0 {
				return fmt.Errorf("%s: %s has no artifact.checksum to update: add one (any sha256:<64 hex>)", u.Pos, a.Unit)
			}
			if u.Checksum != a.Sum {
				files[u.Pos.File] = append(files[u.Pos.File], edit{u.Pos.Line, u.Checksum, a.Sum})
			}
		}
	}
	for file, edits := range files {
		p := filepath.Join(repo, file)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		lines := strings.SplitAfter(string(b), "\n")
		for _, e := range edits {
			i := e.line - 1
			if i >= len(lines) || !strings.Contains(lines[i], `"`+e.old+`"`) {
				return fmt.Errorf("%s:%d: no %q to replace", file, e.line, e.old)
			}
			lines[i] = strings.Replace(lines[i], `"`+e.old+`"`, `"`+e.new+`"`, 1)
		}
		if err := writeFile(p, []byte(strings.Join(lines, ""))); err != nil {
			return err
		}
		fmt.Printf("mkdist: updated %d checksums in %s\n", len(edits), file)
	}
	return nil
}

func writeFile(p string, b []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
