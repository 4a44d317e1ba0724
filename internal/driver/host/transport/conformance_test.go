package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testConformance is the behaviour every Transport must have. The SSH
// servers of the tests run on this machine, so the checks look at the
// effects on the filesystem and processes directly as well as through tr.
func testConformance(t *testing.T, tr Transport) {
	ctx := context.Background()
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, tr Transport, dir string)
	}{
		{"Run", testRun},
		{"RunArgvExact", testRunArgvExact},
		{"RunFailures", testRunFailures},
		{"RunTimeoutKillsGroup", testRunTimeout},
		{"StartDetached", testStartDetached},
		{"ReadWriteFile", testReadWriteFile},
		{"WriteFileAtomicReaders", testWriteFileAtomicReaders},
		{"MkdirAll", testMkdirAll},
		{"Rename", testRename},
		{"Symlinks", testSymlinks},
		{"SwitchSymlinkAtomic", testSwitchSymlinkAtomic},
		{"RemoveAll", testRemoveAll},
		{"RemoveAllFileAndLink", testRemoveAllFileAndLink},
		{"StatFS", testStatFS},
		{"ReadDirExists", testReadDirExists},
		{"CopyTree", testCopyTree},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, ctx, tr, t.TempDir()) })
	}
}

func testRun(t *testing.T, ctx context.Context, tr Transport, dir string) {
	res, err := tr.Run(ctx, []string{"sh", "-c", `echo out; echo err >&2; pwd; printf '%s|%s' "$GS_A" "$GS_B"; cat; exit 3`}, RunOptions{
		Dir:   dir,
		Env:   map[string]string{"GS_A": "a b", "GS_B": `it's "$x"`},
		Stdin: strings.NewReader("from stdin"),
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := RunResult{Stdout: []byte("out\n" + dir + "\na b|it's \"$x\"from stdin"), Stderr: []byte("err\n"), ExitCode: 3}
	if diff := cmp.Diff(res, want); diff != "" {
		t.Errorf("Run result (-got +want):\n%s", diff)
	}
	res, err = tr.Run(ctx, []string{"sh", "-c", "kill -9 $$"}, RunOptions{})
	if err != nil || res.ExitCode != 128+9 {
		t.Errorf("killed by SIGKILL: got exit %d, %v; want 137, nil", res.ExitCode, err)
	}
	res, err = tr.Run(ctx, []string{"true"}, RunOptions{})
	if err != nil || res.ExitCode != 0 || len(res.Stdout)+len(res.Stderr) != 0 {
		t.Errorf("true: got %+v, %v", res, err)
	}
}

// testRunArgvExact sends the quoting cases through the real command path
// (one command for all of them: over SSH each command costs a login shell).
func testRunArgvExact(t *testing.T, ctx context.Context, tr Transport, dir string) {
	argv := []string{"printf", `%s\0`}
	var want []string
	for _, tc := range quoteCases {
		argv = append(argv, tc.argv...)
		want = append(want, tc.argv...)
	}
	res, err := tr.Run(ctx, argv, RunOptions{})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%v exit %d %s", err, res.ExitCode, res.Stderr)
	}
	got := strings.Split(string(bytes.TrimSuffix(res.Stdout, []byte{0})), "\x00")
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("argv differs (-got +want):\n%s", diff)
	}
}

func testRunFailures(t *testing.T, ctx context.Context, tr Transport, dir string) {
	for _, c := range []struct {
		name string
		argv []string
		o    RunOptions
	}{
		{"missing command", []string{"gearshift-no-such-command"}, RunOptions{}},
		{"missing dir", []string{"true"}, RunOptions{Dir: filepath.Join(dir, "nope")}},
		{"empty argv", nil, RunOptions{}},
		{"NUL in argv", []string{"echo", "a\x00b"}, RunOptions{}},
		{"bad env name", []string{"true"}, RunOptions{Env: map[string]string{"A-B": "x"}}},
	} {
		if _, err := tr.Run(ctx, c.argv, c.o); err == nil {
			t.Errorf("%s: Run succeeded, want an error", c.name)
		}
	}
}

func testRunTimeout(t *testing.T, ctx context.Context, tr Transport, dir string) {
	pids := filepath.Join(dir, "pids")
	start := time.Now()
	// The shell records itself and a child it started; both must die.
	_, err := tr.Run(ctx, []string{"sh", "-c", `sleep 60 & echo "$$ $!" > "$1"; wait`, "sh", pids}, RunOptions{Timeout: 700 * time.Millisecond})
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run of sleep 60 with a timeout: got %v, want an error wrapping context.DeadlineExceeded", err)
	}
	// Not a performance bound: well under the 60 s the sleep would take
	// had the timeout not killed it.
	if elapsed > 50*time.Second {
		t.Errorf("Run returned after %s: the timeout did not kill the command", elapsed)
	}
	data, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		waitDead(t, pid)
	}
}

func testStartDetached(t *testing.T, ctx context.Context, tr Transport, dir string) {
	logFile, pidFile := filepath.Join(dir, "app.log"), filepath.Join(dir, "app.pid")
	if err := os.WriteFile(logFile, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work dir")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `echo "hello $GREETING"; pwd; echo oops >&2; exec sleep 30`
	pid, err := tr.StartDetached(ctx, []string{"sh", "-c", script}, work, map[string]string{"GREETING": "wörld $x"}, logFile, pidFile)
	if err != nil {
		t.Fatalf("StartDetached: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if !alive(pid) {
		t.Fatalf("pid %d is not running", pid)
	}
	if got, _ := os.ReadFile(pidFile); string(got) != strconv.Itoa(pid)+"\n" {
		t.Errorf("pid file: got %q, want %d", got, pid)
	}
	if sid := procStat(pid, 3); sid == "" || sid == procStat(os.Getpid(), 3) {
		t.Errorf("pid %d is in session %q, the test's: want a new session", pid, sid)
	}
	want := "earlier\nhello wörld $x\n" + work + "\noops\n"
	var got []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, _ = os.ReadFile(logFile); string(got) == want {
			break
		}
	}
	if string(got) != want {
		t.Errorf("log: got %q, want %q", got, want)
	}
	// The call returned while the process runs on.
	time.Sleep(100 * time.Millisecond)
	if !alive(pid) {
		t.Errorf("pid %d died after StartDetached returned", pid)
	}
	if _, err := tr.StartDetached(ctx, []string{"gearshift-no-such-command"}, work, nil, logFile, filepath.Join(dir, "x.pid")); err == nil {
		t.Errorf("StartDetached of a missing command succeeded")
	}
}

func testReadWriteFile(t *testing.T, ctx context.Context, tr Transport, dir string) {
	p := filepath.Join(dir, "config.json")
	if _, err := tr.ReadFile(ctx, p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: got %v, want fs.ErrNotExist", err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: several SFTP packets
	for i, c := range []struct {
		data []byte
		perm fs.FileMode
	}{{[]byte("v1"), 0o640}, {big, 0o600}, {nil, 0o755}} {
		if err := tr.WriteFileAtomic(ctx, p, c.data, c.perm); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got, err := tr.ReadFile(ctx, p)
		if err != nil || !bytes.Equal(got, c.data) {
			t.Errorf("write %d: read back %d bytes, %v; want %d bytes", i, len(got), err, len(c.data))
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != c.perm {
			t.Errorf("write %d: mode %v, %v; want %v", i, fi.Mode().Perm(), err, c.perm)
		}
	}
	if err := tr.WriteFileAtomic(ctx, filepath.Join(dir, "missing", "f"), []byte("x"), 0o644); err == nil {
		t.Errorf("WriteFileAtomic into a missing directory succeeded")
	}
	assertNames(t, dir, "config.json") // no temporary files left behind
}

// testWriteFileAtomicReaders replaces a file while readers read it: each
// read is one whole version, never a mix or nothing.
func testWriteFileAtomicReaders(t *testing.T, ctx context.Context, tr Transport, dir string) {
	p := filepath.Join(dir, "state")
	versions := [][]byte{bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 32<<10)}
	if err := tr.WriteFileAtomic(ctx, p, versions[0], 0o644); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var bad atomic.Value
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				got, err := os.ReadFile(p)
				if err != nil || !(bytes.Equal(got, versions[0]) || bytes.Equal(got, versions[1])) {
					bad.Store(fmt.Sprintf("read %d bytes, %v", len(got), err))
					return
				}
			}
		})
	}
	for i := range 50 {
		if err := tr.WriteFileAtomic(ctx, p, versions[i%2], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Errorf("a reader saw a partial file: %v", b)
	}
	assertNames(t, dir, "state")
}

func testMkdirAll(t *testing.T, ctx context.Context, tr Transport, dir string) {
	p := filepath.Join(dir, "a", "b", "c")
	if err := tr.MkdirAll(ctx, p, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a", "a/b", "a/b/c"} {
		fi, err := os.Stat(filepath.Join(dir, d))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
			t.Errorf("%s: %v, %v; want a 0750 directory", d, fi.Mode(), err)
		}
	}
	if err := tr.MkdirAll(ctx, p, 0o700); err != nil {
		t.Errorf("MkdirAll of an existing directory: %v", err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o750 {
		t.Errorf("existing directory changed mode to %v", fi.Mode().Perm())
	}
	f := filepath.Join(dir, "file")
	writeLocal(t, f, "x", 0o644)
	if err := tr.MkdirAll(ctx, filepath.Join(f, "sub"), 0o755); err == nil {
		t.Errorf("MkdirAll below a regular file succeeded")
	}
}

func testRename(t *testing.T, ctx context.Context, tr Transport, dir string) {
	from, to := filepath.Join(dir, "new"), filepath.Join(dir, "old")
	writeLocal(t, from, "new", 0o644)
	writeLocal(t, to, "old", 0o644)
	if err := tr.Rename(ctx, from, to); err != nil {
		t.Fatalf("Rename over an existing file: %v", err)
	}
	if got, _ := os.ReadFile(to); string(got) != "new" {
		t.Errorf("after Rename: %q", got)
	}
	assertNames(t, dir, "old")
	if err := tr.Rename(ctx, from, to); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rename of a missing file: got %v, want fs.ErrNotExist", err)
	}
}

func testSymlinks(t *testing.T, ctx context.Context, tr Transport, dir string) {
	link := filepath.Join(dir, "current")
	if err := tr.Symlink(ctx, "releases/1", link); err != nil {
		t.Fatal(err)
	}
	if got, err := tr.Readlink(ctx, link); err != nil || got != "releases/1" {
		t.Errorf("Readlink: got %q, %v", got, err)
	}
	if got, _ := os.Readlink(link); got != "releases/1" {
		t.Errorf("on disk the link points at %q", got)
	}
	if err := tr.Symlink(ctx, "releases/2", link); err == nil {
		t.Errorf("Symlink over an existing link succeeded")
	}
	if _, err := tr.Readlink(ctx, filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Readlink of a missing link: got %v, want fs.ErrNotExist", err)
	}
	if err := tr.SwitchSymlink(ctx, "releases/2", filepath.Join(dir, "fresh")); err != nil {
		t.Errorf("SwitchSymlink creating a new link: %v", err)
	}
}

// testSwitchSymlinkAtomic switches a "current" link between two releases
// 200 times while readers resolve it: none may find it missing.
func testSwitchSymlinkAtomic(t *testing.T, ctx context.Context, tr Transport, dir string) {
	for _, r := range []string{"r0", "r1"} {
		if err := os.MkdirAll(filepath.Join(dir, "releases", r), 0o755); err != nil {
			t.Fatal(err)
		}
		writeLocal(t, filepath.Join(dir, "releases", r, "id"), r, 0o644)
	}
	link := filepath.Join(dir, "current")
	if err := tr.Symlink(ctx, "releases/r0", link); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads, misses atomic.Int64
	var firstMiss atomic.Value
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				reads.Add(1)
				id, err := os.ReadFile(filepath.Join(link, "id"))
				if err != nil || (string(id) != "r0" && string(id) != "r1") {
					misses.Add(1)
					firstMiss.CompareAndSwap(nil, fmt.Sprintf("%q, %v", id, err))
				}
			}
		})
	}
	for i := range 200 {
		target := "releases/r" + strconv.Itoa((i+1)%2)
		if err := tr.SwitchSymlink(ctx, target, link); err != nil {
			t.Fatalf("switch %d: %v", i, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := misses.Load(); n > 0 {
		t.Errorf("%d of %d reads did not find the link (first: %v)", n, reads.Load(), firstMiss.Load())
	}
	if got, err := tr.Readlink(ctx, link); err != nil || got != "releases/r0" {
		t.Errorf("after 200 switches: %q, %v; want releases/r0", got, err)
	}
	assertNames(t, dir, "current", "releases")
}

func testRemoveAll(t *testing.T, ctx context.Context, tr Transport, dir string) {
	root := filepath.Join(dir, "release")
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeLocal(t, filepath.Join(root, "a", "b", "f"), "x", 0o444)
	if err := os.Symlink("/etc", filepath.Join(root, "etc-link")); err != nil {
		t.Fatal(err)
	}
	if err := tr.RemoveAll(ctx, root); err != nil {
		t.Fatal(err)
	}
	assertNames(t, dir)
	if _, err := os.Stat("/etc/hostname"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RemoveAll followed a symlink: %v", err)
	}
	if err := tr.RemoveAll(ctx, filepath.Join(dir, "missing")); err != nil {
		t.Errorf("RemoveAll of a missing path: %v", err)
	}
	for _, p := range []string{"", "/", "//"} {
		if err := tr.RemoveAll(ctx, p); err == nil {
			t.Errorf("RemoveAll(%q) was not refused", p)
		}
	}
}

// testRemoveAllFileAndLink removes a file, and a symlink to a directory
// without touching the directory (over SSH these go by SFTP, not rm).
func testRemoveAllFileAndLink(t *testing.T, ctx context.Context, tr Transport, dir string) {
	keep := filepath.Join(dir, "keep")
	if err := os.MkdirAll(keep, 0o755); err != nil {
		t.Fatal(err)
	}
	writeLocal(t, filepath.Join(keep, "f"), "x", 0o644)
	writeLocal(t, filepath.Join(dir, "file"), "x", 0o444)
	if err := os.Symlink("keep", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"file", "link"} {
		if err := tr.RemoveAll(ctx, filepath.Join(dir, n)); err != nil {
			t.Errorf("RemoveAll(%s): %v", n, err)
		}
	}
	assertNames(t, dir, "keep")
	assertNames(t, keep, "f")
}

// testStatFS agrees with statfs(2) on this machine's filesystem.
func testStatFS(t *testing.T, ctx context.Context, tr Transport, dir string) {
	free, total, err := tr.StatFS(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if want := st.Blocks * uint64(st.Bsize); total != want {
		t.Errorf("total %d, want %d", total, want)
	}
	if free == 0 || free > total {
		t.Errorf("free %d of %d", free, total)
	}
	if _, _, err := tr.StatFS(ctx, filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("StatFS of a missing path: %v, want fs.ErrNotExist", err)
	}
}

func testReadDirExists(t *testing.T, ctx context.Context, tr Transport, dir string) {
	for _, n := range []string{"b", ".hidden", "a b", "Z"} {
		writeLocal(t, filepath.Join(dir, n), n, 0o644)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	got, err := tr.ReadDir(ctx, dir)
	if diff := cmp.Diff(got, []string{".hidden", "Z", "a b", "b", "d", "dangling"}); err != nil || diff != "" {
		t.Errorf("ReadDir: %v (-got +want):\n%s", err, diff)
	}
	if _, err := tr.ReadDir(ctx, filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir of a missing directory: got %v, want fs.ErrNotExist", err)
	}
	for p, want := range map[string]bool{"b": true, "d": true, "dangling": true, "missing": false, "b/x": false} {
		if got, err := tr.Exists(ctx, filepath.Join(dir, p)); got != want || err != nil {
			t.Errorf("Exists(%s): got %v, %v; want %v", p, got, err, want)
		}
	}
}

func testCopyTree(t *testing.T, ctx context.Context, tr Transport, dir string) {
	src := filepath.Join(dir, "src")
	files := map[string]struct {
		data string
		perm fs.FileMode
	}{
		"bin/app":          {"#!/bin/sh\necho app\n", 0o755},
		"etc/secret.conf":  {"token=x", 0o600},
		"README":           {"hello", 0o644},
		"dir with space/ü": {"unicode", 0o644},
		"empty":            {"", 0o644},
		"ro/file":          {"read only dir", 0o444},
		"big":              {strings.Repeat("x", 300<<10), 0o644},
	}
	for name, f := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeLocal(t, p, f.data, f.perm)
	}
	if err := os.Mkdir(filepath.Join(src, "emptydir"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "releases", "v1")
	if err := tr.CopyTree(ctx, src, dst); err != nil {
		t.Fatalf("CopyTree: %v", err)
	}
	if diff := cmp.Diff(snapshot(t, dst), snapshot(t, src)); diff != "" {
		t.Errorf("copied tree differs (-got +want):\n%s", diff)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("destination root: %v, %v; want 0755", fi.Mode().Perm(), err)
	}
	// Copying again over the same tree overwrites.
	writeLocal(t, filepath.Join(src, "README"), "changed", 0o644)
	if err := tr.CopyTree(ctx, src, dst); err != nil {
		t.Fatalf("second CopyTree: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "README")); string(got) != "changed" {
		t.Errorf("second copy: README is %q", got)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := tr.CopyTree(ctx, src, filepath.Join(dir, "releases", "v2")); err == nil {
		t.Errorf("CopyTree of a tree with a symlink succeeded")
	}
}

// testConcurrent runs more operations at once than an SSH connection has
// sessions: they must queue, not fail.
func testConcurrent(t *testing.T, ctx context.Context, tr Transport, dir string) {
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := range 12 {
		wg.Go(func() {
			res, err := tr.Run(ctx, []string{"sh", "-c", "sleep 0.2; echo $0", strconv.Itoa(i)}, RunOptions{})
			if err == nil && strings.TrimSpace(string(res.Stdout)) != strconv.Itoa(i) {
				err = fmt.Errorf("run %d printed %q", i, res.Stdout)
			}
			errs <- err
		})
		wg.Go(func() {
			errs <- tr.WriteFileAtomic(ctx, filepath.Join(dir, strconv.Itoa(i)), []byte("x"), 0o644)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func writeLocal(t *testing.T, p, data string, perm fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
}

// assertNames checks that dir holds exactly names: no temporary files.
func assertNames(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if names == nil {
		names = []string{}
	}
	if diff := cmp.Diff(got, names); diff != "" {
		t.Errorf("%s (-got +want):\n%s", dir, diff)
	}
}

// snapshot lists a tree as path -> mode and content.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		entry := fi.Mode().String()
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			entry += " " + string(data)
		}
		out[rel] = entry
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// alive reports whether pid runs: a zombie (exited, not yet reaped - in a
// container PID 1 may never reap) counts as dead.
func alive(pid int) bool {
	state := procStat(pid, 0)
	return state != "" && state != "Z" && state != "X"
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !alive(pid) {
			return
		}
	}
	t.Errorf("pid %d still runs after the timeout", pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// procStat returns field i (0 is the state, 3 the session) after the
// command name in /proc/pid/stat, or "".
func procStat(pid, i int) string {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	j := bytes.LastIndexByte(stat, ')')
	if j < 0 {
		return ""
	}
	f := strings.Fields(string(stat[j+1:]))
	if i >= len(f) {
		return ""
	}
	return f[i]
}

func TestLocalConformance(t *testing.T) { testConformance(t, Local()) }
