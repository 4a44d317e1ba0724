package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strings"
	"syscall"
	"time"
)

// DefaultLockTimeout is the age after which a lock is stale even when its
// process cannot be checked (it runs on another machine).
const DefaultLockTimeout = 2 * time.Hour

// LockInfo is what a lock file says about the run holding it.
type LockInfo struct {
	// Holder is user@hostname of the process that took the lock.
	Holder   string    `json:"holder"`
	PID      int       `json:"pid"`
	Hostname string    `json:"hostname"`
	Started  time.Time `json:"started_at"`
	Command  []string  `json:"command"`
	Run      string    `json:"run"`
}

// NewLockInfo describes this process as the holder of run's lock.
func NewLockInfo(run string, command []string, now time.Time) LockInfo {
	host, _ := os.Hostname()
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return LockInfo{Holder: name + "@" + host, PID: os.Getpid(), Hostname: host, Started: now.UTC(), Command: RedactArgs(command), Run: run}
}

// RedactArgs masks what may be a credential in a command line before it is
// written to a lock file or the journal: the user information of URLs
// (https://TOKEN@host/...), and the values of query parameters.
func RedactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = redactURL(a)
	}
	return out
}

func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
			s = s[:i+3] + "***" + rest[at:]
		}
	}
	if q := strings.IndexByte(s, '?'); q >= 0 && strings.Contains(s[:q], "://") {
		s = s[:q] + "?***"
	}
	return s
}

// LockedError is returned when another run holds the lock.
type LockedError struct {
	Env   string
	Where string
	Info  LockInfo
	// Stale says why the lock looks abandoned ("" when it does not):
	// --break-lock removes only stale locks.
	Stale string
}

func (e *LockedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "environment %s is locked by %s", e.Env, e.Info.Holder)
	if e.Info.PID > 0 {
		fmt.Fprintf(&b, " (pid %d", e.Info.PID)
		if !e.Info.Started.IsZero() {
			fmt.Fprintf(&b, ", since %s", e.Info.Started.UTC().Format(time.RFC3339))
		}
		if len(e.Info.Command) > 0 {
			fmt.Fprintf(&b, ", running %q", strings.Join(e.Info.Command, " "))
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; lock file %s", e.Where)
	if e.Stale != "" {
		fmt.Fprintf(&b, "; the lock is stale: %s; run again with --break-lock to break it", e.Stale)
	}
	return b.String()
}

// LockOptions tune Acquire.
type LockOptions struct {
	// Timeout is the age after which a lock is stale (DefaultLockTimeout).
	Timeout time.Duration
	// BreakStale removes a stale lock and takes it.
	BreakStale bool
	// Now is the clock (time.Now).
	Now func() time.Time
	// PidAlive reports whether a process of this machine runs (kill(pid, 0)).
	PidAlive func(pid int) bool
	// Broke is told about a stale lock that was broken.
	Broke func(old LockInfo, why string)
}

// Lock is a held environment lock.
type Lock struct {
	dir  Dir
	name string
	info LockInfo
}

// LockFile is the lock's file name for env.
func LockFile(env string) string { return env + ".lock" }

// Acquire takes env's lock in dir, or returns a *LockedError naming its
// holder. A lock whose process is gone from this machine, or that is older
// than the timeout, is stale: it is broken only when o.BreakStale is set.
func Acquire(ctx context.Context, dir Dir, env string, info LockInfo, o LockOptions) (*Lock, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultLockTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PidAlive == nil {
		o.PidAlive = pidAlive
	}
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	name := LockFile(env)
	for attempt := 0; ; attempt++ {
		err := dir.CreateExclusive(ctx, name, data)
		if err == nil {
			if ld, ok := dir.(LocalDir); ok {
				ld.sweep(name, time.Minute)
			}
			return &Lock{dir: dir, name: name, info: info}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", dir.Path(name), err)
		}
		held, stale, rerr := readLock(ctx, dir, name, info.Hostname, o)
		if errors.Is(rerr, fs.ErrNotExist) && attempt < 3 {
			continue // released between our create and read
		}
		le := &LockedError{Env: env, Where: dir.Path(name), Info: held, Stale: stale}
		if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			le.Info.Holder = "an unknown holder"
		}
		if stale == "" || !o.BreakStale || attempt > 0 {
			return nil, le
		}
		// Break only the lock we judged stale: if it changed meanwhile,
		// another run took it and the next attempt reports that one.
		again, _, _ := readLock(ctx, dir, name, info.Hostname, o)
		if again.Run != held.Run || again.PID != held.PID {
			continue
		}
		if err := dir.Remove(ctx, name); err != nil {
			return nil, fmt.Errorf("break lock %s: %w", dir.Path(name), err)
		}
		if o.Broke != nil {
			o.Broke(held, stale)
		}
	}
}

// readLock reads a lock and judges whether it is stale.
func readLock(ctx context.Context, dir Dir, name, thisHost string, o LockOptions) (LockInfo, string, error) {
	b, err := dir.ReadFile(ctx, name)
	if err != nil {
		return LockInfo{}, "", err
	}
	var li LockInfo
	if err := json.Unmarshal(b, &li); err != nil || li.Holder == "" {
		// Not written by gearshift's atomic create: garbage, breakable.
		return LockInfo{Holder: "an unknown holder"}, "the lock file is unreadable", nil
	}
	if li.Hostname == thisHost && li.PID > 0 && !o.PidAlive(li.PID) {
		return li, fmt.Sprintf("pid %d is not running on %s", li.PID, li.Hostname), nil
	}
	if age := o.Now().Sub(li.Started); !li.Started.IsZero() && age > o.Timeout {
		return li, fmt.Sprintf("it is %s old, older than --lock-timeout %s", age.Truncate(time.Second), o.Timeout), nil
	}
	return li, "", nil
}

// Release removes the lock if it is still this run's.
func (l *Lock) Release(ctx context.Context) error {
	b, err := l.dir.ReadFile(ctx, l.name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("lock %s was removed while held", l.dir.Path(l.name))
		}
		return err
	}
	var li LockInfo
	if json.Unmarshal(b, &li) == nil && li.Run != l.info.Run {
		return fmt.Errorf("lock %s was broken and taken by %s (run %s) while held", l.dir.Path(l.name), li.Holder, li.Run)
	}
	return l.dir.Remove(ctx, l.name)
}

// Dir is where the lock (and the journal) live.
func (l *Lock) Dir() Dir { return l.dir }

// Info is what the lock says.
func (l *Lock) Info() LockInfo { return l.info }

func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
