package transport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

// testEnvironment is the environment contract every Transport keeps: a
// command run or started on the host sees PATH and HOME (as the host's
// login has them), the declared variables, and nothing else but LANG,
// LC_*, TZ and PWD: not gearshift's tokens, not an unrelated secret, not
// what an sshd session adds (SSH_CONNECTION, USER, SHELL, MAIL, ...).
func testEnvironment(t *testing.T, tr Transport) {
	for k, v := range map[string]string{"GITHUB_TOKEN": "ghs_leak_github", "GEARSHIFT_GIT_TOKEN": "ghs_leak_git", "AWS_SECRET_ACCESS_KEY": "leak_aws"} {
		t.Setenv(k, v)
	}
	t.Setenv("GEARSHIFT_PASS_ENV", "")
	ctx := context.Background()
	dir := t.TempDir()
	declared := map[string]string{"DECLARED": "it's declared", "TEST_MODE": "blackbox"}

	res, err := tr.Run(ctx, []string{"sh", "-c", `cat /proc/$$/environ`}, RunOptions{Env: declared, Timeout: time.Minute})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run: %+v, %v", res, err)
	}
	checkMinimal(t, "Run", res.Stdout, declared)

	logFile, pidFile := filepath.Join(dir, "app.log"), filepath.Join(dir, "app.pid")
	pid, err := tr.StartDetached(ctx, []string{"sleep", "30"}, dir, declared, logFile, pidFile)
	if err != nil {
		t.Fatalf("StartDetached: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	var environ []byte
	for deadline := time.Now().Add(10 * time.Second); len(environ) == 0; time.Sleep(10 * time.Millisecond) {
		// Empty for a moment while execve sets the process up.
		if environ, err = os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/proc/%d/environ stayed empty", pid)
		}
	}
	checkMinimal(t, "StartDetached", environ, declared)

	// A token named in GEARSHIFT_PASS_ENV is refused: nothing runs.
	t.Setenv("GEARSHIFT_PASS_ENV", "GITHUB_TOKEN")
	marker := filepath.Join(dir, "ran")
	if _, err := tr.Run(ctx, []string{"touch", marker}, RunOptions{Timeout: time.Minute}); err == nil || !strings.Contains(err.Error(), "GEARSHIFT_PASS_ENV names GITHUB_TOKEN") {
		t.Errorf("Run with GEARSHIFT_PASS_ENV=GITHUB_TOKEN: %v, want it refused", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran although GEARSHIFT_PASS_ENV named a token")
	}
}

// checkMinimal checks NUL-separated NAME=value pairs against the contract.
func checkMinimal(t *testing.T, what string, environ []byte, declared map[string]string) {
	t.Helper()
	env := map[string]string{}
	for kv := range strings.SplitSeq(strings.TrimRight(string(environ), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, k := range []string{"PATH", "HOME"} {
		if env[k] == "" {
			t.Errorf("%s: the command has no %s", what, k)
		}
	}
	got := map[string]string{}
	var extra []string
	for k, v := range env {
		switch {
		case declared[k] != "":
			got[k] = v
		case k == "PATH" || k == "HOME" || k == "LANG" || k == "TZ" || k == "PWD" || strings.HasPrefix(k, "LC_"):
		default:
			extra = append(extra, k)
		}
	}
	if diff := cmp.Diff(got, declared); diff != "" {
		t.Errorf("%s: declared variables (-got +want):\n%s", what, diff)
	}
	slices.Sort(extra)
	if len(extra) > 0 {
		t.Errorf("%s: the command sees %s", what, strings.Join(extra, ", "))
	}
}

func TestLocalEnvironment(t *testing.T) { testEnvironment(t, Local()) }

// TestSSHEnvironment runs the contract over a real sshd, whose session
// gives the command USER, SHELL, MAIL, SSH_CLIENT and SSH_CONNECTION: the
// remote command must start from a clean environment too.
func TestSSHEnvironment(t *testing.T) {
	c := sshd.Start(t, 1)
	testEnvironment(t, dial(t, sshConfig(c, c.Hosts[0])))
}
