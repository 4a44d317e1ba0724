package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gearshift-dev/gearshift/internal/proc"
)

// pidMarker starts the line the remote prelude prints on stderr just before
// exec'ing the command. It tells Run the command started (everything before
// it - cd, lookup - succeeded) and which process group to kill on timeout:
// sshd makes the session's process a session and group leader, and exec
// keeps its pid.
const pidMarker = "gearshift-pid:"

// remoteCommand is the command line Run sends for argv: a fixed prelude
// whose only variable parts are quoted words (and environment names checked
// to be identifiers), then
//
//	exec env -i -- ${PATH+"PATH=$PATH"} ... ${PWD+"PWD=$PWD"} NAME=value... argv...
//
// so the command starts from an empty environment, not from what sshd's
// session holds (SSH_CONNECTION, AcceptEnv'd and SetEnv variables, PAM's):
// it keeps only the inherit names the login has (proc.Inherited), PWD (as
// os/exec sets it locally) and gets env on top. An argv[0] containing "="
// would be read by env as an assignment: it is run as
//
//	exec env -i ${PATH+"PATH=$PATH"} ... NAME=value... sh -c 'exec "$@"' sh argv...
//
// where the inner sh adds PWD. Every exec keeps the pid the prelude
// printed.
func remoteCommand(argv []string, dir string, env map[string]string, inherit []string) string {
	var b strings.Builder
	if dir != "" {
		b.WriteString("cd " + quoteWord(notOption(dir)) + " || exit 126; ")
	}
	name := quoteWord(argv[0])
	b.WriteString("command -v " + name + " >/dev/null || { printf '%s: command not found\\n' " + name + " >&2; exit 127; }; ")
	// An argv[0] with "=" would be read by env as an assignment: an inner
	// sh runs it (and sets PWD). Any other goes straight from env, one
	// process fewer on the host for every command, with the login
	// shell's PWD (after the cd) and "--" so that a leading "-" is no
	// option.
	inner := strings.Contains(argv[0], "=")
	b.WriteString("printf '" + pidMarker + "%s\\n' \"$$\" >&2; exec env -i")
	if !inner {
		b.WriteString(" --")
	}
	for _, k := range inherit {
		b.WriteString(" ${" + k + "+\"" + k + "=$" + k + "\"}")
	}
	if !inner {
		b.WriteString(` ${PWD+"PWD=$PWD"}`)
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		b.WriteString(" " + quoteWord(k+"="+env[k]))
	}
	if inner {
		b.WriteString(" sh -c 'exec \"$@\"' sh")
	}
	b.WriteString(" " + Quote(argv))
	return b.String()
}

// notOption keeps a relative path that starts with "-" from being read as
// an option.
func notOption(p string) string {
	if strings.HasPrefix(p, "-") {
		return "./" + p
	}
	return p
}

func (t *sshTransport) Run(ctx context.Context, argv []string, o RunOptions) (RunResult, error) {
	if err := checkArgv(argv); err != nil {
		return RunResult{}, err
	}
	if err := checkEnv(o.Env); err != nil {
		return RunResult{}, err
	}
	// GEARSHIFT_PASS_ENV is gearshift's setting: its names are kept from
	// the remote login's environment, no value travels from here.
	inherit, err := proc.Inherited(os.LookupEnv)
	if err != nil {
		return RunResult{}, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = proc.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(res RunResult, err error) (RunResult, error) {
		return res, fmt.Errorf("%s: run %s: %w", t.host, argv[0], err)
	}
	s, release, err := t.session(ctx)
	if err != nil {
		return fail(RunResult{ExitCode: -1}, err)
	}
	defer release()
	var stdout syncBuffer
	stderr := &pidFilter{}
	s.Stdin = o.Stdin
	s.Stdout = &stdout
	s.Stderr = stderr
	if err := s.Start(remoteCommand(argv, o.Dir, o.Env, inherit)); err != nil {
		return fail(RunResult{ExitCode: -1}, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		if pid := stderr.pid(); pid > 0 {
			t.killGroup(pid)
		}
		_ = s.Signal(ssh.SIGKILL)
		s.Close()
		select {
		case <-done:
		case <-time.After(waitDelay):
		}
		return fail(RunResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}, ctx.Err())
	}
	res := RunResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitStatus() // 128+n for a signal
	default:
		res.ExitCode = -1
		return fail(res, err)
	}
	if !stderr.started() {
		msg := strings.TrimSpace(string(res.Stderr))
		if msg == "" {
			msg = fmt.Sprintf("exit status %d", res.ExitCode)
		}
		return fail(res, fmt.Errorf("could not start: %s", msg))
	}
	return res, nil
}

// killGroup kills the process group of a timed-out command from a second
// session, so that what the command started dies with it, as with Local.
// It is best effort: the session's own SIGKILL follows anyway.
func (t *sshTransport) killGroup(pid int) {
	s, err := t.c.NewSession() // not under t.sem: a slot is kept free for this
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{})
	go func() {
		_ = s.Run("kill -s KILL -- -" + strconv.Itoa(pid))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitDelay):
	}
}

// detachScript is the fixed launcher StartDetached runs over SSH as
//
//	sh -c detachScript sh LOGFILE DIR N NAME=VALUE... ARGV...
//
// Its text never changes: every user value (log file, directory,
// environment, argv) arrives as a positional parameter, quoted by Quote on
// the way, and is only expanded inside double quotes, never interpolated
// into the script. The log is opened before cd, as Local opens it before
// starting the process. It runs under Run's env -i, so the command's
// environment is the minimal one plus the exported NAME=VALUE words (and
// PWD, as locally; OLDPWD, which cd sets, is dropped). setsid -f -w runs
// the inner sh in a new session; it backgrounds the command with stdin
// from /dev/null and stdout and stderr appended to the log, and prints the
// command's pid.
const detachScript = `log=$1 dir=$2 n=$3; shift 3
exec 3>>"$log" || exit 126
if [ -n "$dir" ]; then cd "$dir" || exit 126; unset OLDPWD; fi
while [ "$n" -gt 0 ]; do export "$1" || exit 126; shift; n=$((n - 1)); done
command -v "$1" >/dev/null || { printf '%s: command not found\n' "$1" >&2; exit 127; }
exec setsid -f -w sh -c 'exec "$@" >&3 2>&3 3>&- </dev/null & echo "$!"' sh "$@"`

func (t *sshTransport) StartDetached(ctx context.Context, argv []string, dir string, env map[string]string, logFile, pidFile string) (int, error) {
	if err := checkArgv(argv); err != nil {
		return 0, err
	}
	if err := checkEnv(env); err != nil {
		return 0, err
	}
	if dir != "" {
		dir = notOption(dir)
	}
	launch := []string{"sh", "-c", detachScript, "sh", notOption(logFile), dir, strconv.Itoa(len(env))}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		launch = append(launch, k+"="+env[k])
	}
	launch = append(launch, argv...)
	res, err := t.Run(ctx, launch, RunOptions{})
	if err != nil {
		return 0, err
	}
	if res.ExitCode != 0 {
		return 0, fmt.Errorf("%s: start %s: exit status %d: %s", t.host, argv[0], res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: start %s: launcher printed %q instead of a pid", t.host, argv[0], res.Stdout)
	}
	if err := t.WriteFileAtomic(ctx, pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return pid, fmt.Errorf("started %s as pid %d but could not record it: %w", argv[0], pid, err)
	}
	return pid, nil
}

// syncBuffer is a bytes.Buffer that the session's copying goroutine and a
// timed-out Run may touch at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// pidFilter passes stderr through, minus the prelude's pid line, which it
// records.
type pidFilter struct {
	mu      sync.Mutex
	out     bytes.Buffer
	pending []byte // an incomplete line, held until the marker is found
	pidv    int
	found   bool
}

func (f *pidFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.found {
		return f.out.Write(p)
	}
	f.pending = append(f.pending, p...)
	for !f.found {
		i := bytes.IndexByte(f.pending, '\n')
		if i < 0 {
			break
		}
		line := f.pending[:i]
		if rest, ok := bytes.CutPrefix(line, []byte(pidMarker)); ok {
			f.pidv, _ = strconv.Atoi(string(rest))
			f.found = true
		} else {
			f.out.Write(f.pending[:i+1])
		}
		f.pending = f.pending[i+1:]
	}
	if f.found {
		f.out.Write(f.pending)
		f.pending = nil
	}
	return len(p), nil
}

func (f *pidFilter) pid() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pidv
}

// started reports whether the prelude reached exec.
func (f *pidFilter) started() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.found
}

func (f *pidFilter) Bytes() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append(bytes.Clone(f.out.Bytes()), f.pending...)
}
