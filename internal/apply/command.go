package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// command is a test, verify or notify command from the state repository:
// an argv run without a shell, with a timeout that kills its whole process
// group, so a script's children cannot outlive it.
type command struct {
	argv    []string
	dir     string
	env     map[string]string
	timeout time.Duration
}

// run runs the command and returns an error carrying the exit status and
// the last line of its stderr (or stdout), which is what a user needs to
// see first. Its output is not kept otherwise: it may hold anything.
func (c command) run(ctx context.Context) error {
	if len(c.argv) == 0 || c.argv[0] == "" {
		return errors.New("empty command")
	}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Dir = c.dir
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(c.env))
	for k := range c.env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+c.env[k])
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out tail
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s timed out after %s", c.argv[0], c.timeout)
	}
	if err != nil {
		if msg := out.lastLine(); msg != "" {
			return fmt.Errorf("%s: %w: %s", c.argv[0], err, msg)
		}
		return fmt.Errorf("%s: %w", c.argv[0], err)
	}
	return nil
}

// tail keeps the last 4 KiB written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) lastLine() string {
	s := bytes.TrimSpace(t.b)
	if i := bytes.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	line := strings.TrimSpace(string(s))
	if len(line) > 300 {
		line = line[:300] + "..."
	}
	return line
}
