package serve

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/driver"
	execdrv "github.com/gearshift-dev/gearshift/internal/driver/exec"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
)

// The exec driver's commands of the test states: each unit's version is a
// file under $GS_TEST_STATE, its deploy time another, and every deploy is
// appended to deploys.log, so that a test sees what ran.
const (
	statusScript = `f="$GS_TEST_STATE/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
if [ "$GEARSHIFT_ACTION" = inventory ]; then echo '{"format_version":"1","units":[]}'; exit 0; fi
if [ -f "$f" ]; then
  at=$(cat "$f.at" 2>/dev/null || echo 2026-11-30T00:00:00Z)
  printf '{"format_version":"1","deployed":true,"version":"%s","deployed_at":"%s","health":"healthy"}\n' "$(cat "$f")" "$at"
else
  echo '{"format_version":"1","deployed":false}'
fi
`
	deployScript = `f="$GS_TEST_STATE/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
echo "$GEARSHIFT_ENVIRONMENT $GEARSHIFT_UNIT $GEARSHIFT_VERSION" >> "$GS_TEST_STATE/deploys.log"
date -u +%Y-%m-%dT%H:%M:%SZ > "$f.at.tmp" && mv "$f.at.tmp" "$f.at"
echo "$GEARSHIFT_VERSION" > "$f.tmp" && mv "$f.tmp" "$f"
`
	moduleCUE = "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n"
)

// envCUE is an environment with one exec target and the given units
// (name -> version), plus extra CUE inside environment (policies).
func envCUE(name, deployFrom, policies string, units map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "package gearshift\n\nenvironment: {\n\tname: %q\n\tdeployFrom: %s\n\ttargets: t: exec: {status: [\"sh\", \"./status.sh\"], deploy: [\"sh\", \"./deploy.sh\"]}\n", name, deployFrom)
	if policies != "" {
		fmt.Fprintf(&b, "\tpolicies: %s\n", policies)
	}
	b.WriteString("}\n\n")
	for _, n := range sortedKeys(units) {
		fmt.Fprintf(&b, "units: %q: {kind: \"gear\", version: %q, target: \"t\"}\n", n, units[n])
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// fixture is a state repository on a real git http-backend and a serve
// of it, in this process, with the real exec driver.
type fixture struct {
	t      *testing.T
	git    *gitserver.Server
	work   string // $GS_TEST_STATE
	secret []byte
	srv    *Server
	addr   string
	cancel context.CancelFunc
	done   chan error
	log    *bytes.Buffer
	ids    atomic.Int64
}

func newFixture(t *testing.T, files map[string]string) *fixture {
	t.Helper()
	f := &fixture{t: t, git: gitserver.New(t, ""), work: t.TempDir(), secret: []byte("s3cret-for-tests"), log: &bytes.Buffer{}}
	t.Setenv("GS_TEST_STATE", f.work)
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	all := map[string]string{"cue.mod/module.cue": moduleCUE, "status.sh": statusScript, "deploy.sh": deployScript}
	for k, v := range files {
		all[k] = v
	}
	f.git.CreateRepo("state", "main", all)
	return f
}

// branch creates branch at main.
func (f *fixture) branch(name string) {
	f.t.Helper()
	out, err := exec.Command("git", "-C", f.git.Path("state"), "branch", name, "main").CombinedOutput()
	if err != nil {
		f.t.Fatalf("git branch %s: %v\n%s", name, err, out)
	}
}

// start runs serve of envs (all when none) until the test ends.
func (f *fixture) start(poll time.Duration, envs ...string) {
	f.t.Helper()
	addr := make(chan string, 1)
	cfg := Config{
		Repo: f.git.URL("state"), Environments: envs,
		CacheDir: filepath.Join(f.t.TempDir(), "cache"), StateDir: filepath.Join(f.t.TempDir(), "state"),
		Listen: "127.0.0.1:0", PollInterval: poll, ObserveInterval: time.Hour,
		WebhookSecret: f.secret,
		Load:          state.Options{KeepExpiredWaivers: true, Limits: state.Limits{Timeout: time.Minute, Memory: state.DefaultLoadMemory}},
		Command:       []string{"gearshift", "serve"},
		Drivers:       execDrivers,
		Log:           slog.New(slog.NewTextHandler(syncWriter{f}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Listening:     func(a string) { addr <- a },
	}
	s, err := New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv = s
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan error, 1)
	go func() { f.done <- s.Run(ctx) }()
	select {
	case f.addr = <-addr:
	case err := <-f.done:
		f.t.Fatalf("serve stopped: %v", err)
	case <-time.After(2 * time.Minute):
		f.t.Fatal("serve did not listen")
	}
	f.t.Cleanup(func() {
		cancel()
		<-f.done
		if f.t.Failed() {
			f.t.Logf("serve log:\n%s", f.logText())
		}
	})
}

var logMu = make(chan struct{}, 1)

type syncWriter struct{ f *fixture }

func (w syncWriter) Write(p []byte) (int, error) {
	logMu <- struct{}{}
	defer func() { <-logMu }()
	return w.f.log.Write(p)
}

func (f *fixture) logText() string {
	logMu <- struct{}{}
	defer func() { <-logMu }()
	return f.log.String()
}

// execDrivers are apply's drivers for exec targets, as the command line
// builds them.
func execDrivers(root string) (apply.Drivers, func() error) {
	return apply.Drivers{Resolve: func(env *state.Environment, target string) (driver.Deployer, error) {
		t, ok := env.Targets[target]
		if !ok || t.Exec == nil {
			return nil, fmt.Errorf("no exec target %q", target)
		}
		return &execdrv.Driver{Target: t.Exec, Dir: root}, nil
	}}, func() error { return nil }
}

// waitFor polls cond until it holds; the deadline only bounds a broken
// test, it is no timing goal.
func (f *fixture) waitFor(what string, cond func(*Status) bool) *Status {
	f.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := f.srv.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("waiting for %s: status %+v", what, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func envOf(st *Status, name string) EnvStatus {
	for _, e := range st.Environments {
		if e.Name == name {
			return e
		}
	}
	return EnvStatus{}
}

func unitOf(e EnvStatus, name string) UnitStatus {
	for _, u := range e.Units {
		if u.Name == name {
			return u
		}
	}
	return UnitStatus{}
}

// deployed is the version the target runs for env's unit ("" none).
func (f *fixture) deployed(env, unit string) string {
	b, err := os.ReadFile(filepath.Join(f.work, env+"-"+unit))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// deploys are the lines of deploys.log: "env unit version".
func (f *fixture) deploys() []string {
	b, _ := os.ReadFile(filepath.Join(f.work, "deploys.log"))
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// push sends a push delivery for ref with a fresh delivery id, signed
// with secret, and returns the status code, the delivery's id and body.
func (f *fixture) push(ref, after string, secret []byte) (int, string, []byte) {
	id := fmt.Sprintf("delivery-%d", f.ids.Add(1))
	body := []byte(fmt.Sprintf(`{"ref":%q,"before":"0000000000000000000000000000000000000000","after":%q,"repository":{"full_name":"acme/state"}}`, ref, after))
	return f.deliver("push", id, body, secret), id, body
}

// deliver posts a webhook delivery as GitHub does.
func (f *fixture) deliver(event, id string, body, secret []byte) int {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+f.addr+"/hook/github", bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", Sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// metric reads one series of /metrics (0 when absent).
func (f *fixture) metric(series string) float64 {
	f.t.Helper()
	resp, err := http.Get("http://" + f.addr + "/metrics")
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				f.t.Fatalf("metric %s: %v", series, err)
			}
			return n
		}
	}
	return 0
}
