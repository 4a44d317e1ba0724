package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockWaitDeploy is deployScript, except that the deploy of 1.0.0 says it
// started and then waits for $GS_TEST_STATE/go: the first CI job holds the
// environment's lock for as long as the test wants.
const lockWaitDeploy = `if [ "$GEARSHIFT_VERSION" = 1.0.0 ]; then
  touch "$GS_TEST_STATE/started"
  while [ ! -f "$GS_TEST_STATE/go" ]; do sleep 0.05; done
fi
echo "$GEARSHIFT_VERSION" > "$GS_TEST_STATE/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
`

// watchedBuffer is a run's stderr that the test can wait on.
type watchedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor polls until ok or a minute has passed (a bound on a broken
// test, not a timing goal).
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestApplyLockWait is Fragalysis's CI burst: two commits a moment apart
// start two applies of one environment. While the first holds the lock, a
// second apply without --lock-wait exits 5 as before; one with --lock-wait
// waits, and once it has the lock it fetches the state again and deploys
// the newer version, committed while it waited; both exit 0.
func TestApplyLockWait(t *testing.T) {
	st := t.TempDir()
	t.Setenv("GS_TEST_STATE", st)
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir() // one lock directory for every run
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":       "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":                statusScript,
		"deploy.sh":                lockWaitDeploy,
		"environments/dev/env.cue": strings.Replace(gitopsEnvCUE("dev", `branch: "main"`), `"1.2.0"`, `"1.0.0"`, 1),
	})
	url := h.git.URL("state")

	first, _ := startApply(t, h, "apply", "dev", "--repo", url, "--ref", "main")
	waitFor(t, "the first apply to start deploying 1.0.0", func() bool {
		_, err := os.Stat(filepath.Join(st, "started"))
		return err == nil
	})

	// Without --lock-wait: exit 5 at once, as before.
	code, _, stderr := h.run("apply", "dev", "--repo", url, "--ref", "main")
	if code != ExitLocked || !strings.Contains(stderr, "environment dev is locked by") {
		t.Errorf("apply without --lock-wait while locked: exit %d, stderr:\n%s\nwant exit %d and who holds the lock", code, stderr, ExitLocked)
	}

	// With --lock-wait: it loads 1.0.0, then waits.
	second, secondErr := startApply(t, h, "apply", "dev", "--repo", url, "--ref", "main", "--lock-wait", "2m")
	waitFor(t, "the second apply to wait for the lock", func() bool {
		return strings.Contains(secondErr.String(), "waiting up to 2m0s for the lock held by")
	})
	// The newer commit arrives while it waits; then the first run ends.
	newer := h.git.Commit("state", "main", "frontend 2.0.0", map[string]string{
		"environments/dev/env.cue": strings.Replace(gitopsEnvCUE("dev", `branch: "main"`), `"1.2.0"`, `"2.0.0"`, 1),
	})
	if err := os.WriteFile(filepath.Join(st, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	if code, out, errOut := first(); code != 0 {
		t.Errorf("first apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut := second()
	if code != 0 {
		t.Fatalf("second apply (--lock-wait): exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "planning from the newest state, commit "+newer[:12]) {
		t.Errorf("second apply does not say it planned from %s:\n%s", newer[:12], errOut)
	}
	if !strings.Contains(out, "1.0.0 -> 2.0.0") {
		t.Errorf("second apply's plan is not 1.0.0 -> 2.0.0:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(st, "dev-api"))
	if err != nil || strings.TrimSpace(string(b)) != "2.0.0" {
		t.Errorf("dev runs %q (%v), want 2.0.0, the newer version", b, err)
	}
}
