package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver/host"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
)

// TestApplyKill9 kills `gearshift apply` with SIGKILL at random points of
// a deploy of 10 units on the host driver's local transport (process
// service manager, artifacts from local tarballs), then checks what a crash
// may never break: every deployed unit's `current` resolves to a release
// directory with a valid record, and no record is half-written. The next
// apply (which takes over the lock of the killed process without
// --break-lock, and repairs what the journal says
// was left unfinished) leaves no temporary files behind and converges: a
// plan after it has no changes.
func TestApplyKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 trials take about 30s")
	}
	gs, err := exec.LookPath("gearshift")
	if err != nil {
		t.Skip("the gearshift test program is not on PATH (TestMain sets it up)")
	}
	const units, trials = 10, 20
	dir := t.TempDir()
	repo, root := filepath.Join(dir, "repo"), filepath.Join(dir, "root")
	// A marker in the services' argv, so that cleanup stops exactly them.
	marker := fmt.Sprintf("3600.%d", rand.N(1_000_000))
	t.Cleanup(func() { stopServices(t, marker) })
	for _, v := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		writeTarball(t, filepath.Join(dir, "art-"+v+".tar.gz"), v)
	}
	envVars := append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(dir, "state"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "NO_COLOR=1")
	gearshift := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, gs, append(args, "--repo", repo)...)
		cmd.Env = envVars
		return cmd
	}
	ctx := context.Background()

	versions := []string{"1.0.0", "2.0.0", "3.0.0"}
	writeKillState(t, repo, root, dir, marker, units, versions[0])
	start := time.Now()
	if out, err := gearshift(ctx, "apply", "dev").CombinedOutput(); err != nil {
		t.Fatalf("first apply: %v\n%s", err, out)
	}
	full := time.Since(start)
	t.Logf("a full apply of %d units takes %s", units, full)

	killed, resumed, tookOver := 0, 0, 0
	for trial := 1; trial <= trials; trial++ {
		writeKillState(t, repo, root, dir, marker, units, versions[trial%len(versions)])
		cmd := gearshift(ctx, "apply", "dev")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rand.Int64N(int64(full)))
		time.Sleep(delay)
		cmd.Process.Kill()
		cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
		}
		checkCurrent(t, root, fmt.Sprintf("trial %d, killed after %s", trial, delay))

		// The killed run's lock names a pid that is provably gone from
		// this machine: the next apply takes it over without --break-lock.
		_, lockErr := os.Stat(filepath.Join(root, ".gearshift", "dev.lock"))
		out.Reset()
		rec := gearshift(ctx, "apply", "dev")
		rec.Stdout, rec.Stderr = &out, &out
		if err := rec.Run(); err != nil {
			t.Fatalf("trial %d: the apply after a kill at %s failed: %v\n%s", trial, delay, err, out.String())
		}
		if lockErr == nil {
			tookOver++
			if !strings.Contains(out.String(), "broke the stale lock of ") {
				t.Errorf("trial %d: the killed run's lock was taken over without a message naming its holder:\n%s", trial, out.String())
			}
		}
		if strings.Contains(out.String(), "resuming: ") {
			resumed++
		}
		checkCurrent(t, root, fmt.Sprintf("trial %d, after the next apply", trial))
		checkNoTemp(t, root, trial)
		if out, err := gearshift(ctx, "plan", "dev", "--detailed-exitcode").CombinedOutput(); err != nil {
			t.Fatalf("trial %d: the plan after the next apply is not empty (%v):\n%s", trial, err, out)
		}
	}
	t.Logf("%d trials: %d killed before they ended, %d of them in the middle of an action (resumed), %d holding the lock (taken over)", trials, killed, resumed, tookOver)
	if killed == 0 {
		t.Errorf("no trial was killed before it ended: the kill points miss the apply")
	}
}

func writeKillState(t *testing.T, repo, root, art, marker string, n int, version string) {
	t.Helper()
	files := map[string]string{
		"cue.mod/module.cue": "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/dev/env.cue": fmt.Sprintf(`package gearshift

environment: {
	name: "dev"
	deployFrom: branch: "main"
	targets: local: host: {local: true, root: %q, allowLocalArtifacts: true, keepReleases: 2}
}
`, root),
	}
	var b strings.Builder
	b.WriteString("package gearshift\n\n")
	sum := fileSum(t, filepath.Join(art, "art-"+version+".tar.gz"))
	for i := range n {
		fmt.Fprintf(&b, "units: u%02d: {kind: \"gear\", version: %q, target: \"local\"\n", i, version)
		fmt.Fprintf(&b, "\tartifact: {source: %q, checksum: %q}\n", filepath.Join(art, "art-{version}.tar.gz"), sum)
		fmt.Fprintf(&b, "\trun: command: [\"sleep\", %q]\n", marker)
		if i > 0 && i%3 == 0 {
			fmt.Fprintf(&b, "\tdependsOn: [\"u%02d\"]\n", i-1)
		}
		b.WriteString("}\n")
	}
	files["environments/dev/units.cue"] = b.String()
	for name, content := range files {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeTarball(t *testing.T, file, version string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	body := []byte(version + "\n")
	tw.WriteHeader(&tar.Header{Name: "VERSION", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	zw.Close()
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// checkCurrent checks every unit that has a `current`: it must resolve to
// a release directory whose record reads back, and every record on disk
// must be whole.
func checkCurrent(t *testing.T, root, when string) {
	t.Helper()
	ctx := context.Background()
	names, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	for _, n := range names {
		if strings.HasPrefix(n.Name(), ".") {
			continue
		}
		l := host.Layout{Root: root, Unit: n.Name()}
		target, err := os.Readlink(l.Current())
		if errors.Is(err, fs.ErrNotExist) {
			continue // never deployed yet
		}
		if err != nil {
			t.Fatalf("%s: %s: %v", when, l.Current(), err)
		}
		if fi, err := os.Stat(l.Current()); err != nil || !fi.IsDir() {
			t.Fatalf("%s: %s -> %s does not resolve to a release directory: %v", when, l.Current(), target, err)
		}
		if _, _, err := host.ReadCurrent(ctx, transport.Local(), l); err != nil {
			t.Fatalf("%s: %s: %v", when, n.Name(), err)
		}
		recs, _ := filepath.Glob(filepath.Join(l.Releases(), "*.json"))
		for _, r := range recs {
			id := strings.TrimSuffix(filepath.Base(r), ".json")
			if _, err := host.ReadRecord(ctx, transport.Local(), l, id); err != nil {
				t.Fatalf("%s: half-written record: %v", when, err)
			}
		}
	}
}

// checkNoTemp fails on a temporary file or directory left under root.
func checkNoTemp(t *testing.T, root string, trial int) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		n := d.Name()
		if strings.Contains(n, ".tmp-") || strings.Contains(n, ".partial") || strings.HasSuffix(n, ".tmp") {
			t.Errorf("trial %d: temporary file left after the next apply: %s (a write the kill interrupted; the driver that owns the directory must remove it when it next changes the unit)", trial, p)
		}
		// An archive copy whose release has no record: copied just before
		// a kill.
		if filepath.Base(filepath.Dir(p)) == "archive" && !d.IsDir() {
			id := strings.TrimSuffix(n, ".tar.gz")
			if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(p)), "releases", id+".json")); err != nil {
				t.Errorf("trial %d: archive copy without a release record left after the next apply: %s", trial, p)
			}
		}
		return nil
	})
}

// stopServices kills the test's services, found by the marker in their
// argv (a crash between starting one and writing its pid file leaves no
// pid file to find it by).
func stopServices(t *testing.T, marker string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(bytes.TrimRight(b, "\x00"), []byte("sleep\x00"+marker)) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
