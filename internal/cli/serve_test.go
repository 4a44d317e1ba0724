package cli

import (
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/testutil"
	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
)

// slowDeploy takes a few seconds per unit and says when it starts; the
// version file is written whole at the end (a rename), as a careful
// deploy command does.
const slowDeploy = `f="$GS_TEST_STATE/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
touch "$GS_TEST_STATE/started-$GEARSHIFT_UNIT"
echo "$GEARSHIFT_UNIT $GEARSHIFT_VERSION" >> "$GS_TEST_STATE/deploys.log"
sleep 2
echo "$GEARSHIFT_VERSION" > "$f.tmp" && mv "$f.tmp" "$f"
`

// TestServeSIGTERM runs the real gearshift binary (built here, so that
// its signal handling is main's): SIGTERM during the first of three
// deploys lets that deploy finish, starts no other, releases the lock and
// exits 0; the next start converges without deploying the first unit
// again.
func TestServeSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gearshift binary")
	}
	temp := t.TempDir()
	bin := filepath.Join(temp, "gearshift")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gearshift-dev/gearshift/cmd/gearshift").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	git := gitserver.New(t, "")
	work := t.TempDir()
	git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue": "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":          statusScript,
		"deploy.sh":          slowDeploy,
		"environments/dev/env.cue": `package gearshift

environment: {
	name: "dev"
	deployFrom: branch: "main"
	targets: t: exec: {status: ["sh", "./status.sh"], deploy: ["sh", "./deploy.sh"]}
}

units: a: {kind: "gear", version: "1.0.0", target: "t"}
units: b: {kind: "gear", version: "1.0.0", target: "t"}
units: c: {kind: "gear", version: "1.0.0", target: "t"}
`,
	})
	stateDir := filepath.Join(temp, "state")
	port := testutil.FreePort(t)
	start := func() (*exec.Cmd, *testutil.SyncBuffer) {
		cmd := exec.Command(bin, "serve", "dev", "--repo", git.URL("state"), "--listen", "127.0.0.1:"+itoa(port),
			"--parallelism", "1", "--state-dir", stateDir, "--no-status", "--poll-interval", "1h")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + temp, "XDG_CACHE_HOME=" + filepath.Join(temp, "cache"),
			"GS_TEST_STATE=" + work, "GEARSHIFT_PASS_ENV=GS_TEST_STATE"}
		var out testutil.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, &out
	}
	waitFile := func(name string, out *testutil.SyncBuffer) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(work, name)); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never appeared; serve said:\n%s", name, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	cmd, out := start()
	waitFile("started-a", out)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v (want exit 0)\n%s", err, out.String())
	}
	// a finished; b and c never started; nothing is half-written.
	if got := readTrim(t, filepath.Join(work, "dev-a")); got != "1.0.0" {
		t.Errorf("a runs %q after SIGTERM in its deploy, want 1.0.0 (the running action finishes)", got)
	}
	for _, u := range []string{"b", "c"} {
		if _, err := os.Stat(filepath.Join(work, "started-"+u)); err == nil {
			t.Errorf("%s was started after SIGTERM", u)
		}
	}
	leftovers := findFiles(t, work, func(p string) bool { return strings.HasSuffix(p, ".tmp") })
	locks := findFiles(t, stateDir, func(p string) bool { return filepath.Base(p) == apply.LockFile("dev") })
	if len(leftovers) > 0 || len(locks) > 0 {
		t.Errorf("after SIGTERM: temporary files %q, locks %q; want none", leftovers, locks)
	}
	if !strings.Contains(out.String(), "interrupted") {
		t.Errorf("serve did not report the interrupted run:\n%s", out.String())
	}

	// The next start converges: b and c are deployed, a is not again.
	cmd, out = start()
	waitFile("dev-c", out)
	waitReady(t, port)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("second serve: %v\n%s", err, out.String())
	}
	for _, u := range []string{"a", "b", "c"} {
		if got := readTrim(t, filepath.Join(work, "dev-"+u)); got != "1.0.0" {
			t.Errorf("%s runs %q after the second start, want 1.0.0", u, got)
		}
	}
	if got := readTrim(t, filepath.Join(work, "deploys.log")); got != "a 1.0.0\nb 1.0.0\nc 1.0.0" {
		t.Errorf("deploys:\n%s\nwant a, b, c once each", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func findFiles(t *testing.T, root string, match func(string) bool) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && match(p) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// waitReady waits for /readyz of the serve on port.
func waitReady(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + itoa(port) + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve on port %d never ready", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
