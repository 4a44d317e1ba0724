package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestActionLockWait runs the action's gearshift step with a real gearshift
// built from this tree: the lock-wait input reaches apply, reconcile and
// rollback as --lock-wait (an invalid duration is refused by gearshift's
// own flag parsing, which proves the flag arrived where it belongs), and
// is not given to commands that take no lock.
func TestActionLockWait(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("no bash: the action's steps are bash")
	}
	temp := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(temp, "gearshift"), "github.com/gearshift-dev/gearshift/cmd/gearshift")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	script := actionStep(t, "gearshift ${{ inputs.command }}")
	for _, tt := range []struct {
		command, wait string
		passed        bool
	}{
		{"apply", "bogus", true},
		{"reconcile", "bogus", true},
		{"rollback", "bogus", true},
		{"plan", "bogus", false},
		{"validate", "bogus", false},
	} {
		out := filepath.Join(t.TempDir(), "output")
		stdout, err := runStep(t, script, "RUNNER_TEMP="+temp, "GITHUB_OUTPUT="+out,
			"GEARSHIFT_COMMAND="+tt.command, "GEARSHIFT_REPO="+t.TempDir(), "GEARSHIFT_LOCK_WAIT="+tt.wait,
			"GEARSHIFT_REF=", "GEARSHIFT_ENVIRONMENTS=", "GEARSHIFT_ARGS=", "GEARSHIFT_OK_EXIT_CODES=")
		refused := strings.Contains(stdout, `invalid argument "bogus" for "--lock-wait"`)
		if refused != tt.passed || strings.Contains(stdout, "unknown flag: --lock-wait") {
			t.Errorf("%s with lock-wait %q: gearshift said:\n%s\nwant --lock-wait passed: %v", tt.command, tt.wait, stdout, tt.passed)
		}
		if b, _ := os.ReadFile(out); !strings.Contains(string(b), "exit_code=") {
			t.Errorf("%s: no exit_code output: %q (%v, %s)", tt.command, b, err, stdout)
		}
	}
}
