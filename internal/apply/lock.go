package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
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
	// BootID (/proc/sys/kernel/random/boot_id), PIDNamespace (the link
	// /proc/self/ns/pid) and PIDStart (the process's start time in clock
	// ticks since boot, /proc/<pid>/stat) pin the process down: a later
	// run on the same kernel and in the same pid namespace can prove that
	// it is gone (the pid is not running, or runs a process that started
	// at another time), and then takes the lock over. Empty where /proc
	// does not tell.
	BootID       string `json:"boot_id,omitempty"`
	PIDNamespace string `json:"pid_namespace,omitempty"`
	PIDStart     uint64 `json:"pid_start,omitempty"`
}

// NewLockInfo describes this process as the holder of run's lock.
func NewLockInfo(run string, command []string, now time.Time) LockInfo {
	host, _ := os.Hostname()
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	li := LockInfo{Holder: name + "@" + host, PID: os.Getpid(), Hostname: host, Started: now.UTC(), Command: RedactArgs(command), Run: run}
	li.BootID, li.PIDNamespace = machineIdentity()
	if st, err := readProcStat(li.PID); err == nil {
		li.PIDStart = st.start
	}
	return li
}

// machineIdentity is this kernel's boot id and this process's pid
// namespace, "" when /proc does not say.
func machineIdentity() (bootID, pidNS string) {
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		bootID = strings.TrimSpace(string(b))
	}
	pidNS, _ = os.Readlink("/proc/self/ns/pid")
	return bootID, pidNS
}

// procStat is what /proc/<pid>/stat says about a process.
type procStat struct {
	state byte   // R, S, D, Z, ...
	start uint64 // clock ticks after boot
}

// remoteProcessGone is processGone for a lock taken on the host that
// holds it (gearshift ran there): that host's hostname, boot id and pid
// namespace (of the SFTP server, a child of its sshd) and the pid's
// /proc/<pid>/stat are read through the transport. "" when the host is
// not the lock's machine or does not tell.
func remoteProcessGone(ctx context.Context, d RemoteDir, li LockInfo) string {
	if li.PID <= 0 || li.BootID == "" || li.PIDNamespace == "" {
		return ""
	}
	read := func(p string) string {
		b, err := d.T.ReadFile(ctx, p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	ns, err := d.T.Readlink(ctx, "/proc/self/ns/pid")
	if err != nil || ns != li.PIDNamespace || read("/proc/sys/kernel/hostname") != li.Hostname || read("/proc/sys/kernel/random/boot_id") != li.BootID {
		return ""
	}
	where := li.Hostname + " (read through " + d.T.Host() + ")"
	b, err := d.T.ReadFile(ctx, "/proc/"+strconv.Itoa(li.PID)+"/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("its process (pid %d) is no longer running on %s", li.PID, where)
	}
	if err != nil {
		return ""
	}
	st, err := parseProcStat(li.PID, b)
	switch {
	case err != nil:
		return ""
	case st.state == 'Z':
		return fmt.Sprintf("its process (pid %d) on %s has exited (a zombie)", li.PID, where)
	case li.PIDStart != 0 && st.start != li.PIDStart:
		return fmt.Sprintf("its process (pid %d) is gone from %s: the pid now belongs to a process started later", li.PID, where)
	}
	return ""
}

// readProcStat reads /proc/<pid>/stat of this machine.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(pid, b)
}

// parseProcStat reads a /proc/<pid>/stat. The command name (field 2) is
// in parentheses and may contain anything, so fields are counted from the
// last ')': the state is field 3, the start time field 22.
func parseProcStat(pid int, b []byte) (procStat, error) {
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return procStat{state: f[0][0], start: start}, nil
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
	// --break-lock removes only stale locks. (A lock whose process is
	// provably gone is taken over without it and never gets here.)
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
	// Broke is told about a lock that was broken: a stale one with
	// BreakStale, or one whose process is provably gone (always).
	Broke func(old LockInfo, why string)
	// Wait is how long Acquire waits for a lock another run holds
	// (--lock-wait): two CI jobs started a few seconds apart then run one
	// after the other instead of the second failing. 0 fails at once.
	Wait time.Duration
	// Poll is how often a waiting Acquire tries again (DefaultLockPoll).
	Poll time.Duration
	// Waiting is told once, when Acquire starts to wait, who holds the
	// lock.
	Waiting func(held *LockedError)
}

// DefaultLockPoll is how often a waiting Acquire tries the lock again.
const DefaultLockPoll = time.Second

// Lock is a held environment lock.
type Lock struct {
	dir  Dir
	name string
	info LockInfo
	// waited says that another run held the lock when it was asked for:
	// what was loaded before may be out of date (Waited).
	waited bool
}

// Waited reports whether Acquire had to wait for another run to release
// the lock: the state that run deployed, and any newer commit, came after
// this run loaded its own.
func (l *Lock) Waited() bool { return l.waited }

// LockFile is the lock's file name for env.
func LockFile(env string) string { return env + ".lock" }

// Acquire takes env's lock in dir, or returns a *LockedError naming its
// holder.
//
// A lock whose process is provably gone is taken over at once (o.Broke is
// told): it was taken on this machine (same hostname, boot id and pid
// namespace, as recorded in it), or on the host a RemoteDir is on (the
// same read there through the transport), and its pid is not running, is
// a zombie, or is a process that started at another time than the holder. A lock
// gearshift cannot prove abandoned is stale when its pid is not running
// on a machine of its hostname but its boot id is unknown or different
// (an older gearshift, another machine with the same name, a reboot), or
// when it is older than the timeout: it is broken only when o.BreakStale
// is set.
//
// With o.Wait, a lock that is held (stale or not) is tried again every
// o.Poll until it is free or o.Wait has passed; then the last
// *LockedError is returned. The wait ends early with ctx.
func Acquire(ctx context.Context, dir Dir, env string, info LockInfo, o LockOptions) (*Lock, error) {
	l, err := acquire(ctx, dir, env, info, o)
	if err == nil || o.Wait <= 0 {
		return l, err
	}
	var le *LockedError
	if !errors.As(err, &le) {
		return nil, err
	}
	poll := o.Poll
	if poll <= 0 {
		poll = DefaultLockPoll
	}
	if o.Waiting != nil {
		o.Waiting(le)
	}
	// The deadline is measured on the real clock: o.Now may be a fixed
	// time (GEARSHIFT_NOW in tests).
	deadline := time.Now().Add(o.Wait)
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lock: %w (%v)", ctx.Err(), err)
		case <-t.C:
		}
		l, err = acquire(ctx, dir, env, info, o)
		if err == nil {
			l.waited = true
			return l, nil
		}
		if !errors.As(err, &le) || !time.Now().Before(deadline) {
			if errors.As(err, &le) {
				return nil, &LockWaitError{Wait: o.Wait, Locked: le}
			}
			return nil, err
		}
		t.Reset(min(poll, time.Until(deadline)+time.Millisecond))
	}
}

// LockWaitError is a lock still held after --lock-wait: it is a
// *LockedError too (exit 5).
type LockWaitError struct {
	Wait   time.Duration
	Locked *LockedError
}

func (e *LockWaitError) Error() string {
	return fmt.Sprintf("waited %s for the lock: %v", e.Wait, e.Locked)
}

func (e *LockWaitError) Unwrap() error { return e.Locked }

func acquire(ctx context.Context, dir Dir, env string, info LockInfo, o LockOptions) (*Lock, error) {
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
		held, stale, gone, rerr := readLock(ctx, dir, name, info, o)
		if errors.Is(rerr, fs.ErrNotExist) && attempt < 3 {
			continue // released between our create and read
		}
		le := &LockedError{Env: env, Where: dir.Path(name), Info: held, Stale: stale}
		if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			le.Info.Holder = "an unknown holder"
		}
		if stale == "" || !(o.BreakStale || gone) || attempt > 0 {
			return nil, le
		}
		// Break only the lock we judged stale: if it changed meanwhile,
		// another run took it and the next attempt reports that one.
		again, _, _, _ := readLock(ctx, dir, name, info, o)
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

// readLock reads a lock and judges whether it is stale (why) and whether
// its process is provably gone (gone implies stale).
func readLock(ctx context.Context, dir Dir, name string, me LockInfo, o LockOptions) (li LockInfo, stale string, gone bool, err error) {
	b, err := dir.ReadFile(ctx, name)
	if err != nil {
		return LockInfo{}, "", false, err
	}
	if err := json.Unmarshal(b, &li); err != nil || li.Holder == "" {
		// Not written by gearshift's atomic create: garbage, breakable.
		return LockInfo{Holder: "an unknown holder"}, "the lock file is unreadable", false, nil
	}
	if why := processGone(li, me, o.PidAlive); why != "" {
		return li, why, true, nil
	}
	if rd, ok := dir.(RemoteDir); ok && li.Hostname != me.Hostname {
		if why := remoteProcessGone(ctx, rd, li); why != "" {
			return li, why, true, nil
		}
	}
	if li.Hostname == me.Hostname && li.PID > 0 && !o.PidAlive(li.PID) {
		return li, fmt.Sprintf("pid %d is not running on %s", li.PID, li.Hostname), false, nil
	}
	if age := o.Now().Sub(li.Started); !li.Started.IsZero() && age > o.Timeout {
		return li, fmt.Sprintf("it is %s old, older than --lock-timeout %s", age.Truncate(time.Second), o.Timeout), false, nil
	}
	return li, "", false, nil
}

// processGone says why the process holding li provably no longer runs,
// or "" when that cannot be proved from here: only a lock taken on this
// kernel (hostname, boot id) and in this pid namespace names a pid that
// this process can look at.
func processGone(li, me LockInfo, alive func(int) bool) string {
	if li.PID <= 0 || li.Hostname != me.Hostname || li.BootID == "" || li.BootID != me.BootID ||
		li.PIDNamespace == "" || li.PIDNamespace != me.PIDNamespace {
		return ""
	}
	if !alive(li.PID) {
		return fmt.Sprintf("its process (pid %d) is no longer running on %s", li.PID, li.Hostname)
	}
	st, err := readProcStat(li.PID)
	switch {
	case err != nil:
		return "" // alive by kill(2) yet unreadable: cannot tell
	case st.state == 'Z':
		return fmt.Sprintf("its process (pid %d) on %s has exited (a zombie)", li.PID, li.Hostname)
	case li.PIDStart != 0 && st.start != li.PIDStart:
		return fmt.Sprintf("its process (pid %d) is gone from %s: the pid now belongs to a process started later", li.PID, li.Hostname)
	}
	return ""
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
