package apply

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

// dirs returns every kind of Dir, each on a fresh directory: this machine,
// the transport's local implementation, and a real sshd on loopback (when
// sshd is installed), so that the lock and the journal are tested where
// they run.
func dirs(t *testing.T) map[string]func(t *testing.T) Dir {
	return map[string]func(t *testing.T) Dir{
		"local": func(t *testing.T) Dir { return LocalDir(filepath.Join(t.TempDir(), ".gearshift")) },
		"transport-local": func(t *testing.T) Dir {
			return RemoteDir{T: transport.Local(), Dir: filepath.Join(t.TempDir(), ".gearshift")}
		},
		"ssh": func(t *testing.T) Dir {
			c := sshd.Start(t, 1)
			h := c.Hosts[0]
			tr, err := transport.DialSSH(context.Background(), transport.SSHConfig{
				Host: h.Addr, Port: h.Port, User: c.User, KnownHosts: c.KnownHosts, Identity: c.Identity, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tr.Close() })
			return RemoteDir{T: tr, Dir: filepath.Join(t.TempDir(), ".gearshift")}
		},
	}
}

func TestDirs(t *testing.T) {
	for name, mk := range dirs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			d := mk(t)
			if err := d.CreateExclusive(ctx, "a", []byte("one")); err != nil {
				t.Fatal(err)
			}
			if err := d.CreateExclusive(ctx, "a", []byte("two")); !errors.Is(err, fs.ErrExist) {
				t.Errorf("second CreateExclusive: got %v, want fs.ErrExist", err)
			}
			if b, err := d.ReadFile(ctx, "a"); err != nil || string(b) != "one" {
				t.Errorf("ReadFile: got %q, %v, want %q", b, err, "one")
			}
			for _, line := range []string{"x\n", "y\n"} {
				if err := d.Append(ctx, "j", []byte(line)); err != nil {
					t.Fatal(err)
				}
			}
			if b, _ := d.ReadFile(ctx, "j"); string(b) != "x\ny\n" {
				t.Errorf("after two appends: got %q", b)
			}
			if err := d.Remove(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if err := d.Remove(ctx, "a"); err != nil {
				t.Errorf("removing a missing file: %v", err)
			}
			if _, err := d.ReadFile(ctx, "a"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ReadFile after Remove: got %v, want fs.ErrNotExist", err)
			}
		})
	}
}

// TestLockExclusive starts runs at once on every kind of Dir: exactly one
// gets the lock, the others are told who holds it.
func TestLockExclusive(t *testing.T) {
	for name, mk := range dirs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			d := mk(t)
			const n = 8
			var wg sync.WaitGroup
			locks := make([]*Lock, n)
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					info := NewLockInfo(NewRunID(time.Now()), []string{"gearshift", "apply"}, time.Now())
					locks[i], errs[i] = Acquire(ctx, d, "dev", info, LockOptions{})
				}()
			}
			wg.Wait()
			var held *Lock
			for i := range n {
				if errs[i] == nil {
					if held != nil {
						t.Fatalf("two runs hold the lock")
					}
					held = locks[i]
					continue
				}
				var le *LockedError
				if !errors.As(errs[i], &le) || le.Stale != "" || !strings.Contains(le.Error(), "is locked by ") {
					t.Errorf("run %d: got %v, want a live LockedError", i, errs[i])
				}
			}
			if held == nil {
				t.Fatal("nobody got the lock")
			}
			if err := held.Release(ctx); err != nil {
				t.Fatal(err)
			}
			l, err := Acquire(ctx, d, "dev", NewLockInfo("r2", nil, time.Now()), LockOptions{})
			if err != nil {
				t.Fatalf("after release: %v", err)
			}
			l.Release(ctx)
		})
	}
}

func TestLockStale(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	host, _ := os.Hostname()
	dead := func(int) bool { return false }
	alive := func(int) bool { return true }
	for _, tc := range []struct {
		name      string
		holder    LockInfo
		pidAlive  func(int) bool
		wantStale string
	}{
		{"live here", LockInfo{Holder: "a@" + host, Hostname: host, PID: 42, Started: now.Add(-time.Minute), Run: "r1"}, alive, ""},
		{"dead here", LockInfo{Holder: "a@" + host, Hostname: host, PID: 42, Started: now.Add(-time.Minute), Run: "r1"}, dead, "pid 42 is not running on " + host},
		{"elsewhere, recent", LockInfo{Holder: "a@b", Hostname: "b", PID: 42, Started: now.Add(-time.Hour), Run: "r1"}, dead, ""},
		{"elsewhere, old", LockInfo{Holder: "a@b", Hostname: "b", PID: 42, Started: now.Add(-3 * time.Hour), Run: "r1"}, dead, "it is 3h0m0s old, older than --lock-timeout 2h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := LocalDir(t.TempDir())
			held, err := Acquire(ctx, d, "dev", tc.holder, LockOptions{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			me := LockInfo{Holder: "me@" + host, Hostname: host, PID: os.Getpid(), Started: now, Run: "r2"}
			o := LockOptions{Now: func() time.Time { return now }, PidAlive: tc.pidAlive}
			_, err = Acquire(ctx, d, "dev", me, o)
			var le *LockedError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a LockedError", err)
			}
			if diff := cmp.Diff(tc.holder, le.Info); diff != "" {
				t.Errorf("holder (-got +want):\n%s", diff)
			}
			if le.Stale != tc.wantStale {
				t.Errorf("stale: got %q, want %q", le.Stale, tc.wantStale)
			}
			var broke string
			o.BreakStale = true
			o.Broke = func(old LockInfo, why string) { broke = old.Run + ": " + why }
			l, err := Acquire(ctx, d, "dev", me, o)
			if tc.wantStale == "" {
				if err == nil {
					t.Fatal("--break-lock broke a live lock")
				}
				return
			}
			if err != nil {
				t.Fatalf("--break-lock on a stale lock: %v", err)
			}
			if want := "r1: " + tc.wantStale; broke != want {
				t.Errorf("broke: got %q, want %q", broke, want)
			}
			// The broken run cannot release the new holder's lock.
			if err := held.Release(ctx); err == nil || !strings.Contains(err.Error(), "was broken and taken by") {
				t.Errorf("release by the broken run: got %v", err)
			}
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLockSweep removes what a crash inside CreateExclusive left.
func TestLockSweep(t *testing.T) {
	d := LocalDir(t.TempDir())
	left := filepath.Join(string(d), ".dev.lock.tmp-999999999-123")
	if err := os.WriteFile(left, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(context.Background(), d, "dev", NewLockInfo("r", nil, time.Now()), LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(context.Background())
	if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the leftover of a dead process is still there: %v", err)
	}
}

func TestRedactArgs(t *testing.T) {
	got := RedactArgs([]string{"gearshift", "apply", "--repo", "https://x-access-token:ghp_secret@github.com/o/r.git", "--repo=https://tok@h/r?token=abc", "dev"})
	want := []string{"gearshift", "apply", "--repo", "https://***@github.com/o/r.git", "--repo=https://***@h/r?***", "dev"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

// exitedProcess starts a real child process, notes what a lock would say
// about it, and lets it exit (reaped), so that its pid is provably gone.
func exitedProcess(t *testing.T) (pid int, start uint64) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	st, err := readProcStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return cmd.Process.Pid, st.start
}

// TestLockTakeOver: a lock whose process is provably gone from this
// machine is taken over without --break-lock, and the caller is told who
// held it; one that gearshift cannot prove abandoned is not.
func TestLockTakeOver(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a lock's process is checked through /proc, on linux")
	}
	ctx := context.Background()
	me := NewLockInfo("r2", []string{"gearshift", "apply"}, time.Now())
	if me.BootID == "" || me.PIDNamespace == "" || me.PIDStart == 0 {
		t.Fatalf("NewLockInfo does not pin the process down: %+v", me)
	}
	deadPID, deadStart := exitedProcess(t)
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	liveStat, err := readProcStat(live.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	holder := func(pid int, start uint64) LockInfo {
		li := NewLockInfo("r1", []string{"gearshift", "apply", "dev"}, time.Now())
		li.Holder, li.PID, li.PIDStart = "old@"+li.Hostname, pid, start
		return li
	}
	elsewhere := holder(deadPID, deadStart)
	elsewhere.Hostname, elsewhere.Holder = "elsewhere.example", "old@elsewhere.example"
	noBoot := holder(deadPID, deadStart)
	noBoot.BootID = ""
	// A run on another machine, judging a lock taken on this one: only a
	// lock on this machine's disk, read through a transport, lets it look.
	controller := me
	controller.Hostname, controller.Holder = "controller.example", "ci@controller.example"
	for _, tc := range []struct {
		name   string
		holder LockInfo
		me     *LockInfo // nil: this machine
		// wantBroke is the reason the lock was taken over; "" means the
		// second run must get a LockedError with wantStale. remoteOnly:
		// taken over only where the lock is in a RemoteDir.
		wantBroke, wantStale string
		remoteOnly           bool
	}{
		{name: "exited", holder: holder(deadPID, deadStart), wantBroke: fmt.Sprintf("r1: its process (pid %d) is no longer running on %s", deadPID, me.Hostname)},
		{name: "pid reused", holder: holder(live.Process.Pid, liveStat.start+1), wantBroke: fmt.Sprintf("r1: its process (pid %d) is gone from %s: the pid now belongs to a process started later", live.Process.Pid, me.Hostname)},
		{name: "live", holder: holder(live.Process.Pid, liveStat.start)},
		{name: "another host", holder: elsewhere},
		{name: "no boot id", holder: noBoot, wantStale: fmt.Sprintf("pid %d is not running on %s", deadPID, me.Hostname)},
		{name: "judged from another machine", holder: holder(deadPID, deadStart), me: &controller, remoteOnly: true,
			wantBroke: fmt.Sprintf("r1: its process (pid %d) is no longer running on %s (read through ", deadPID, me.Hostname)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, mk := range dirs(t) {
				t.Run(name, func(t *testing.T) {
					d := mk(t)
					if _, err := Acquire(ctx, d, "dev", tc.holder, LockOptions{}); err != nil {
						t.Fatal(err)
					}
					var broke string
					judge := me
					if tc.me != nil {
						judge = *tc.me
					}
					l, err := Acquire(ctx, d, "dev", judge, LockOptions{Broke: func(old LockInfo, why string) { broke = old.Run + ": " + why }})
					if _, remote := d.(RemoteDir); tc.wantBroke == "" || (tc.remoteOnly && !remote) {
						var le *LockedError
						if !errors.As(err, &le) {
							t.Fatalf("got %v, want a LockedError", err)
						}
						if le.Stale != tc.wantStale || broke != "" {
							t.Errorf("got stale %q, broke %q; want stale %q and nothing broken", le.Stale, broke, tc.wantStale)
						}
						return
					}
					if err != nil {
						t.Fatalf("the lock of a process that is gone was not taken over: %v", err)
					}
					if broke != tc.wantBroke && !(tc.remoteOnly && strings.HasPrefix(broke, tc.wantBroke)) {
						t.Errorf("broke: got %q, want %q", broke, tc.wantBroke)
					}
					if b, _ := d.ReadFile(ctx, LockFile("dev")); !strings.Contains(string(b), `"run": "r2"`) {
						t.Errorf("the lock file is not the new run's:\n%s", b)
					}
					if err := l.Release(ctx); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}
