package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// leaks are variables of gearshift's environment that nothing it runs may
// see: its tokens and an unrelated secret of the machine.
var leaks = map[string]string{
	"GITHUB_TOKEN":          "ghs_leak_github",
	"GEARSHIFT_GIT_TOKEN":   "ghs_leak_git",
	"AWS_SECRET_ACCESS_KEY": "leak_aws",
}

func setLeaks(t *testing.T) {
	for k, v := range leaks {
		t.Setenv(k, v)
	}
	t.Setenv("GEARSHIFT_PASS_ENV", "")
}

// recordEnv is an argv that copies the environment it was started with
// (/proc/$$/environ, which the shell does not change) to file.
func recordEnv(file string) []string {
	return []string{"sh", "-c", `cat /proc/$$/environ > "$1"`, "sh", file}
}

// readEnviron reads NUL-separated NAME=value pairs into a map, retrying
// while the file is empty (a process's environ is filled in just after
// execve starts).
func readEnviron(t *testing.T, file string) map[string]string {
	t.Helper()
	var b []byte
	for deadline := time.Now().Add(10 * time.Second); len(b) == 0; time.Sleep(10 * time.Millisecond) {
		var err error
		if b, err = os.ReadFile(file); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed empty", file)
		}
	}
	env := map[string]string{}
	for kv := range strings.SplitSeq(strings.TrimRight(string(b), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// checkEnviron fails unless env has none of the leaks, has PATH and HOME
// as gearshift has them, and has every wanted variable.
func checkEnviron(t *testing.T, what string, env map[string]string, want map[string]string) {
	t.Helper()
	for k := range leaks {
		if _, ok := env[k]; ok {
			t.Errorf("%s sees %s", what, k)
		}
	}
	for _, k := range []string{"PATH", "HOME"} {
		if env[k] != os.Getenv(k) {
			t.Errorf("%s: %s=%q, want %q", what, k, env[k], os.Getenv(k))
		}
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s: %s=%q, want %q", what, k, env[k], v)
		}
	}
	allowed := map[string]bool{"PATH": true, "HOME": true, "LANG": true, "TZ": true}
	var extra []string
	for k := range env {
		if _, ok := want[k]; !ok && !allowed[k] && !strings.HasPrefix(k, "LC_") && !strings.HasPrefix(k, "GEARSHIFT_") {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	if len(extra) > 0 {
		t.Errorf("%s sees variables nobody declared: %s", what, strings.Join(extra, ", "))
	}
}

// TestCommandsEnvironment deploys a blue/green unit over the local
// transport with tokens in gearshift's environment, and reads what the
// service (/proc/<pid>/environ), its health command and the proxy's test
// and reload commands were started with.
func TestCommandsEnvironment(t *testing.T) {
	setLeaks(t)
	ctx := context.Background()
	ev := newEvents(t)
	rec := t.TempDir()
	ports := [2]int{freePort(t), freePort(t)}
	d := localDriver(t, &state.HostTarget{Service: "process", KeepReleases: 3, Proxy: &state.Proxy{
		Kind: "nginx", UpstreamFile: filepath.Join(rec, "upstream.conf"),
		Test: recordEnv(filepath.Join(rec, "proxy-test")), Reload: recordEnv(filepath.Join(rec, "proxy-reload")),
	}}, ev)
	pruneAtEnd(t, d, "web")
	u := webUnit("1.0.0")
	u.Strategy, u.BlueGreen = "bluegreen", &state.BlueGreen{Ports: ports}
	u.Run.Env["DECLARED"] = "from the state"
	u.Health = &state.Health{Command: recordEnv(filepath.Join(rec, "health")), Timeout: state.Duration{Duration: 5 * time.Second}}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if _, err := d.Deploy(ctx, deployReq(t, u, false, t0, ev)); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	pid := pidOf(t, Layout{Root: d.Target.Root, Unit: "web"}, "blue")
	if pid == 0 || !alive(pid) {
		t.Fatalf("the service does not run (pid %d)", pid)
	}
	declared := map[string]string{"DECLARED": "from the state", "UNIT_PORT": fmt.Sprint(ports[0]), "PORT": fmt.Sprint(ports[0]), "GEARSHIFT_UNIT": "web", "GEARSHIFT_VERSION": "1.0.0"}
	checkEnviron(t, "the service", readEnviron(t, fmt.Sprintf("/proc/%d/environ", pid)), declared)
	checkEnviron(t, "the health command", readEnviron(t, filepath.Join(rec, "health")), declared)
	checkEnviron(t, "the proxy test", readEnviron(t, filepath.Join(rec, "proxy-test")), nil)
	checkEnviron(t, "the proxy reload", readEnviron(t, filepath.Join(rec, "proxy-reload")), nil)
}
