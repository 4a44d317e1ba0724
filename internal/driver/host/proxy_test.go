package host

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver/host/haproxy"
	"github.com/gearshift-dev/gearshift/internal/state"
	hatest "github.com/gearshift-dev/gearshift/internal/testutil/haproxy"
	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

// haproxyServers reads a backend's servers from a real haproxy's socket.
func haproxyServers(t *testing.T, p *hatest.Proxy) map[string]haproxy.Server {
	t.Helper()
	c := &haproxy.Client{Dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", p.Socket)
	}}
	servers, err := c.Servers(context.Background(), p.Backend)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]haproxy.Server{}
	for _, s := range servers {
		m[s.Name] = s
	}
	return m
}

// TestBlueGreenHAProxy: blue/green through a real HAProxy's runtime API.
// Each deploy's release passes its smoke check on the idle slot's port,
// then the slot's server is made ready and the other put in maintenance;
// the state file keeps the choice over a restart of HAProxy; a rollback
// switches back; a failed smoke check leaves HAProxy and the live slot
// untouched and stops the release that failed it.
func TestBlueGreenHAProxy(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	ports := [2]int{hatest.ServicePort(t), hatest.ServicePort(t)}
	p := hatest.Start(t, "web",
		hatest.Server{Name: "blue", Addr: "127.0.0.1:" + strconv.Itoa(ports[0])},
		hatest.Server{Name: "green", Addr: "127.0.0.1:" + strconv.Itoa(ports[1]), Disabled: true})
	d := localDriver(t, &state.HostTarget{Service: "process", KeepReleases: 3, Proxy: &state.Proxy{
		Kind: "haproxy", Socket: p.Socket, StateFile: p.StateFile,
		Confirm: &state.ProxyConfirm{URL: p.URL, Count: 3},
	}}, ev)
	pruneAtEnd(t, d, "web")
	env := &state.Environment{Name: "dev"}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	smokeLog := filepath.Join(t.TempDir(), "smoke.jsonl")
	unit := func(version string) *state.Unit {
		u := blueGreenUnit(version, ports)
		u.Smoke = &state.Check{Command: []string{unitServer(t), "-record", smokeLog, "http://127.0.0.1:{port}/", "{slot}"}}
		return u
	}

	if _, err := d.Deploy(ctx, deployReq(t, unit("1.0.0"), false, t0, ev)); err != nil {
		t.Fatalf("deploy 1.0.0: %v", err)
	}
	if code, body := get(p.URL); code != 200 || body != "1.0.0" {
		t.Fatalf("haproxy after 1.0.0: %d %q", code, body)
	}
	if _, err := d.Deploy(ctx, deployReq(t, unit("2.0.0"), false, t0.Add(time.Hour), ev)); err != nil {
		t.Fatalf("deploy 2.0.0: %v", err)
	}
	// Live means served: by the time Deploy returns, every new request
	// reaches green.
	for range 10 {
		if code, body := get(p.URL); code != 200 || body != "2.0.0" {
			t.Fatalf("haproxy right after deploying 2.0.0: %d %q", code, body)
		}
	}
	s := haproxyServers(t, p)
	if !s["green"].Serving() || !s["blue"].InMaint() {
		t.Errorf("servers after 2.0.0: %+v", s)
	}
	if live, smoke := ev.index(0, "2.0.0", "is live in slot green"), ev.index(0, "smoke check of "+NewID("2.0.0", t0.Add(time.Hour))); smoke < 0 || live < smoke {
		t.Errorf("smoke check at event %d, live at %d: want the smoke check first", smoke, live)
	}
	calls := readRecords(t, smokeLog)
	if len(calls) != 2 || strings.Join(calls[1].Args, " ") != "http://127.0.0.1:"+strconv.Itoa(ports[1])+"/ green" || calls[1].Env["GEARSHIFT_VERSION"] != "2.0.0" {
		t.Errorf("smoke commands run: %+v", calls)
	}
	// The state file keeps the choice: a restarted HAProxy loads it.
	b, err := os.ReadFile(p.StateFile)
	if err != nil || !strings.HasPrefix(string(b), "1\n") {
		t.Fatalf("state file: %q, %v", b, err)
	}
	p.Restart(t)
	if code, body := get(p.URL); code != 200 || body != "2.0.0" {
		t.Errorf("haproxy restarted from its state file serves %d %q, want 2.0.0", code, body)
	}

	if _, err := d.Rollback(ctx, env, unit("2.0.0"), ""); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if ev.index(0, "still runs in slot blue: switching back") < 0 {
		t.Error("the rollback did not take the fast path")
	}
	if code, body := get(p.URL); code != 200 || body != "1.0.0" {
		t.Errorf("haproxy after the rollback: %d %q", code, body)
	}

	// A failed smoke check: nothing changes in HAProxy.
	before := haproxyServers(t, p)
	u3 := unit("3.0.0")
	u3.Smoke = &state.Check{Command: []string{"false"}}
	_, err = d.Deploy(ctx, deployReq(t, u3, false, t0.Add(2*time.Hour), ev))
	if err == nil || !strings.Contains(err.Error(), "smoke check") || !strings.Contains(err.Error(), "proxy was not touched") {
		t.Fatalf("deploy with a failing smoke check: %v", err)
	}
	after := haproxyServers(t, p)
	if before["blue"] != after["blue"] || before["green"].AdminState != after["green"].AdminState {
		t.Errorf("haproxy changed by a failed smoke check:\n%+v\n%+v", before, after)
	}
	if code, body := get(p.URL); code != 200 || body != "1.0.0" {
		t.Errorf("haproxy after the failed smoke check: %d %q", code, body)
	}
	if code, _ := get("http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/"); code != 0 {
		t.Errorf("the release that failed its smoke check still answers on green: %d", code)
	}
}

type recorded struct {
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"`
}

func readRecords(t *testing.T, file string) []recorded {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []recorded
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r recorded
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestBlueGreenCommandProxy: a command proxy's switch runs with its
// placeholders replaced and no shell, then is confirmed from the front
// URL; a switch that cannot be confirmed fails the deploy, runs the switch
// back to the live slot, and leaves it live.
func TestBlueGreenCommandProxy(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	ports := [2]int{hatest.ServicePort(t), hatest.ServicePort(t)}
	calls := filepath.Join(t.TempDir(), "switch.jsonl")
	d := localDriver(t, &state.HostTarget{Service: "process", KeepReleases: 3, Proxy: &state.Proxy{
		Kind:    "command",
		Switch:  []string{unitServer(t), "-record", calls, "{unit}", "{slot}", "{port}", "{host}", "$(touch /tmp/x)"},
		Confirm: &state.ProxyConfirm{URL: "http://127.0.0.1:{port}/", Count: 2, Timeout: state.Duration{Duration: time.Second}},
	}}, ev)
	pruneAtEnd(t, d, "web")
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	// The "front URL" is the slot itself here ({port}): what the command
	// proxy would route to.
	if _, err := d.Deploy(ctx, deployReq(t, blueGreenUnit("1.0.0", ports), false, t0, ev)); err != nil {
		t.Fatalf("deploy 1.0.0: %v", err)
	}
	got := readRecords(t, calls)
	want := "web blue " + strconv.Itoa(ports[0]) + " local $(touch /tmp/x)"
	if len(got) != 1 || strings.Join(got[0].Args, " ") != want || got[0].Env["GEARSHIFT_SLOT"] != "blue" {
		t.Fatalf("switch calls: %+v, want one with %q", got, want)
	}
	// A confirmation that never sees the version: the deploy fails and
	// the switch back to blue runs.
	d.Target.Proxy.Confirm.Body = "never served"
	_, err := d.Deploy(ctx, deployReq(t, blueGreenUnit("2.0.0", ports), false, t0.Add(time.Hour), ev))
	if err == nil || !strings.Contains(err.Error(), "proxy confirm") || !strings.Contains(err.Error(), "switched back to blue") {
		t.Fatalf("deploy with an unconfirmed switch: %v", err)
	}
	got = readRecords(t, calls)
	if len(got) != 3 || got[1].Args[1] != "green" || got[2].Args[1] != "blue" || got[2].Args[2] != strconv.Itoa(ports[0]) {
		t.Errorf("switch calls: %+v, want green then back to blue", got)
	}
	l := Layout{Root: d.Target.Root, Unit: "web"}
	if currentID(t, l) != NewID("1.0.0", t0) {
		t.Errorf("current -> %s after the unconfirmed switch", currentID(t, l))
	}
}

// TestRollingHAProxy: a rolling deploy over three "hosts" (this machine,
// a directory and a port each) behind a real HAProxy: each host is
// drained and taken out before its release stops and put back once the
// new one is healthy, one at a time, so two of three serve throughout. A
// host whose new release fails stays out; the rollback puts it back.
func TestRollingHAProxy(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	hosts := []string{"h1", "h2", "h3"}
	root := filepath.Join(t.TempDir(), "{host}")
	var servers []hatest.Server
	for _, h := range hosts {
		port := hatest.ServicePort(t)
		dir := filepath.Join(strings.ReplaceAll(root, "{host}", h), "web")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "port"), []byte(strconv.Itoa(port)), 0o644); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, hatest.Server{Name: h, Addr: "127.0.0.1:" + strconv.Itoa(port)})
	}
	p := hatest.Start(t, "web", servers...)
	d := &Driver{Name: "t", Connect: localConnect, Event: ev.add, StopTimeout: 5 * time.Second, Target: &state.HostTarget{
		Hosts: hosts, Root: root, Service: "process", KeepReleases: 3,
		Proxy: &state.Proxy{Kind: "haproxy", Socket: p.Socket, StateFile: p.StateFile, DrainTimeout: state.Duration{Duration: 5 * time.Second}},
	}}
	pruneAtEnd(t, d, "web")
	unit := func(version string) *state.Unit {
		u := rollingUnit(version)
		u.Run.Command = append(u.Run.Command, "-port-file", "../../port")
		u.Health.Timeout.Duration = 5 * time.Second
		return u
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if _, err := d.Deploy(ctx, deployReq(t, unit("1.0.0"), false, t0, ev)); err != nil {
		t.Fatalf("deploy 1.0.0: %v", err)
	}
	from := len(ev.all())
	if _, err := d.Deploy(ctx, deployReq(t, unit("2.0.0"), false, t0.Add(time.Hour), ev)); err != nil {
		t.Fatalf("deploy 2.0.0: %v", err)
	}
	// Per host, in order: out, stopped, healthy, back in; then the next.
	last := from
	for _, h := range hosts {
		out := ev.index(last, h+": load balancer: web/"+h+" drained and out")
		healthy := ev.index(out, h+": ", "is healthy")
		in := ev.index(healthy, h+": load balancer: web/"+h+" serving again")
		if out < 0 || healthy < 0 || in < 0 {
			t.Fatalf("host %s: out at %d, healthy at %d, in at %d (from %d)", h, out, healthy, in, last)
		}
		last = in
	}
	for name, s := range haproxyServers(t, p) {
		if !s.Serving() {
			t.Errorf("server %s after the deploy: %+v", name, s)
		}
	}
	for range 6 {
		if code, body := get(p.URL); code != 200 || body != "2.0.0" {
			t.Errorf("haproxy after 2.0.0: %d %q", code, body)
		}
	}

	// h2's release fails: it stays out, h3 is not touched.
	fail := filepath.Join(strings.ReplaceAll(root, "{host}", "h2"), "web", "fail")
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	u3 := unit("3.0.0")
	u3.Health.Timeout.Duration = time.Second
	if _, err := d.Deploy(ctx, deployReq(t, u3, false, t0.Add(2*time.Hour), ev)); err == nil {
		t.Fatal("deploy 3.0.0 with h2 failing: no error")
	}
	s := haproxyServers(t, p)
	if !s["h1"].Serving() || s["h2"].Serving() || !s["h2"].InMaint() || !s["h3"].Serving() {
		t.Errorf("servers after the failed deploy: %+v", s)
	}
	os.Remove(fail)
	if _, err := d.Rollback(ctx, &state.Environment{Name: "dev"}, u3, ""); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	for name, s := range haproxyServers(t, p) {
		if !s.Serving() {
			t.Errorf("server %s after the rollback: %+v", name, s)
		}
	}
}

// TestRollingCommandProxy: a command proxy's drain and ready run for each
// host of a rolling deploy, {host} replaced, drain before the host's
// release stops and ready once the new one is healthy, one host after the
// other.
func TestRollingCommandProxy(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	hosts := []string{"h1", "h2"}
	root := filepath.Join(t.TempDir(), "{host}")
	calls := filepath.Join(t.TempDir(), "lb.jsonl")
	d := &Driver{Name: "t", Connect: localConnect, Event: ev.add, StopTimeout: 5 * time.Second, Target: &state.HostTarget{
		Hosts: hosts, Root: root, Service: "process", KeepReleases: 3,
		Proxy: &state.Proxy{
			Kind:  "command",
			Drain: []string{unitServer(t), "-record", calls, "drain", "{host}", "{unit}"},
			Ready: []string{unitServer(t), "-record", calls, "ready", "{host}", "{unit}"},
		},
	}}
	pruneAtEnd(t, d, "web")
	if _, err := d.Deploy(ctx, deployReq(t, rollingUnit("1.0.0"), false, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), ev)); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	var got []string
	for _, r := range readRecords(t, calls) {
		got = append(got, strings.Join(r.Args, " "))
	}
	want := "drain h1 web|ready h1 web|drain h2 web|ready h2 web"
	if strings.Join(got, "|") != want {
		t.Errorf("load balancer commands: %q, want %q", strings.Join(got, "|"), want)
	}
	if h1ready, h2drain := ev.index(0, "h1: load balancer: back in"), ev.index(0, "h2: load balancer: drained"); h1ready < 0 || h2drain < h1ready {
		t.Errorf("h1 back in at event %d, h2 drained at %d: want h1 back first", h1ready, h2drain)
	}
}

// TestBlueGreenHAProxySSH: a blue/green switch on a host reached over SSH
// (a real sshd) speaks to the haproxy of that host through the SSH
// connection (its stats socket forwarded, nothing started on the host),
// and writes the state file there.
func TestBlueGreenHAProxySSH(t *testing.T) {
	ctx := context.Background()
	c := sshd.Start(t, 1)
	ev := newEvents(t)
	ports := [2]int{hatest.ServicePort(t), hatest.ServicePort(t)}
	p := hatest.Start(t, "web",
		hatest.Server{Name: "blue", Addr: "127.0.0.1:" + strconv.Itoa(ports[0])},
		hatest.Server{Name: "green", Addr: "127.0.0.1:" + strconv.Itoa(ports[1]), Disabled: true})
	pool := NewPool()
	t.Cleanup(func() { pool.Close() })
	tgt := sshTarget(t, c)
	tgt.Proxy = &state.Proxy{Kind: "haproxy", Socket: p.Socket, StateFile: p.StateFile}
	d := &Driver{Name: "t", Target: tgt, Connect: pool.Connector(), Event: ev.add}
	pruneAtEnd(t, d, "web")
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i, v := range []string{"1.0.0", "2.0.0"} {
		if _, err := d.Deploy(ctx, deployReq(t, blueGreenUnit(v, ports), false, t0.Add(time.Duration(i)*time.Hour), ev)); err != nil {
			t.Fatalf("deploy %s: %v", v, err)
		}
		if code, body := get(p.URL); code != 200 || body != v {
			t.Errorf("haproxy after deploying %s over ssh: %d %q", v, code, body)
		}
	}
	s := haproxyServers(t, p)
	if !s["green"].Serving() || !s["blue"].InMaint() {
		t.Errorf("servers: %+v", s)
	}
	if b, err := os.ReadFile(p.StateFile); err != nil || !strings.Contains(string(b), " green ") {
		t.Errorf("state file: %q, %v", b, err)
	}
}
