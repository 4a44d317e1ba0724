// Package servebench measures `gearshift serve` (issue 13), with the real
// binary against a real git http-backend and the exec driver:
//
//   - a commit pushed to the git server -> its signed webhook -> the first
//     deploy action started (the deploy command's own clock), p50 and p95
//     over 20 pushes;
//   - the same with polling only, at a short interval (the default's
//     figures follow from it: see the printed note), and, with
//     GEARSHIFT_BENCH_SERVE_DEFAULT_POLL=N, N pushes at the default
//     interval itself (about 70 s a push);
//   - serve at rest with 2,000 units x 3 environments loaded (RSS and Go
//     heap), and a one-line change: what it costs the changed environment
//     (load of that environment only) and the others (a digest of their
//     files, no load).
//
// It prints figures and asserts no timing: make bench-serve runs it.
package servebench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/serve"
	"github.com/gearshift-dev/gearshift/internal/testutil"
	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
)

const (
	module = "module: \"example.com/bench@v0\"\nlanguage: version: \"v0.17.0\"\n"
	status = `f="$GS_TEST_STATE/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
if [ "$GEARSHIFT_ACTION" = inventory ]; then echo '{"format_version":"1","units":[]}'; exit 0; fi
if [ -f "$f" ]; then
  printf '{"format_version":"1","deployed":true,"version":"%s","deployed_at":"2026-11-30T00:00:00Z","health":"healthy"}\n' "$(cat "$f")"
else
  echo '{"format_version":"1","deployed":false}'
fi
`
	// deploy stamps its start with the wall clock in nanoseconds: the
	// moment the first deploy action started.
	deploy = `date +%s%N > "$GS_TEST_STATE/start-$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT-$GEARSHIFT_VERSION"
echo "$GEARSHIFT_VERSION" > "$GS_TEST_STATE/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
`
	secret = "bench-secret"
)

func envFile(name string) string {
	return fmt.Sprintf(`package gearshift

environment: {
	name: %q
	deployFrom: branch: "main"
	policies: maxAge: "30d"
	targets: t: exec: {status: ["sh", "./status.sh"], deploy: ["sh", "./deploy.sh"]}
}
`, name)
}

func unitsFile(first, n int, version func(i int) string) string {
	var b strings.Builder
	b.WriteString("package gearshift\n\n")
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "units: \"u%05d\": {kind: \"gear\", version: %q, target: \"t\"}\n", i, version(i))
	}
	return b.String()
}

// bench is one serve process of the real binary.
type bench struct {
	t    *testing.T
	bin  string
	git  *gitserver.Server
	work string
	port int
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
}

func TestServeBench(t *testing.T) {
	if os.Getenv("GEARSHIFT_BENCH_SERVE") == "" {
		t.Skip("a benchmark: make bench-serve runs it")
	}
	bin := filepath.Join(t.TempDir(), "gearshift")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gearshift-dev/gearshift/cmd/gearshift").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("webhook", func(t *testing.T) { pushes(t, bin, true, time.Hour, 20) })
	t.Run("poll", func(t *testing.T) { pushes(t, bin, false, 5*time.Second, 20) })
	t.Run("scale", func(t *testing.T) { scale(t, bin, 2000) })
	// At the default interval each push costs a minute or so: measured
	// only when asked (GEARSHIFT_BENCH_SERVE_DEFAULT_POLL=pushes).
	if n, _ := strconv.Atoi(os.Getenv("GEARSHIFT_BENCH_SERVE_DEFAULT_POLL")); n > 0 {
		t.Run("poll-default", func(t *testing.T) { pushes(t, bin, false, serve.DefaultPollInterval, n) })
	}
}

func newBench(t *testing.T, bin string, files map[string]string) *bench {
	b := &bench{t: t, bin: bin, git: gitserver.New(t, ""), work: t.TempDir(), port: testutil.FreePort(t)}
	all := map[string]string{"cue.mod/module.cue": module, "status.sh": status, "deploy.sh": deploy}
	for k, v := range files {
		all[k] = v
	}
	b.git.CreateRepo("state", "main", all)
	return b
}

func (b *bench) start(webhook bool, args ...string) {
	temp := b.t.TempDir()
	b.cmd = exec.Command(b.bin, append([]string{"serve", "--repo", b.git.URL("state"), "--listen", "127.0.0.1:" + strconv.Itoa(b.port),
		"--state-dir", filepath.Join(temp, "state"), "--no-status"}, args...)...)
	b.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + temp, "XDG_CACHE_HOME=" + filepath.Join(temp, "cache"),
		"GS_TEST_STATE=" + b.work, "GEARSHIFT_PASS_ENV=GS_TEST_STATE"}
	if webhook {
		b.cmd.Env = append(b.cmd.Env, "GEARSHIFT_WEBHOOK_SECRET="+secret)
	}
	b.out = &testutil.SyncBuffer{}
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() {
		b.cmd.Process.Signal(os.Interrupt)
		b.cmd.Wait()
	})
}

// started waits for the deploy of env's unit at version and returns when
// it started.
func (b *bench) started(env, unit, version string) time.Time {
	p := filepath.Join(b.work, "start-"+env+"-"+unit+"-"+version)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if data, err := os.ReadFile(p); err == nil && len(bytes.TrimSpace(data)) > 0 {
			ns, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			if err != nil {
				b.t.Fatal(err)
			}
			return time.Unix(0, ns)
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no deploy of %s %s %s; serve said:\n%s", env, unit, version, tail(b.out.String(), 30))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *bench) webhook(ref string) {
	body := []byte(fmt.Sprintf(`{"ref":%q,"after":"","repository":{"full_name":"acme/state"}}`, ref))
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(b.port)+"/hook/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", rand.Int64()))
	req.Header.Set("X-Hub-Signature-256", serve.Sign([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.t.Fatalf("webhook answered %d", resp.StatusCode)
	}
}

// pushes measures commit pushed -> first deploy action started, n times.
func pushes(t *testing.T, bin string, webhook bool, poll time.Duration, n int) {
	b := newBench(t, bin, map[string]string{
		"environments/dev/env.cue":   envFile("dev"),
		"environments/dev/units.cue": unitsFile(0, 1, func(int) string { return "1.0.0" }),
	})
	b.start(webhook, "dev", "--poll-interval", poll.String())
	b.started("dev", "u00000", "1.0.0")
	var lat []time.Duration
	for i := 1; i <= n; i++ {
		if !webhook {
			// Push at a random phase of the poll, as a person would.
			time.Sleep(rand.N(poll + poll/4))
		}
		v := fmt.Sprintf("1.0.%d", i)
		b.git.Commit("state", "main", "u00000 "+v, map[string]string{"environments/dev/units.cue": unitsFile(0, 1, func(int) string { return v })})
		pushed := time.Now()
		if webhook {
			b.webhook("refs/heads/main")
		}
		lat = append(lat, b.started("dev", "u00000", v).Sub(pushed))
	}
	mode := "webhook"
	if !webhook {
		mode = "poll only, --poll-interval " + poll.String()
	}
	fmt.Printf("serve: pushed -> first deploy action started, %s, %d pushes: p50 %s, p95 %s, max %s\n",
		mode, n, pct(lat, 50), pct(lat, 95), pct(lat, 100))
	if !webhook && poll != serve.DefaultPollInterval {
		// The wait is uniform over one poll period (interval + up to a
		// quarter of jitter), plus the fetch and plan measured here.
		fixed := pct(lat, 50) - (poll+poll/8)/2
		def := serve.DefaultPollInterval
		fmt.Printf("serve: at the default --poll-interval %s (+ up to %s jitter) the same is about p50 %s, p95 %s (uniform wait over the period + %s of fetch, load and plan measured here)\n",
			def, def/4, ((def+def/8)/2 + max(fixed, 0)).Round(time.Second), (time.Duration(0.95*float64(def+def/8)) + max(fixed, 0)).Round(time.Second), max(fixed, 0).Round(time.Millisecond))
	}
}

var (
	loadedRE = regexp.MustCompile(`msg="state loaded" environment=(\S+) .*fetch_seconds=(\S+) load_seconds=(\S+)`)
	sameRE   = regexp.MustCompile(`msg="new commit, same state" environment=(\S+) .*fetch_seconds=(\S+) hash_seconds=(\S+)`)
	reconRE  = regexp.MustCompile(`msg=reconciled environment=(\S+) commit=\S+ seconds=(\S+)`)
)

// scale loads units x 3 environments (every unit already running), then
// changes one line of one environment.
func scale(t *testing.T, bin string, units int) {
	files := map[string]string{}
	envs := []string{"dev", "staging", "prod"}
	work := t.TempDir()
	for _, env := range envs {
		files["environments/"+env+"/env.cue"] = envFile(env)
		for first := 0; first < units; first += 100 {
			files[fmt.Sprintf("environments/%s/units-%05d.cue", env, first)] = unitsFile(first, min(100, units-first), func(int) string { return "1.0.0" })
		}
	}
	b := newBench(t, bin, files)
	b.work = work
	for _, env := range envs {
		for i := range units {
			if err := os.WriteFile(filepath.Join(work, fmt.Sprintf("%s-u%05d", env, i)), []byte("1.0.0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	b.start(true, "--poll-interval", "1h", "--observe-interval", "1h")
	for {
		if n := len(reconRE.FindAllString(b.out.String(), -1)); n == len(envs) {
			break
		}
		if time.Since(start) > 15*time.Minute {
			t.Fatalf("not reconciled:\n%s", tail(b.out.String(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	cold := time.Since(start)
	var loads []string
	for _, m := range loadedRE.FindAllStringSubmatch(b.out.String(), -1) {
		loads = append(loads, fmt.Sprintf("%s %ss", m[1], short(m[3])))
	}
	var recs []string
	for _, m := range reconRE.FindAllStringSubmatch(b.out.String(), -1) {
		recs = append(recs, fmt.Sprintf("%s %ss", m[1], short(m[2])))
	}
	fmt.Printf("serve: %d units x %d environments: first reconcile of all (start, fetch, load, observe %d units, plan, nothing to deploy) %s; loads (each environment in its bounded child): %s; reconciles: %s\n",
		units, len(envs), units*len(envs), cold.Round(10*time.Millisecond), strings.Join(loads, ", "), strings.Join(recs, ", "))

	time.Sleep(5 * time.Second)
	rss, hwm := procStatus(t, b.cmd.Process.Pid)
	heap := metric(t, b.port, "go_memstats_heap_inuse_bytes")
	fmt.Printf("serve: at rest with %d units loaded: RSS %.0f MiB (peak %.0f MiB), Go heap in use %.0f MiB\n",
		units*len(envs), rss/1024, hwm/1024, heap/(1<<20))

	// One line: one unit's version in dev.
	before := len(b.out.String())
	files = map[string]string{"environments/dev/units-00000.cue": unitsFile(0, 100, func(i int) string {
		if i == 7 {
			return "1.0.1"
		}
		return "1.0.0"
	})}
	b.git.Commit("state", "main", "u00007 1.0.1", files)
	pushed := time.Now()
	b.webhook("refs/heads/main")
	first := b.started("dev", "u00007", "1.0.1").Sub(pushed)
	for len(reconRE.FindAllString(b.out.String()[before:], -1)) < 1 || len(sameRE.FindAllString(b.out.String()[before:], -1)) < 2 {
		time.Sleep(50 * time.Millisecond)
	}
	after := b.out.String()[before:]
	var parts []string
	for _, m := range loadedRE.FindAllStringSubmatch(after, -1) {
		parts = append(parts, fmt.Sprintf("%s: fetch %ss + load %ss", m[1], short(m[2]), short(m[3])))
	}
	for _, m := range sameRE.FindAllStringSubmatch(after, -1) {
		parts = append(parts, fmt.Sprintf("%s: fetch %ss + digest %ss, no load", m[1], short(m[2]), short(m[3])))
	}
	for _, m := range reconRE.FindAllStringSubmatch(after, -1) {
		parts = append(parts, fmt.Sprintf("%s reconcile (observe %d units, plan, deploy 1) %ss", m[1], units, short(m[2])))
	}
	slices.Sort(parts)
	fmt.Printf("serve: a one-line change in dev: webhook -> first deploy action %s; %s\n", first.Round(time.Millisecond), strings.Join(parts, "; "))
}

func short(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(f, 'f', 3, 64)
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100
	i = min(max(i-1, 0), len(s)-1)
	return s[i].Round(time.Millisecond)
}

// procStatus reads VmRSS and VmHWM (kB) of pid.
func procStatus(t *testing.T, pid int) (rss, hwm float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}

func metric(t *testing.T, port int, name string) float64 {
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
