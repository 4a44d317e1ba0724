package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds a command whose caller gives no timeout.
const DefaultTimeout = 10 * time.Minute

// DefaultMaxOutput is how much of each of stdout and stderr Run keeps when
// the caller gives no cap.
const DefaultMaxOutput = 1 << 20

// waitDelay bounds how long Run waits for the output pipes once the command
// exited or was killed, in case something outside its process group holds
// them. It is generous because a loaded machine drains pipes slowly.
const waitDelay = 5 * time.Second

// tailSize is how much of the end of each stream is kept for messages.
const tailSize = 4 << 10

// Cmd is one command to run.
type Cmd struct {
	// Argv is the command; Argv[0] is looked up on gearshift's PATH.
	Argv []string
	// Dir is the working directory; empty is gearshift's.
	Dir string
	// Env is what the command gets on top of the minimal environment
	// (Environ): the state's declared variables and GEARSHIFT_ ones.
	Env map[string]string
	// Stdin is copied to the command's standard input; nil means empty.
	Stdin io.Reader
	// Timeout bounds the command (DefaultTimeout when zero); when it
	// expires the command's process group is killed.
	Timeout time.Duration
	// MaxOutput is how many bytes of each of stdout and stderr are kept
	// (DefaultMaxOutput when zero); the rest is read and dropped.
	MaxOutput int
}

// Result is what a command that ran produced. A non-zero exit is a result,
// not an error: Err turns it into one for callers that want that.
type Result struct {
	// Stdout and Stderr are the first MaxOutput bytes of each stream.
	Stdout, Stderr []byte
	// StdoutTruncated and StderrTruncated say a stream had more than
	// MaxOutput bytes.
	StdoutTruncated, StderrTruncated bool
	// ExitCode is the exit status, or 128+signal when a signal killed it.
	ExitCode int

	name             string
	stdTail, errTail []byte
}

// LastLine is the last non-empty line the command wrote to stderr, else to
// stdout, at most 300 bytes: what a user needs to see first.
func (r Result) LastLine() string {
	for _, b := range [][]byte{r.errTail, r.stdTail} {
		s := strings.TrimSpace(string(b))
		if s == "" {
			continue
		}
		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			s = strings.TrimSpace(s[i+1:])
		}
		if len(s) > 300 {
			s = s[:300] + "..."
		}
		return s
	}
	return ""
}

// Err is nil for exit status 0, else an error naming the command that
// wraps an *ExitError.
func (r Result) Err() error {
	if r.ExitCode == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w", r.name, &ExitError{Code: r.ExitCode, Line: r.LastLine()})
}

// ExitError is a command's non-zero exit with the last line it printed.
type ExitError struct {
	Code int
	Line string
}

func (e *ExitError) Error() string {
	if e.Line == "" {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return fmt.Sprintf("exit status %d: %s", e.Code, e.Line)
}

// ExitCode is the exit status (128+signal for a signal).
func (e *ExitError) ExitCode() int { return e.Code }

// TimeoutError says a command ran out of time and was killed. It wraps
// context.DeadlineExceeded.
type TimeoutError struct {
	Name  string
	After time.Duration
}

func (e *TimeoutError) Error() string { return fmt.Sprintf("%s timed out after %s", e.Name, e.After) }

func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// Check rejects an argv that no transport can run.
func Check(argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("empty command")
	}
	for _, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("argument %q contains a NUL byte", a)
		}
	}
	return nil
}

// Run runs c.Argv in its own process group with the minimal environment
// and waits for it. The error is for failing to run it (not found, bad
// directory, a refused GEARSHIFT_PASS_ENV, the timeout, ctx); the exit
// status is in the Result.
func Run(ctx context.Context, c Cmd) (Result, error) {
	res := Result{ExitCode: -1}
	if err := Check(c.Argv); err != nil {
		return res, err
	}
	res.name = c.Argv[0]
	env, err := Env(c.Env)
	if err != nil {
		return res, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	max := c.MaxOutput
	if max <= 0 {
		max = DefaultMaxOutput
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = env
	cmd.Stdin = c.Stdin
	stdout, stderr := &capture{max: max}, &capture{max: max}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so that a timeout kills what it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("%s: %w", c.Argv[0], err)
	}
	err = cmd.Wait()
	res.Stdout, res.Stderr = stdout.head.Bytes(), stderr.head.Bytes()
	res.stdTail, res.errTail = stdout.tail, stderr.tail
	res.StdoutTruncated, res.StderrTruncated = stdout.overflow, stderr.overflow
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return res, &TimeoutError{Name: c.Argv[0], After: timeout}
	case ctx.Err() != nil:
		return res, fmt.Errorf("%s: %w", c.Argv[0], ctx.Err())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.ExitCode = 128 + int(ws.Signal())
		}
	default:
		return res, fmt.Errorf("%s: %w", c.Argv[0], err)
	}
	return res, nil
}

// StartDetached starts c.Argv as a background process that outlives the
// call (a new session), stdout and stderr going to log, with the minimal
// environment, and returns its pid. c.Timeout and c.MaxOutput do not apply:
// a service runs until the driver stops it. The process is reaped when it
// exits, so it does not linger as a zombie while gearshift runs.
func StartDetached(ctx context.Context, c Cmd, log *os.File) (int, error) {
	if err := Check(c.Argv); err != nil {
		return 0, err
	}
	env, err := Env(c.Env)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = env
	cmd.Stdout = log // an *os.File is handed to the child as is: no copying goroutine
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%s: %w", c.Argv[0], err)
	}
	go func() { _ = cmd.Wait() }()
	return cmd.Process.Pid, nil
}

// capture keeps the first max bytes written to it and the last tailSize.
type capture struct {
	head     bytes.Buffer
	tail     []byte
	max      int
	overflow bool
}

func (c *capture) Write(p []byte) (int, error) {
	if room := c.max - c.head.Len(); len(p) > room {
		c.overflow = true
		if room > 0 {
			c.head.Write(p[:room])
		}
	} else {
		c.head.Write(p)
	}
	c.tail = append(c.tail, p...)
	if len(c.tail) > tailSize {
		c.tail = append(c.tail[:0:0], c.tail[len(c.tail)-tailSize:]...)
	}
	return len(p), nil
}
