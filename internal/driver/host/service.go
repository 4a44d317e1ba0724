package host

// Service managers: how a release is started and stopped on a host. Every
// command runs through the host's transport as an argv; nothing goes
// through a shell on this machine.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// service is a target's service manager.
type service interface {
	// start starts release rec (in its slot), `current` or the slot link
	// already pointing at it.
	start(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error
	// stop stops what runs in rec's slot.
	stop(ctx context.Context, h *hostRun, rec *Record) error
	// stopAll stops the unit's current release cur (nil when there is
	// none) and, for the process manager, anything a pid file names.
	stopAll(ctx context.Context, h *hostRun, cur *Record) error
	// running reports whether rec runs; errNoStatus when the manager cannot
	// tell.
	running(ctx context.Context, h *hostRun, rec *Record) (bool, error)
}

var errNoStatus = errors.New("the service manager cannot tell whether it runs")

func (d *Driver) service() service {
	switch d.Target.Service {
	case "systemd":
		return systemdService{d}
	case "command":
		return commandService{d}
	}
	return processService{d}
}

// commandTimeout bounds one start, stop or status command.
const commandTimeout = 5 * time.Minute

// slots are the blue/green slots; a unit without slots runs in "main".
var slots = []string{"blue", "green"}

func slotName(slot string) string {
	if slot == "" {
		return "main"
	}
	return slot
}

// recPort is the port a release listens on: its slot's, else the unit's.
func recPort(u *state.Unit, rec *Record) int {
	if rec.Port > 0 {
		return rec.Port
	}
	if u != nil {
		return u.Port
	}
	return 0
}

// releaseEnv is the environment a release is started, stopped and checked
// with. withRun adds the unit's run.env (the process manager's). The
// GEARSHIFT_ variables come last so that run.env cannot fake them.
func releaseEnv(h *hostRun, u *state.Unit, rec *Record, withRun bool) map[string]string {
	env := map[string]string{}
	port := recPort(u, rec)
	if withRun && u != nil && u.Run != nil {
		for k, v := range u.Run.Env {
			env[k] = expandHost(driver.Expand(v, u.Name, port), h.host)
		}
	}
	env["GEARSHIFT_UNIT"] = rec.Unit
	env["GEARSHIFT_ENVIRONMENT"] = rec.Environment
	env["GEARSHIFT_VERSION"] = rec.Version
	env["GEARSHIFT_RELEASE_ID"] = rec.ID
	env["GEARSHIFT_RELEASE_DIR"] = h.l.Release(rec.ID)
	if rec.Slot != "" {
		env["GEARSHIFT_SLOT"] = rec.Slot
	}
	if port > 0 {
		env["PORT"] = strconv.Itoa(port)
		env["GEARSHIFT_PORT"] = strconv.Itoa(port)
	}
	return env
}

// run runs argv on the host and turns a non-zero exit into an error that
// carries the end of its stderr.
func (h *hostRun) run(ctx context.Context, what string, argv []string, o transport.RunOptions) error {
	if o.Timeout == 0 {
		o.Timeout = commandTimeout
	}
	res, err := h.c.Run(ctx, argv, o)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s: %s exited %d%s", what, argv[0], res.ExitCode, outputTail(res.Stderr, res.Stdout))
	}
	return nil
}

// outputTail is the last part of a command's output for an error message.
func outputTail(outs ...[]byte) string {
	for _, o := range outs {
		s := strings.TrimSpace(string(o))
		if s == "" {
			continue
		}
		if len(s) > 600 {
			s = "..." + s[len(s)-600:]
		}
		return ": " + s
	}
	return ""
}

// processService runs unit.run.command detached in the release directory,
// with its pid in run/<slot>.pid and its output in run/<slot>.log.
type processService struct{ d *Driver }

func (p processService) start(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	run := u.Run
	if rec.Run != nil {
		// The release starts as it was deployed (a rollback too).
		ru := *u
		ru.Run = rec.Run
		u, run = &ru, rec.Run
	}
	if run == nil || len(run.Command) == 0 {
		return fmt.Errorf("unit %s has no run.command", u.Name)
	}
	// Whatever still runs in the slot would keep its port and be orphaned.
	if err := p.stopSlot(ctx, h, rec.Slot); err != nil {
		return err
	}
	port := recPort(u, rec)
	argv := make([]string, len(run.Command))
	for i, a := range run.Command {
		argv[i] = expandHost(driver.Expand(a, u.Name, port), h.host)
	}
	var pid int
	var err error
	for attempt := 1; ; attempt++ {
		pid, err = h.c.StartDetached(ctx, argv, h.l.Release(rec.ID), releaseEnv(h, u, rec, true), h.l.ReleaseLog(rec.ID), h.l.PidFile(rec.Slot))
		// A binary just copied may still be open for writing in a child
		// that another goroutine forked meanwhile (golang.org/issue/22315):
		// "text file busy" passes once that child has exec'd.
		if err == nil || attempt == 5 || !strings.Contains(err.Error(), "text file busy") {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", rec.ID, err)
	}
	if port > 0 {
		h.say("started %s as pid %d on port %d", rec.ID, pid, port)
	} else {
		h.say("started %s as pid %d", rec.ID, pid)
	}
	return nil
}

func (p processService) stop(ctx context.Context, h *hostRun, rec *Record) error {
	return p.stopSlot(ctx, h, rec.Slot)
}

func (p processService) stopAll(ctx context.Context, h *hostRun, cur *Record) error {
	var errs []error
	for _, slot := range []string{"", "blue", "green"} {
		if err := p.stopSlot(ctx, h, slot); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p processService) running(ctx context.Context, h *hostRun, rec *Record) (bool, error) {
	pid, err := h.readPid(ctx, rec.Slot)
	if err != nil || pid == 0 {
		return false, err
	}
	st, id, err := h.proc(ctx, pid)
	if err != nil {
		return false, err
	}
	return st == procOurs && (id == "" || id == rec.ID), nil
}

// readPid returns the pid in a slot's pid file, 0 when there is none.
func (h *hostRun) readPid(ctx context.Context, slot string) (int, error) {
	b, err := h.c.ReadFile(ctx, h.l.PidFile(slot))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		h.say("removing corrupt pid file %s", h.l.PidFile(slot))
		return 0, h.c.RemoveAll(ctx, h.l.PidFile(slot))
	}
	return pid, nil
}

// stopSlot stops the process of a slot: SIGTERM to its process group (or
// to it alone), up to StopTimeout for it to exit, then SIGKILL. A pid file
// whose process is gone is left as it is; one whose pid now belongs to
// some other program is removed, and that program left alone.
func (p processService) stopSlot(ctx context.Context, h *hostRun, slot string) error {
	pid, err := h.readPid(ctx, slot)
	if err != nil {
		return err
	}
	pidFile := h.l.PidFile(slot)
	if pid == 0 {
		return nil
	}
	st, id, err := h.proc(ctx, pid)
	if err != nil {
		return err
	}
	switch st {
	case procGone:
		return nil // a stale pid file: the next start replaces it
	case procForeign:
		h.say("pid file %s names process %d, which does not run in a release of %s (its pid was reused): leaving it alone", pidFile, pid, h.l.Unit)
		return h.c.RemoveAll(ctx, pidFile)
	}
	timeout := p.d.StopTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if err := h.signal(ctx, pid, "TERM"); err != nil {
		return err
	}
	if !h.waitGone(ctx, pid, timeout) {
		h.say("pid %d did not exit within %s of SIGTERM: killing it", pid, timeout)
		if err := h.signal(ctx, pid, "KILL"); err != nil {
			return err
		}
		if !h.waitGone(ctx, pid, 5*time.Second) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("pid %d (%s) survived SIGKILL", pid, slotName(slot))
		}
	}
	if id != "" {
		h.say("stopped %s (pid %d)", id, pid)
	} else {
		h.say("stopped pid %d", pid)
	}
	// The pid file stays: proc tells a stale one from a live process, and
	// removing it costs a command on a remote host.
	return nil
}

// procState is what a pid from a pid file is now.
type procState int

const (
	procGone    procState = iota
	procOurs              // runs in a release directory of the unit
	procForeign           // runs, but is some other program
)

// proc says whether pid is a process of the unit, judged by its working
// directory (a release directory of the unit): a pid file cannot say, as
// after a reboot its pid may belong to anything. It also returns the
// release the process runs in. Where /proc cannot be read (not Linux,
// another user's process), kill -0 decides and the pid file is trusted.
func (h *hostRun) proc(ctx context.Context, pid int) (procState, string, error) {
	cwd, err := h.c.Readlink(ctx, "/proc/"+strconv.Itoa(pid)+"/cwd")
	if err == nil {
		st, id := h.cwdState(cwd)
		return st, id, nil
	}
	if err := ctx.Err(); err != nil {
		return procGone, "", err
	}
	if errors.Is(err, fs.ErrNotExist) && h.procfs(ctx) {
		return procGone, "", nil
	}
	res, err := h.c.Run(ctx, []string{"kill", "-0", strconv.Itoa(pid)}, transport.RunOptions{Timeout: 30 * time.Second})
	if err != nil {
		return procGone, "", err
	}
	if res.ExitCode == 0 {
		return procOurs, "", nil
	}
	return procGone, "", nil
}

// cwdState judges a process by its working directory: a release
// directory of the unit (and which), or anything else.
func (h *hostRun) cwdState(cwd string) (procState, string) {
	cwd = strings.TrimSuffix(cwd, " (deleted)")
	dir := path.Dir(cwd)
	id := path.Base(cwd)
	if path.Base(dir) == "releases" && path.Base(path.Dir(dir)) == h.l.Unit && ValidID(id) {
		return procOurs, id
	}
	return procForeign, ""
}

// procfs reports whether the host has a Linux /proc, once per operation.
func (h *hostRun) procfs(ctx context.Context) bool {
	h.procOnce.Do(func() {
		h.hasProc, _ = h.c.Exists(ctx, "/proc/self")
	})
	return h.hasProc
}

// signal sends sig to pid's process group when the group is the unit's
// alone (pid leads it, or its leader, the launcher that started pid, is
// gone), else to pid: what a release started dies with it, and nothing
// outside the release is hit.
func (h *hostRun) signal(ctx context.Context, pid int, sig string) error {
	p := strconv.Itoa(pid)
	if g := h.pgid(ctx, pid); g > 1 {
		leaderGone := g == pid
		if !leaderGone {
			st, _, err := h.proc(ctx, g)
			leaderGone = err == nil && st == procGone
		}
		if leaderGone {
			res, err := h.c.Run(ctx, []string{"kill", "-s", sig, "--", "-" + strconv.Itoa(g)}, transport.RunOptions{Timeout: 30 * time.Second})
			if err == nil && res.ExitCode == 0 {
				return nil
			}
		}
	}
	return h.run(ctx, "signal pid "+p, []string{"kill", "-s", sig, p}, transport.RunOptions{Timeout: 30 * time.Second})
}

// pgid reads pid's process group from /proc/<pid>/stat (0 if unknown).
func (h *hostRun) pgid(ctx context.Context, pid int) int {
	b, err := h.c.ReadFile(ctx, "/proc/"+strconv.Itoa(pid)+"/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // state ppid pgrp ...
	if len(f) < 3 {
		return 0
	}
	g, _ := strconv.Atoi(f[2])
	return g
}

// waitGone polls until pid has exited (or its pid went to another
// program) or timeout passes.
//
// Exited means all of it. A dying process drops its working directory
// (so /proc/<pid>/cwd fails) before it has closed its files, and a
// multi-threaded one (any Go server) keeps its listening socket bound
// until its last thread is done: a release started at once on the same
// port then failed with "address already in use" (9 times in 300
// restarts on a busy 2-core machine). So where /proc can be read, the
// process has exited once /proc/<pid>/status is gone or says a zombie
// with no thread but its leader left; while the file says it is alive,
// only a working directory outside the unit's releases (its pid reused)
// ends the wait, never an unreadable one.
func (h *hostRun) waitGone(ctx context.Context, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if h.procfs(ctx) {
			if h.exited(ctx, pid) {
				return true
			}
		} else if st, _, err := h.proc(ctx, pid); err == nil && st != procOurs {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// exited is waitGone's test on a host with /proc.
func (h *hostRun) exited(ctx context.Context, pid int) bool {
	p := "/proc/" + strconv.Itoa(pid)
	b, err := h.c.ReadFile(ctx, p+"/status")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true
	case err != nil:
		return false
	}
	zombie, threads := procStatus(b)
	if zombie {
		return threads <= 1
	}
	cwd, err := h.c.Readlink(ctx, p+"/cwd")
	if err != nil {
		return false // exiting: its directory is gone, maybe not its sockets
	}
	st, _ := h.cwdState(cwd)
	return st != procOurs
}

// procStatus reads /proc/<pid>/status: whether the process is a zombie (or
// dead) and how many threads it still has.
func procStatus(b []byte) (zombie bool, threads int) {
	threads = -1
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			zombie = strings.HasPrefix(v, "Z") || strings.HasPrefix(v, "X")
		case "Threads":
			if n, err := strconv.Atoi(v); err == nil {
				threads = n
			}
		}
	}
	if threads < 0 {
		threads = 1 // no count: a zombie is taken as exited, as before
	}
	return zombie, threads
}

// logTail is the end of release id's own log, for the error of a failed
// start or health check.
func (h *hostRun) logTail(ctx context.Context, id string) string {
	log := h.l.ReleaseLog(id)
	res, err := h.c.Run(ctx, []string{"tail", "-n", "15", "--", log}, transport.RunOptions{Timeout: 10 * time.Second})
	if err != nil || res.ExitCode != 0 || len(strings.TrimSpace(string(res.Stdout))) == 0 {
		return ""
	}
	return "\n" + log + " ends with:\n" + strings.TrimRight(string(res.Stdout), "\n")
}

// systemdService drives systemd units named by the target's template
// ({unit} and {slot} replaced; "{unit}.service" by default). The unit
// file runs <root>/<unit>/current (or slots/<slot> for blue/green).
type systemdService struct{ d *Driver }

func (d *Driver) systemdTemplate() string {
	if d.Target.Systemd != nil && d.Target.Systemd.Unit != "" {
		return d.Target.Systemd.Unit
	}
	return "{unit}.service"
}

func (s systemdService) name(rec *Record) string {
	n := strings.ReplaceAll(s.d.systemdTemplate(), "{unit}", rec.Unit)
	return strings.ReplaceAll(n, "{slot}", slotName(rec.Slot))
}

// start restarts rather than starts: a unit still active from the old
// release must come up on the new one.
func (s systemdService) start(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	name := s.name(rec)
	if err := h.run(ctx, "start "+rec.ID, []string{"systemctl", "restart", name}, transport.RunOptions{}); err != nil {
		return err
	}
	h.say("started %s (systemctl restart %s)", rec.ID, name)
	return nil
}

func (s systemdService) stop(ctx context.Context, h *hostRun, rec *Record) error {
	name := s.name(rec)
	if err := h.run(ctx, "stop "+rec.ID, []string{"systemctl", "stop", name}, transport.RunOptions{}); err != nil {
		return err
	}
	h.say("stopped %s (systemctl stop %s)", rec.ID, name)
	return nil
}

func (s systemdService) stopAll(ctx context.Context, h *hostRun, cur *Record) error {
	if cur == nil {
		return nil // a first deploy: the systemd unit may not even be loaded yet
	}
	return s.stop(ctx, h, cur)
}

func (s systemdService) running(ctx context.Context, h *hostRun, rec *Record) (bool, error) {
	res, err := h.c.Run(ctx, []string{"systemctl", "is-active", "--quiet", s.name(rec)}, transport.RunOptions{Timeout: 30 * time.Second})
	if err != nil {
		return false, err
	}
	return res.ExitCode == 0, nil
}

// commandService runs the target's own start and stop commands in the
// release directory with GEARSHIFT_UNIT, GEARSHIFT_VERSION,
// GEARSHIFT_RELEASE_DIR (and the other GEARSHIFT_ variables, and PORT).
type commandService struct{ d *Driver }

func (c commandService) argv(which string) []string {
	if c.d.Target.Command == nil {
		return nil
	}
	switch which {
	case "start":
		return c.d.Target.Command.Start
	case "stop":
		return c.d.Target.Command.Stop
	}
	return c.d.Target.Command.Status
}

func (c commandService) do(ctx context.Context, h *hostRun, which string, rec *Record, u *state.Unit) error {
	argv := c.argv(which)
	if len(argv) == 0 {
		return fmt.Errorf("%s %s: the target has no command.%s", which, rec.ID, which)
	}
	o := transport.RunOptions{Env: releaseEnv(h, u, rec, false)}
	if ok, _ := h.c.Exists(ctx, h.l.Release(rec.ID)); ok {
		o.Dir = h.l.Release(rec.ID)
	}
	if err := h.run(ctx, which+" "+rec.ID, argv, o); err != nil {
		return err
	}
	h.say("%s %s: %s done", which, rec.ID, argv[0])
	return nil
}

func (c commandService) start(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	return c.do(ctx, h, "start", rec, u)
}

func (c commandService) stop(ctx context.Context, h *hostRun, rec *Record) error {
	return c.do(ctx, h, "stop", rec, nil)
}

func (c commandService) stopAll(ctx context.Context, h *hostRun, cur *Record) error {
	if cur == nil {
		return nil
	}
	return c.stop(ctx, h, cur)
}

func (c commandService) running(ctx context.Context, h *hostRun, rec *Record) (bool, error) {
	argv := c.argv("status")
	if len(argv) == 0 {
		return false, errNoStatus
	}
	o := transport.RunOptions{Env: releaseEnv(h, nil, rec, false), Timeout: 30 * time.Second}
	if ok, _ := h.c.Exists(ctx, h.l.Release(rec.ID)); ok {
		o.Dir = h.l.Release(rec.ID)
	}
	res, err := h.c.Run(ctx, argv, o)
	if err != nil {
		return false, err
	}
	return res.ExitCode == 0, nil
}
