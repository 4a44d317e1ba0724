package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// CUE evaluation cannot be interrupted: a few lines of CUE can allocate
// gigabytes (thirty string doublings) or run for hours (a 3000x3000
// comprehension), and neither a context nor a memory limit stops the
// evaluator. So each environment is evaluated in a child process, this
// same executable started again (see child.go), that has a hard memory
// limit and is killed when its time is up. The parent only checks paths
// and decodes the child's answer.

// Defaults of Limits, and of the CLI's --load-timeout and --load-memory.
const (
	DefaultLoadTimeout          = 60 * time.Second
	DefaultLoadMemory  ByteSize = 2 << 30
)

// Limits bound the evaluation of each environment.
type Limits struct {
	// Timeout is the wall time one environment may take;
	// DefaultLoadTimeout when zero.
	Timeout time.Duration
	// Memory is the memory one environment's evaluation may use;
	// DefaultLoadMemory when zero.
	Memory ByteSize
}

func (l Limits) withDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultLoadTimeout
	}
	if l.Memory <= 0 {
		l.Memory = DefaultLoadMemory
	}
	return l
}

// childEnv selects the evaluator entry of the executable (child.go).
const childEnv = "GEARSHIFT_STATE_EVALUATOR"

// exitMemory is the child's exit code when its watchdog finds it over the
// memory bound.
const exitMemory = 86

// childRequest is what the parent asks the child, on its stdin.
type childRequest struct {
	Root    string `json:"root"`
	Name    string `json:"name"`
	Memory  int64  `json:"memory"`
	PerFile bool   `json:"per_file"`
}

// childReply is the child's answer on its stdout: the decoded environment
// with the positions the Go types do not marshal, and the diagnostics.
type childReply struct {
	Env   *wireEnvironment `json:"environment,omitempty"`
	Diags Diagnostics      `json:"diagnostics,omitempty"`
}

type wireEnvironment struct {
	Environment *Environment             `json:"environment"`
	Dir         string                   `json:"dir"`
	Pos         Positions                `json:"pos"`
	Frameworks  map[string]wireFramework `json:"frameworks"`
	Units       map[string]wireUnit      `json:"units"`
}

type wireFramework struct {
	Framework *Framework `json:"framework"`
	Pos       Positions  `json:"pos"`
}

type wireUnit struct {
	Unit *Unit     `json:"unit"`
	Pos  Positions `json:"pos"`
}

func toWire(e *Environment) *wireEnvironment {
	if e == nil {
		return nil
	}
	w := &wireEnvironment{Environment: e, Dir: e.Dir, Pos: e.Pos}
	if e.Frameworks != nil {
		w.Frameworks = make(map[string]wireFramework, len(e.Frameworks))
		for n, f := range e.Frameworks {
			w.Frameworks[n] = wireFramework{Framework: f, Pos: f.Pos}
		}
	}
	if e.Units != nil {
		w.Units = make(map[string]wireUnit, len(e.Units))
		for n, u := range e.Units {
			w.Units[n] = wireUnit{Unit: u, Pos: u.Pos}
		}
	}
	return w
}

func (w *wireEnvironment) environment() *Environment {
	if w == nil || w.Environment == nil {
		return nil
	}
	e := w.Environment
	e.Dir, e.Pos = w.Dir, w.Pos
	if w.Frameworks != nil {
		e.Frameworks = make(map[string]*Framework, len(w.Frameworks))
		for n, f := range w.Frameworks {
			f.Framework.Pos = f.Pos
			e.Frameworks[n] = f.Framework
		}
	}
	if w.Units != nil {
		e.Units = make(map[string]*Unit, len(w.Units))
		for n, u := range w.Units {
			u.Unit.Pos = u.Pos
			e.Units[n] = u.Unit
		}
	}
	return e
}

// loadBounded evaluates environment name in a child process within lim.
// A state that exceeds a bound is a Diagnostic naming the environment; an
// error means the child could not be run or failed otherwise.
func loadBounded(ctx context.Context, root, name string, lim Limits) (*Environment, Diagnostics, error) {
	lim = lim.withDefaults()
	if os.Getenv(childEnv) != "" {
		// The executable did not run the evaluator entry (it would have
		// exited before main): starting it again would recurse.
		return nil, nil, errors.New("state: the evaluator child cannot itself evaluate in a child")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("finding the executable to evaluate the state with: %w", err)
	}
	req, err := json.Marshal(childRequest{Root: root, Name: name, Memory: int64(lim.Memory), PerFile: perFile})
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe)
	// Nothing of the parent's environment: the child reads files only, and
	// must not hold a token even in its memory.
	cmd.Env = []string{childEnv + "=1", "GOTRACEBACK=none"}
	cmd.Dir = root
	cmd.Stdin = bytes.NewReader(req)
	// The answer can be no larger than what the child could hold.
	stdout := &cappedBuffer{max: int(lim.Memory)}
	stderr := &cappedBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	dir := EnvironmentsDir + "/" + name
	exceeded := func(what string) Diagnostics {
		return Diagnostics{{Pos: Pos{File: dir}, Msg: "evaluation exceeded " + what}}
	}
	switch {
	case ctx.Err() != nil:
		return nil, nil, ctx.Err()
	case cctx.Err() != nil:
		return nil, exceeded(fmt.Sprintf("the time bound of %s (--load-timeout)", lim.Timeout)), nil
	case stdout.over, exitCode(runErr) == exitMemory, runErr != nil && diedOfMemory(stderr.String()),
		// The runtime's own death at the kernel's limit takes several
		// forms (out of memory, cannot allocate, a failed mmap): a child
		// that died near its bound died of it.
		runErr != nil && cmd.ProcessState != nil && peakRSS(cmd.ProcessState) >= int64(lim.Memory)/10*8:
		return nil, exceeded(fmt.Sprintf("the memory bound of %s (--load-memory)", lim.Memory)), nil
	case runErr != nil:
		return nil, nil, fmt.Errorf("evaluating %s in a child process: %w: %s", dir, runErr, lastLines(stderr.String(), 5))
	}
	var reply childReply
	if err := json.Unmarshal(stdout.Bytes(), &reply); err != nil {
		return nil, nil, fmt.Errorf("evaluating %s in a child process: reading its answer: %w", dir, err)
	}
	return reply.Env.environment(), reply.Diags, nil
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cappedBuffer keeps the first max bytes written to it and notes whether
// more came; it never fails a write, so the child is never blocked.
type cappedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// ByteSize is an amount of memory; its text form is a number with an
// optional unit: B, KiB, MiB, GiB, TiB (also KB, MB, GB, TB, k, M, G, T, as
// powers of 1024). It is a pflag.Value.
type ByteSize int64

var byteUnits = []struct {
	name string
	size int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
	{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"k", 1 << 10},
	{"B", 1},
}

// ParseByteSize parses "2GiB", "512MiB", "1048576".
func ParseByteSize(s string) (ByteSize, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(num, u.name) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.name)), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: want a positive number with a unit such as 512MiB or 2GiB", s)
	}
	return ByteSize(n * mult), nil
}

// String formats the size in the largest unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if int64(b) >= u.size && int64(b)%u.size == 0 {
			return fmt.Sprintf("%d %s", int64(b)/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d B", int64(b))
}

// Set implements pflag.Value.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Type implements pflag.Value.
func (b *ByteSize) Type() string { return "size" }

// diedOfMemory reports whether a child's last words are the Go runtime's
// or the kernel's refusal of memory: at RLIMIT_DATA or RLIMIT_AS the
// runtime dies with "out of memory", with a failed mmap ("cannot allocate
// memory", errno 12), or, when a new thread's stack no longer fits, with
// "pthread_create failed" (all seen here).
func diedOfMemory(stderr string) bool {
	for _, s := range []string{"out of memory", "cannot allocate memory", "errno=12", "pthread_create failed"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}
