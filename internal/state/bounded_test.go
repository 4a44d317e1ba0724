package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestBoundedAgrees: the demo state decoded by the child process and sent
// back as JSON is the state evaluated in this process, positions included.
func TestBoundedAgrees(t *testing.T) {
	opts := Options{Now: func() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) }}
	bounded, err := Load(context.Background(), "../..", nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.InProcess = true
	inProcess, err := Load(context.Background(), "../..", nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	// JSON does not tell an empty map from a missing one.
	if diff := cmp.Diff(inProcess, bounded, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("bounded load differs from in-process load (-in-process +bounded):\n%s", diff)
	}
	if p := bounded.Environments["prod"].Units["portal"].Pos.Of("version"); p.Line == 0 {
		t.Errorf("portal's version has no position after the child: %v", p)
	}
}

// TestBounds: a state that exceeds the memory or the time bound is a
// diagnostic naming the environment. Unbounded, the first takes more than
// 9 GB and the second more than ten minutes, and the test fails at go
// test's deadline.
func TestBounds(t *testing.T) {
	var doubling strings.Builder
	doubling.WriteString("package gearshift\n\na0: \"xx\"\n")
	for i := 1; i <= 30; i++ {
		doubling.WriteString(fmt.Sprintf("a%d: a%d+a%d\n", i, i-1, i-1))
	}
	for _, tc := range []struct {
		name, src string
		limits    Limits
		want      string
	}{
		{"memory", doubling.String(), Limits{Memory: 256 << 20},
			"environments/dev: evaluation exceeded the memory bound of 256 MiB (--load-memory)"},
		{"time", "package gearshift\n\nimport \"list\"\n\nx: [for i in list.Range(0, 3000, 1) for j in list.Range(0, 3000, 1) {i * j}]\n",
			Limits{Memory: 512 << 20, Timeout: 3 * time.Second},
			"environments/dev: evaluation exceeded the time bound of 3s (--load-timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"environments/dev/bomb.cue": tc.src})
			_, err := Load(context.Background(), dir, nil, Options{Limits: tc.limits})
			var ds Diagnostics
			if !errors.As(err, &ds) {
				t.Fatalf("Load: %v, want Diagnostics", err)
			}
			if got := ds.Error(); got != tc.want {
				t.Errorf("Load: %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		str  string
	}{
		{"2GiB", 2 << 30, "2 GiB"},
		{"512MiB", 512 << 20, "512 MiB"},
		{"512 MB", 512 << 20, "512 MiB"},
		{"1048577", 1<<20 + 1, "1048577 B"},
		{"3k", 3 << 10, "3 KiB"},
	} {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("ParseByteSize(%q) = %d (%s), %v; want %d (%s)", tc.in, got, got, err, tc.want, tc.str)
		}
		if back, err := ParseByteSize(got.String()); err != nil || back != got {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", got.String(), back, err, got)
		}
	}
	for _, bad := range []string{"", "lots", "-1GiB", "0", "1.5GiB", "99999999999TiB"} {
		if got, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", bad, got)
		}
	}
}

// TestChildEnvironment: the evaluator runs with nothing of gearshift's
// environment (no token) and under the kernel's memory limit, as /proc
// shows while it evaluates a state that takes its whole time bound.
func TestChildEnvironment(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	t.Setenv("GITHUB_TOKEN", "ghp_FAKEchildTOKEN0123456789")
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"environments/dev/slow.cue": "package gearshift\n\nimport \"list\"\n\nx: [for i in list.Range(0, 3000, 1) for j in list.Range(0, 3000, 1) {i * j}]\n"})
	// The comprehension runs until the test has read the child and
	// cancels it: a loaded machine may take long to start the child.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Load(ctx, dir, nil, Options{Limits: Limits{Memory: 1 << 30, Timeout: 10 * time.Minute}})
		done <- err
	}()
	var environ, limits []byte
	for environ == nil {
		select {
		case err := <-done:
			t.Fatalf("Load returned before its child was seen: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		pid := childOf(os.Getpid())
		if pid == 0 {
			continue
		}
		e, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		l, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
		if err1 == nil && err2 == nil && len(e) > 0 && strings.Contains(string(l), fmt.Sprint(1<<30+64<<20)) {
			environ, limits = e, l
		}
	}
	cancel()
	<-done
	if got, want := strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00"), []string{childEnv + "=1", "GOTRACEBACK=none"}; !cmp.Equal(got, want) {
		t.Errorf("the evaluator's environment is %q, want %q", got, want)
	}
	var dataLimit string
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max data size") {
			dataLimit = strings.Join(strings.Fields(line)[3:5], " ")
		}
	}
	if want := fmt.Sprintf("%d %d", 1<<30+64<<20, 1<<30+64<<20); dataLimit != want {
		t.Errorf("the evaluator's data size limit is %q, want %q", dataLimit, want)
	}
}

// childOf returns the pid of a child process of ppid, or 0.
func childOf(ppid int) int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b)[i+1:])
		if len(f) > 1 && f[1] == fmt.Sprint(ppid) {
			var pid int
			fmt.Sscan(filepath.Base(filepath.Dir(s)), &pid)
			return pid
		}
	}
	return 0
}

// TestDiedOfMemory: every way the Go runtime was seen to die at the
// child's memory limits counts as exceeding it; a panic does not.
func TestDiedOfMemory(t *testing.T) {
	for stderr, want := range map[string]bool{
		"fatal error: runtime: out of memory\n":                                true,
		"fatal error: runtime: cannot allocate memory\n":                       true,
		"runtime: mmap(0x0, 67108864) failed with errno=12\n":                  true,
		"runtime/cgo: pthread_create failed: Resource temporarily unavailable": true,
		"panic: runtime error: index out of range [3] with length 2\n":         false,
		"": false,
	} {
		if got := diedOfMemory(stderr); got != want {
			t.Errorf("diedOfMemory(%q) = %v, want %v", stderr, got, want)
		}
	}
}
