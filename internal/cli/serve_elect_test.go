package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gearshift-dev/gearshift/internal/serve"
	"github.com/gearshift-dev/gearshift/internal/testutil"
	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
	"github.com/gearshift-dev/gearshift/internal/testutil/kubetest"
)

// electDeploy records which replica deployed what.
const electDeploy = `f="$GS_TEST_STATE/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
echo "$GEARSHIFT_ENVIRONMENT $GEARSHIFT_UNIT $GEARSHIFT_VERSION $GS_REPLICA" >> "$GS_TEST_STATE/deploys.log"
echo "$GEARSHIFT_VERSION" > "$f.tmp" && mv "$f.tmp" "$f"
`

func electEnv(name, version string) string {
	return fmt.Sprintf(`package gearshift

environment: {
	name: %q
	deployFrom: branch: "main"
	targets: t: exec: {status: ["sh", "./status.sh"], deploy: ["sh", "./deploy.sh"]}
}

units: api: {kind: "gear", version: %q, target: "t"}
`, name, version)
}

// TestServeLeaderElection runs three replicas of the real binary with
// --leader-elect against a real control plane, for six environments: the
// Leases spread two per replica; kill -9 of one replica hands its
// environments to the others, which apply the next change there; every
// change is applied once, by one replica. The takeover time is logged (a
// figure, not a goal).
func TestServeLeaderElection(t *testing.T) {
	if testing.Short() {
		t.Skip("a control plane and three replicas")
	}
	cluster := kubetest.Start(t)
	ns := cluster.Namespace(t)
	temp := t.TempDir()
	bin := filepath.Join(temp, "gearshift")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gearshift-dev/gearshift/cmd/gearshift").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	envs := []string{"e1", "e2", "e3", "e4", "e5", "e6"}
	git := gitserver.New(t, "")
	work := t.TempDir()
	files := map[string]string{
		"cue.mod/module.cue": "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":          statusScript,
		"deploy.sh":          electDeploy,
	}
	for _, e := range envs {
		files["environments/"+e+"/env.cue"] = electEnv(e, "1.0.0")
	}
	git.CreateRepo("state", "main", files)

	type replica struct {
		name string
		port int
		cmd  *exec.Cmd
		out  *testutil.SyncBuffer
	}
	// Short leases keep the test short; GEARSHIFT_BENCH_ELECT_DEFAULTS=1
	// measures the takeover with serve's defaults (make bench-serve).
	leases, timing := []string{"--leader-elect-lease-duration", "4s", "--leader-elect-renew-deadline", "3s", "--leader-elect-retry-period", "500ms"},
		"lease duration 4s, retry period 500ms"
	if os.Getenv("GEARSHIFT_BENCH_ELECT_DEFAULTS") == "1" {
		leases, timing = nil, "serve's default lease duration, renew deadline and retry period"
	}
	start := func(name string) *replica {
		dir := filepath.Join(temp, name)
		port := testutil.FreePort(t)
		cmd := exec.Command(bin, append([]string{"serve", "--repo", git.URL("state"), "--listen", "127.0.0.1:" + strconv.Itoa(port),
			"--state-dir", filepath.Join(dir, "state"), "--no-status", "--poll-interval", "1h",
			"--leader-elect", "--leader-elect-namespace", ns, "--leader-elect-identity", name}, leases...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
			"KUBECONFIG=" + cluster.Kubeconfig, "GS_TEST_STATE=" + work, "GS_REPLICA=" + name, "GEARSHIFT_PASS_ENV=GS_TEST_STATE,GS_REPLICA",
			"GEARSHIFT_WEBHOOK_SECRET=" + electSecret}
		out := &testutil.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := &replica{name: name, port: port, cmd: cmd, out: out}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			if t.Failed() {
				t.Logf("replica %s said:\n%s", name, tailLines(out.String(), 40))
			}
		})
		return r
	}
	replicas := map[string]*replica{}
	for _, n := range []string{"r1", "r2", "r3"} {
		replicas[n] = start(n)
	}

	ctx := context.Background()
	holders := func() map[string]string {
		h := map[string]string{}
		for _, e := range envs {
			l, err := cluster.Client.CoordinationV1().Leases(ns).Get(ctx, serve.LeaseName(e), metav1.GetOptions{})
			if err == nil && l.Spec.HolderIdentity != nil {
				h[e] = *l.Spec.HolderIdentity
			}
		}
		return h
	}
	perReplica := func(h map[string]string) map[string][]string {
		by := map[string][]string{}
		for e, r := range h {
			if r != "" {
				by[r] = append(by[r], e)
			}
		}
		for _, es := range by {
			slices.Sort(es)
		}
		return by
	}
	waitUntil := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: lease holders %v, deploys:\n%s", what, holders(), readTrim(t, filepath.Join(work, "deploys.log")))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	deployedAll := func(version string) bool {
		for _, e := range envs {
			if readTrim(t, filepath.Join(work, e+"-api")) != version {
				return false
			}
		}
		return true
	}

	// Spread: two environments per replica, every one deployed.
	waitUntil("the environments spread over the replicas", 2*time.Minute, func() bool {
		by := perReplica(holders())
		return len(by) == 3 && len(by["r1"]) == 2 && len(by["r2"]) == 2 && len(by["r3"]) == 2 && deployedAll("1.0.0")
	})
	spread := perReplica(holders())
	t.Logf("spread: %v", spread)

	// kill -9 the holder of e1.
	victim := holders()["e1"]
	orphans := spread[victim]
	killed := time.Now()
	if err := replicas[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	replicas[victim].cmd.Wait()
	git.Commit("state", "main", "api 1.1.0 everywhere", versionAll(envs, "1.1.0"))
	var survivors []string
	for n := range replicas {
		if n != victim {
			survivors = append(survivors, n)
		}
	}
	slices.Sort(survivors)

	var tookOver time.Duration
	waitUntil("the others to take the killed replica's environments", 2*time.Minute, func() bool {
		h := holders()
		for _, e := range orphans {
			if h[e] == victim || h[e] == "" {
				return false
			}
		}
		tookOver = time.Since(killed)
		return true
	})
	waitUntil("its environments at 1.1.0", 2*time.Minute, func() bool {
		for _, e := range orphans {
			if readTrim(t, filepath.Join(work, e+"-api")) != "1.1.0" {
				return false
			}
		}
		return true
	})
	applied := time.Since(killed)
	waitUntil("three environments per survivor", time.Minute, func() bool {
		by := perReplica(holders())
		return len(by[survivors[0]]) == 3 && len(by[survivors[1]]) == 3
	})
	t.Logf("kill -9 of %s (holding %v): its Leases taken over after %s, the change applied there after %s (%s)",
		victim, orphans, tookOver.Round(10*time.Millisecond), applied.Round(10*time.Millisecond), timing)

	// The next push's webhook reaches one survivor only, as through a
	// Service: the environments the other leads are woken through their
	// wake-up Leases (polling is an hour away).
	git.Commit("state", "main", "api 1.2.0 everywhere", versionAll(envs, "1.2.0"))
	pushed := time.Now()
	deliverPush(t, replicas[survivors[0]].port, "refs/heads/main")
	waitUntil("1.2.0 everywhere", 2*time.Minute, func() bool { return deployedAll("1.2.0") })
	t.Logf("a push's webhook to %s only: 1.2.0 deployed in all six environments after %s", survivors[0], time.Since(pushed).Round(10*time.Millisecond))

	// Every change was applied once, by one replica, never by the dead one
	// after its death.
	log := readTrim(t, filepath.Join(work, "deploys.log"))
	for _, e := range envs {
		for _, v := range []string{"1.1.0", "1.2.0"} {
			var by []string
			for _, line := range strings.Split(log, "\n") {
				if f := strings.Fields(line); len(f) == 4 && f[0] == e && f[2] == v {
					by = append(by, f[3])
				}
			}
			// 1.1.0 reached the survivors' own environments only if
			// a change of leader made a fresh reconcile (no webhook, no
			// poll): at most once there.
			ok := len(by) == 1 || (len(by) == 0 && v == "1.1.0" && !slices.Contains(orphans, e))
			if !ok || slices.Contains(by, victim) {
				t.Errorf("%s: %s deployed by %q, want one replica, not %s", e, v, by, victim)
			}
		}
	}
	if after := perReplica(holders()); len(after[victim]) != 0 || len(after) != 2 {
		t.Errorf("lease holders after the takeover: %v, want the two survivors only", after)
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

const electSecret = "elect-secret"

func versionAll(envs []string, version string) map[string]string {
	changes := map[string]string{}
	for _, e := range envs {
		changes["environments/"+e+"/env.cue"] = electEnv(e, version)
	}
	return changes
}

// deliverPush sends a signed push delivery to the serve on port.
func deliverPush(t *testing.T, port int, ref string) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"ref":%q}`, ref))
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(port)+"/hook/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("d-%d", time.Now().UnixNano()))
	req.Header.Set("X-Hub-Signature-256", serve.Sign([]byte(electSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
}
