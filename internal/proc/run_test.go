package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// setLeaks puts tokens and an unrelated secret into the test's (and so
// gearshift's) environment, as a CI runner does.
func setLeaks(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "ghs_leak_github")
	t.Setenv("GEARSHIFT_GIT_TOKEN", "ghs_leak_git")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "leak_aws")
	t.Setenv("HOME", "/home/gearshift-test")
	t.Setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("TZ", "UTC")
	t.Setenv("GEARSHIFT_PASS_ENV", "")
}

// TestRunEnvironment runs /usr/bin/env, which prints exactly the
// environment it was given.
func TestRunEnvironment(t *testing.T) {
	setLeaks(t)
	res, err := Run(context.Background(), Cmd{Argv: []string{"env"}, Env: map[string]string{"TEST_MODE": "blackbox", "GEARSHIFT_UNIT": "web"}, Timeout: time.Minute})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("env: %+v, %v", res, err)
	}
	got := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	slices.Sort(got)
	want := []string{"GEARSHIFT_UNIT=web", "HOME=/home/gearshift-test", "LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin", "TEST_MODE=blackbox", "TZ=UTC"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("environment of the command (-got +want):\n%s", diff)
	}

	t.Setenv("GEARSHIFT_PASS_ENV", "AWS_SECRET_ACCESS_KEY")
	res, err = Run(context.Background(), Cmd{Argv: []string{"env"}, Timeout: time.Minute})
	if err != nil || !strings.Contains(string(res.Stdout), "AWS_SECRET_ACCESS_KEY=leak_aws\n") {
		t.Errorf("GEARSHIFT_PASS_ENV=AWS_SECRET_ACCESS_KEY: got %q, %v; want the variable passed", res.Stdout, err)
	}

	t.Setenv("GEARSHIFT_PASS_ENV", "GITHUB_TOKEN")
	res, err = Run(context.Background(), Cmd{Argv: []string{"env"}, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "GEARSHIFT_PASS_ENV names GITHUB_TOKEN") || res.Stdout != nil {
		t.Errorf("GEARSHIFT_PASS_ENV=GITHUB_TOKEN: got %q, %v; want an error and nothing run", res.Stdout, err)
	}
}

// TestStartDetachedEnvironment reads /proc/<pid>/environ of a detached
// process: what a deployed service really has.
func TestStartDetachedEnvironment(t *testing.T) {
	setLeaks(t)
	log, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	pid, err := StartDetached(context.Background(), Cmd{Argv: []string{"sleep", "30"}, Env: map[string]string{"PORT": "8080"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	got := environOf(t, pid)
	want := []string{"HOME=/home/gearshift-test", "LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin", "PORT=8080", "TZ=UTC"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("/proc/%d/environ (-got +want):\n%s", pid, diff)
	}
}

// environOf reads /proc/<pid>/environ. Start returns as soon as execve
// has begun (Go starts children with vfork), a moment before the kernel
// fills in the new environment, so an empty file is read again.
func environOf(t *testing.T, pid int) []string {
	t.Helper()
	var b []byte
	for deadline := time.Now().Add(10 * time.Second); len(b) == 0; time.Sleep(10 * time.Millisecond) {
		var err error
		if b, err = os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/proc/%d/environ stayed empty", pid)
		}
	}
	got := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	slices.Sort(got)
	return got
}

func TestRunResults(t *testing.T) {
	ctx := context.Background()
	res, err := Run(ctx, Cmd{Argv: []string{"sh", "-c", `echo out; cat; echo first >&2; echo last line >&2; exit 3`}, Stdin: strings.NewReader("in\n")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{string(res.Stdout), string(res.Stderr), strconv.Itoa(res.ExitCode)}, []string{"out\nin\n", "first\nlast line\n", "3"}); diff != "" {
		t.Errorf("result (-got +want):\n%s", diff)
	}
	var ee *ExitError
	if err := res.Err(); !errors.As(err, &ee) || ee.ExitCode() != 3 || err.Error() != "sh: exit status 3: last line" {
		t.Errorf("Err: got %v, want sh: exit status 3: last line", err)
	}

	res, err = Run(ctx, Cmd{Argv: []string{"sh", "-c", "kill -9 $$"}})
	if err != nil || res.ExitCode != 128+9 {
		t.Errorf("killed by SIGKILL: got exit %d, %v; want 137", res.ExitCode, err)
	}

	// The output is capped; the end is still there for the message.
	res, err = Run(ctx, Cmd{Argv: []string{"sh", "-c", `head -c 100000 /dev/zero; echo; echo the end`}, MaxOutput: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != 1000 || !res.StdoutTruncated || res.StderrTruncated || res.LastLine() != "the end" {
		t.Errorf("capped output: got %d bytes, truncated %v %v, last line %q; want 1000, true false, %q", len(res.Stdout), res.StdoutTruncated, res.StderrTruncated, res.LastLine(), "the end")
	}

	for _, c := range []struct {
		name string
		cmd  Cmd
		want string
	}{
		{"missing command", Cmd{Argv: []string{"gearshift-no-such-command"}}, "gearshift-no-such-command: exec: "},
		{"missing dir", Cmd{Argv: []string{"true"}, Dir: filepath.Join(t.TempDir(), "nope")}, "true: fork/exec"},
		{"empty argv", Cmd{}, "empty command"},
		{"NUL in argv", Cmd{Argv: []string{"echo", "a\x00b"}}, "contains a NUL byte"},
		{"bad env name", Cmd{Argv: []string{"true"}, Env: map[string]string{"A-B": "x"}}, "not a shell identifier"},
	} {
		if _, err := Run(ctx, c.cmd); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// TestRunTimeoutKillsGroup: a script and the child it started both die when
// the timeout expires, and the error says so.
func TestRunTimeoutKillsGroup(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	_, err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", `sleep 60 & echo "$$ $!" > "$1"; wait`, "sh", pids}, Timeout: 500 * time.Millisecond})
	var te *TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) || err.Error() != "sh timed out after 500ms" {
		t.Fatalf("got %v, want sh timed out after 500ms wrapping context.DeadlineExceeded", err)
	}
	data, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil {
				break
			}
			if _, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil {
				break // a zombie awaiting its reaper
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d still runs after the timeout", pid)
			}
		}
	}
}
