package apply

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
