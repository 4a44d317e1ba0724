package proxybench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/host"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
	hatest "github.com/gearshift-dev/gearshift/internal/testutil/haproxy"
	"github.com/gearshift-dev/gearshift/internal/testutil/nginx"
)

// cycles is how many switches and switch-backs each run makes
// (GEARSHIFT_PROXY_CYCLES overrides it, for the benchmark).
func cycles(t testing.TB) int {
	if s := os.Getenv("GEARSHIFT_PROXY_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("GEARSHIFT_PROXY_CYCLES=%q: want a number >= 1", s)
		}
		return n
	}
	return 8
}

// connections is the strict client's keep-alive connections.
const connections = 16

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
	buildDir  string
	results   []figures
	resultsMu sync.Mutex
)

func TestMain(m *testing.M) {
	code := m.Run()
	if len(results) > 0 && os.Getenv("GEARSHIFT_BENCH_PROXY") == "1" {
		printFigures(results)
	}
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// unitServer is the host driver's test unit (it answers its version),
// built once.
func unitServer(t testing.TB) string {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "proxybench-")
		if buildErr != nil {
			return
		}
		binary = filepath.Join(buildDir, "unitserver")
		cmd := exec.Command("go", "build", "-trimpath", "-o", binary, "../../driver/host/testdata/unitserver")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build the unit server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// artifact is an unpacked release of the unit server at version.
func artifact(t testing.TB, version string) string {
	dir := t.TempDir()
	bin, err := os.ReadFile(unitServer(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "unitserver"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// events keeps the time of the last "is live" message of the driver.
type events struct {
	t    testing.TB
	mu   sync.Mutex
	live time.Time
}

func (e *events) add(msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if strings.Contains(msg, " is live in slot ") {
		e.live = time.Now()
	}
	if testing.Verbose() && os.Getenv("GEARSHIFT_BENCH_PROXY") != "1" {
		e.t.Log(msg)
	}
}

func (e *events) lastLive() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.live
}

func deployReq(t testing.TB, u *state.Unit, ev *events) driver.DeployRequest {
	return driver.DeployRequest{Env: &state.Environment{Name: "bench"}, Unit: u, ArtifactDir: artifact(t, u.Version), Now: time.Now().UTC(), Event: ev.add}
}

func localConnect(ctx context.Context, t *state.HostTarget, h string) (host.Conn, error) {
	return transport.Local(), nil
}

func prune(t testing.TB, d *host.Driver) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Prune(ctx, &state.Environment{Name: "bench"}, "t", "web"); err != nil {
			t.Errorf("prune: %v", err)
		}
	})
}

// freePort is a port for a release behind the proxy (hatest.ServicePort).
func freePort(t testing.TB) int { return hatest.ServicePort(t) }

// figures are one run's measurements.
type figures struct {
	name     string
	requests int64
	failed   map[string]int
	versions map[string]int
	// forward and back: from the start of the switch's call to the first
	// response of the new version seen by the client.
	forward, back []time.Duration
	// liveToOld: from "live" reported (the driver's "is live" event, or
	// the call's return for a rolling deploy) to the last response of
	// another version seen after it; 0 when there was none.
	liveToOld []time.Duration
	// oldAfterLive counts, per switch, the responses of another version
	// to requests sent after live was reported: what "live" must prevent.
	oldAfterLive []int
	errors       []string
}

// step is one switch: it makes version live and returns.
type step struct {
	version string
	run     func(ctx context.Context) error
	back    bool
}

// runLoad runs the strict client against url while the steps run one
// after another, a pause between them, and measures each.
func runLoad(t testing.TB, name, url string, ev *events, steps []step) figures {
	ctx := context.Background()
	l := &Load{URL: url, Conns: connections}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	f := figures{name: name}
	pause := 150 * time.Millisecond
	time.Sleep(pause)
	type mark struct {
		start, live time.Time
		version     string
		back        bool
	}
	var marks []mark
	for _, s := range steps {
		start := time.Now()
		err := s.run(ctx)
		ret := time.Now()
		live := ev.lastLive()
		if live.Before(start) {
			live = ret // a rolling deploy: live when it returns
		}
		if err != nil {
			f.errors = append(f.errors, fmt.Sprintf("switch to %s: %v", s.version, err))
		}
		marks = append(marks, mark{start, live, s.version, s.back})
		time.Sleep(pause)
	}
	end := time.Now()
	l.Stop()
	f.requests, f.failed, f.versions = l.Requests(), l.Failed(), l.Versions()
	for i, m := range marks {
		next := end
		if i+1 < len(marks) {
			next = marks[i+1].start
		}
		if first, ok := l.FirstAfter(m.version, m.start); ok {
			d := first.Sub(m.start)
			if m.back {
				f.back = append(f.back, d)
			} else {
				f.forward = append(f.forward, d)
			}
		} else {
			f.errors = append(f.errors, fmt.Sprintf("switch %d to %s: never served", i+1, m.version))
		}
		f.oldAfterLive = append(f.oldAfterLive, l.OtherSentIn(m.version, m.live, next))
		if last, ok := l.LastOtherIn(m.version, m.live, next); ok {
			f.liveToOld = append(f.liveToOld, last.Sub(m.live))
		} else {
			f.liveToOld = append(f.liveToOld, 0)
		}
	}
	resultsMu.Lock()
	results = append(results, f)
	resultsMu.Unlock()
	t.Logf("%s: %s", name, f.line())
	return f
}

func (f figures) total() int {
	n := 0
	for _, v := range f.failed {
		n += v
	}
	return n
}

func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	r := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	return fmt.Sprintf("median %s, max %s", r(s[len(s)/2]), r(s[len(s)-1]))
}

func (f figures) line() string {
	vs := make([]string, 0, len(f.versions))
	for v, n := range f.versions {
		vs = append(vs, fmt.Sprintf("%s:%d", v, n))
	}
	sort.Strings(vs)
	return fmt.Sprintf("requests %d, failed %d (%s); versions %s; switch %s; switch-back %s; live to last old response %s",
		f.requests, f.total(), FailedString(f.failed), strings.Join(vs, " "), stats(f.forward), stats(f.back), stats(f.liveToOld))
}

func printFigures(rs []figures) {
	fmt.Printf("\nproxy switches under load: %d keep-alive connections of strict POSTs (no retries), every error counted\n", connections)
	for _, f := range rs {
		fmt.Printf("%-28s requests %d\n", f.name, f.requests)
		fmt.Printf("%-28s failed %d: %s\n", "", f.total(), FailedString(f.failed))
		fmt.Printf("%-28s switch (call start to first new response): %s\n", "", stats(f.forward))
		fmt.Printf("%-28s switch-back: %s\n", "", stats(f.back))
		fmt.Printf("%-28s live reported to last old response: %s\n", "", stats(f.liveToOld))
	}
}

// webUnit is the unit server as a blue/green unit.
func blueGreenUnit(version string, ports [2]int) *state.Unit {
	return &state.Unit{
		Name: "web", Kind: "gear", Version: version, Target: "t", Strategy: "bluegreen",
		BlueGreen: &state.BlueGreen{Ports: ports},
		Run:       &state.Command{Command: []string{"./unitserver"}},
		Health: &state.Health{
			HTTP:     &state.HTTPCheck{URL: "http://127.0.0.1:{port}/healthz", Status: 200, Body: "ok "},
			Timeout:  state.Duration{Duration: 5 * time.Second},
			Interval: state.Duration{Duration: 20 * time.Millisecond},
		},
	}
}

// blueGreenSteps: a deploy of 2.0.0 under load, then switch-backs and
// switches between the two running slots (Rollback to a version whose
// release still runs in the other slot: the proxy switch alone).
func blueGreenSteps(t testing.TB, d *host.Driver, ports [2]int, ev *events) []step {
	env := &state.Environment{Name: "bench"}
	u2 := blueGreenUnit("2.0.0", ports)
	steps := []step{{version: "2.0.0", run: func(ctx context.Context) error {
		_, err := d.Deploy(ctx, deployReq(t, u2, ev))
		return err
	}}}
	for i := range cycles(t) {
		steps = append(steps, step{version: "1.0.0", back: true, run: func(ctx context.Context) error {
			_, err := d.Rollback(ctx, env, u2, "1.0.0")
			return err
		}})
		if i < cycles(t)-1 {
			steps = append(steps, step{version: "2.0.0", run: func(ctx context.Context) error {
				_, err := d.Rollback(ctx, env, u2, "2.0.0")
				return err
			}})
		}
	}
	return steps
}

// TestHAProxyBlueGreenUnderLoad: blue/green through HAProxy's runtime API
// loses no request of keep-alive clients over 8 switches and switch-backs,
// and both versions are served.
func TestHAProxyBlueGreenUnderLoad(t *testing.T) {
	ports := [2]int{freePort(t), freePort(t)}
	p := hatest.Start(t, "web",
		hatest.Server{Name: "blue", Addr: "127.0.0.1:" + strconv.Itoa(ports[0])},
		hatest.Server{Name: "green", Addr: "127.0.0.1:" + strconv.Itoa(ports[1]), Disabled: true})
	ev := &events{t: t}
	d := &host.Driver{Name: "t", Connect: localConnect, Event: ev.add, StopTimeout: 5 * time.Second, Target: &state.HostTarget{
		Local: true, Root: t.TempDir(), Service: "process", KeepReleases: 3,
		Proxy: &state.Proxy{Kind: "haproxy", Socket: p.Socket, StateFile: p.StateFile, Confirm: &state.ProxyConfirm{URL: p.URL, Count: 3}},
	}}
	prune(t, d)
	if _, err := d.Deploy(context.Background(), deployReq(t, blueGreenUnit("1.0.0", ports), ev)); err != nil {
		t.Fatal(err)
	}
	f := runLoad(t, "haproxy blue/green", p.URL, ev, blueGreenSteps(t, d, ports, ev))
	check(t, f, []string{"1.0.0", "2.0.0"})
}

// check asserts a run that must lose nothing.
func check(t *testing.T, f figures, versions []string) {
	t.Helper()
	for _, e := range f.errors {
		t.Error(e)
	}
	if n := f.total(); n != 0 {
		t.Errorf("%d of %d requests failed (%s), want 0", n, f.requests, FailedString(f.failed))
	}
	for _, v := range versions {
		if f.versions[v] == 0 {
			t.Errorf("version %s was never served: %v", v, f.versions)
		}
	}
	checkLive(t, f)
}

// checkLive asserts that no request sent after a switch was reported live
// reached another version. (A response to a request sent before can be
// read a moment after: the figure live-to-last-old shows it.)
func checkLive(t *testing.T, f figures) {
	t.Helper()
	for i, n := range f.oldAfterLive {
		if n > 0 {
			t.Errorf("switch %d: %d requests sent after live was reported reached another version", i+1, n)
		}
	}
}

// rollingHosts makes the directories of 3 hosts of a rolling unit on
// this machine (root holds {host}), each with the port its release listens
// on, and returns the hosts and their addresses.
func rollingHosts(t testing.TB) (root string, hosts, addrs []string) {
	hosts = []string{"h1", "h2", "h3"}
	root = filepath.Join(t.TempDir(), "{host}")
	for _, h := range hosts {
		port := freePort(t)
		dir := filepath.Join(strings.ReplaceAll(root, "{host}", h), "web")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "port"), []byte(strconv.Itoa(port)), 0o644); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	return root, hosts, addrs
}

func rollingUnit(version string) *state.Unit {
	return &state.Unit{
		Name: "web", Kind: "gear", Version: version, Target: "t", Strategy: "rolling",
		Rolling: &state.Rolling{MaxUnavailable: 1},
		Run:     &state.Command{Command: []string{"./unitserver", "-port-file", "../../port"}},
		Health: &state.Health{
			Command:  []string{"./unitserver", "-check"},
			Timeout:  state.Duration{Duration: 5 * time.Second},
			Interval: state.Duration{Duration: 20 * time.Millisecond},
		},
	}
}

// rollingSteps deploys 1.0.0, then returns the cycles of a rolling
// deploy and its rollback, and the versions they serve.
func rollingSteps(t testing.TB, d *host.Driver, ev *events) ([]step, []string) {
	if _, err := d.Deploy(context.Background(), deployReq(t, rollingUnit("1.0.0"), ev)); err != nil {
		t.Fatal(err)
	}
	env := &state.Environment{Name: "bench"}
	var steps []step
	want := []string{"1.0.0"}
	for i := range cycles(t) {
		v := fmt.Sprintf("2.0.%d", i)
		want = append(want, v)
		steps = append(steps,
			step{version: v, run: func(ctx context.Context) error {
				_, err := d.Deploy(ctx, deployReq(t, rollingUnit(v), ev))
				return err
			}},
			step{version: "1.0.0", back: true, run: func(ctx context.Context) error {
				_, err := d.Rollback(ctx, env, rollingUnit(v), "")
				return err
			}})
	}
	return steps, want
}

// TestHAProxyRollingUnderLoad: a rolling deploy over 3 hosts behind
// HAProxy (each drained and out before it stops, back in once healthy),
// then its rollback, 8 times, loses no request.
func TestHAProxyRollingUnderLoad(t *testing.T) {
	root, hosts, addrs := rollingHosts(t)
	var servers []hatest.Server
	for i, h := range hosts {
		servers = append(servers, hatest.Server{Name: h, Addr: addrs[i]})
	}
	p := hatest.Start(t, "web", servers...)
	ev := &events{t: t}
	d := &host.Driver{Name: "t", Connect: localConnect, Event: ev.add, StopTimeout: 5 * time.Second, Target: &state.HostTarget{
		Hosts: hosts, Root: root, Service: "process", KeepReleases: 3,
		Proxy: &state.Proxy{Kind: "haproxy", Socket: p.Socket, StateFile: p.StateFile, DrainTimeout: state.Duration{Duration: 5 * time.Second}},
	}}
	prune(t, d)
	steps, want := rollingSteps(t, d, ev)
	f := runLoad(t, "haproxy rolling, 3 hosts", p.URL, ev, steps)
	check(t, f, want)
}

// BenchmarkNginxRolling measures what docs/host-layout.md says of nginx
// in front of rolling hosts, which gearshift does not drive: the same
// rolling deploys and rollbacks as above through nginx with its defaults,
// then with the settings the docs recommend. A measurement, not a test (a
// stopped host's requests in flight fail, and how many depends on the
// machine's timing): make bench-proxy runs it once (-benchtime 1x) and
// prints its figures with the others.
func BenchmarkNginxRolling(b *testing.B) {
	for _, recommended := range []bool{false, true} {
		name := "nginx rolling, 3 hosts, nginx's defaults"
		if recommended {
			name = "nginx rolling, 3 hosts, the settings the docs recommend"
		}
		b.Run(map[bool]string{false: "defaults", true: "recommended"}[recommended], func(b *testing.B) {
			for range b.N {
				root, hosts, addrs := rollingHosts(b)
				ev := &events{t: b}
				d := &host.Driver{Name: "t", Connect: localConnect, Event: ev.add, StopTimeout: 5 * time.Second, Target: &state.HostTarget{
					Hosts: hosts, Root: root, Service: "process", KeepReleases: 3,
				}}
				prune(b, d)
				// Every host serves before nginx starts: none is marked
				// down by nginx's own start-up check.
				steps, _ := rollingSteps(b, d, ev)
				srv := nginx.StartRolling(b, "web", addrs, recommended)
				f := runLoad(b, name, srv.URL, ev, steps)
				for _, e := range f.errors {
					b.Log(e)
				}
				b.ReportMetric(float64(f.total()), "failed/run")
				b.ReportMetric(float64(f.requests), "requests/run")
			}
		})
	}
}

// TestNginxReloadControl is the control: the same switches through nginx,
// by reload, must show failed requests, so that the runs above prove the
// client sees failures when there are some. nginx's old workers close
// their idle keep-alive connections on a reload (nginx trac #1022).
func TestNginxReloadControl(t *testing.T) {
	ports := [2]int{freePort(t), freePort(t)}
	srv := nginx.StartWithServer(t, "web", "127.0.0.1:"+strconv.Itoa(ports[0]))
	ev := &events{t: t}
	d := &host.Driver{Name: "t", Connect: localConnect, Event: ev.add, StopTimeout: 5 * time.Second, Target: &state.HostTarget{
		Local: true, Root: t.TempDir(), Service: "process", KeepReleases: 3,
		Proxy: &state.Proxy{Kind: "nginx", UpstreamFile: srv.UpstreamFile, Test: srv.TestArgv, Reload: srv.ReloadArgv,
			PidFile: filepath.Join(srv.Prefix, "nginx.pid"),
			Confirm: &state.ProxyConfirm{URL: srv.URL, Count: 3}},
	}}
	prune(t, d)
	if _, err := d.Deploy(context.Background(), deployReq(t, blueGreenUnit("1.0.0", ports), ev)); err != nil {
		t.Fatal(err)
	}
	f := runLoad(t, "nginx reload (control)", srv.URL, ev, blueGreenSteps(t, d, ports, ev))
	for _, e := range f.errors {
		t.Error(e)
	}
	if f.total() == 0 {
		t.Errorf("no failed request in %d over %d reloads: the control did not see the failures nginx's reload causes", f.requests, len(f.forward)+len(f.back))
	}
	// Confirmed through nginx (the old workers gone), live is true here too.
	checkLive(t, f)
}
