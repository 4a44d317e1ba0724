package host

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/nginx"
)

// blueGreenSetup is a local blue/green target behind a real nginx, whose
// upstream names the blue port from the start.
func blueGreenSetup(t *testing.T, ev *events) (*Driver, *nginx.Server, [2]int) {
	ports := [2]int{freePort(t), freePort(t)}
	srv := nginx.StartWithServer(t, "web", "127.0.0.1:"+strconv.Itoa(ports[0]))
	d := localDriver(t, &state.HostTarget{Service: "process", KeepReleases: 3, Proxy: &state.Proxy{
		Kind: "nginx", UpstreamFile: srv.UpstreamFile, Test: srv.TestArgv, Reload: srv.ReloadArgv,
	}}, ev)
	pruneAtEnd(t, d, "web")
	return d, srv, ports
}

func blueGreenUnit(version string, ports [2]int) *state.Unit {
	u := webUnit(version)
	u.Strategy = "bluegreen"
	u.BlueGreen = &state.BlueGreen{Ports: ports}
	return u
}

// waitServes waits until nginx answers with version (a reload takes
// effect when nginx's new worker is up).
func waitServes(t *testing.T, url, version string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := get(url)
		if code == 200 && body == version {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d %q, want %s", url, code, body, version)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBlueGreenNginx: the new release starts beside the old one on the
// other slot's port, nginx is switched to it, the old slot keeps running,
// and Rollback switches nginx back. A proxy whose config test fails keeps
// its old upstream file and the live slot.
func TestBlueGreenNginx(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	d, srv, ports := blueGreenSetup(t, ev)
	env := &state.Environment{Name: "dev"}
	l := Layout{Root: d.Target.Root, Unit: "web"}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	slotURL := func(i int) string { return "http://127.0.0.1:" + strconv.Itoa(ports[i]) + "/" }

	if _, err := d.Deploy(ctx, deployReq(t, blueGreenUnit("1.0.0", ports), false, t0, ev)); err != nil {
		t.Fatalf("deploy 1.0.0: %v", err)
	}
	waitServes(t, srv.URL, "1.0.0")
	id1, id2 := NewID("1.0.0", t0), NewID("2.0.0", t0.Add(time.Hour))
	if r := readRecord(t, l, id1); r.Slot != "blue" || r.Port != ports[0] {
		t.Errorf("1.0.0 record slot %q port %d, want blue %d", r.Slot, r.Port, ports[0])
	}

	if _, err := d.Deploy(ctx, deployReq(t, blueGreenUnit("2.0.0", ports), false, t0.Add(time.Hour), ev)); err != nil {
		t.Fatalf("deploy 2.0.0: %v", err)
	}
	waitServes(t, srv.URL, "2.0.0")
	if code, body := get(slotURL(0)); code != 200 || body != "1.0.0" {
		t.Errorf("the old blue slot no longer serves 1.0.0: %d %q", code, body)
	}
	if r := readRecord(t, l, id2); r.Slot != "green" || r.Port != ports[1] || r.Previous != id1 || currentID(t, l) != id2 {
		t.Errorf("2.0.0 record %+v, current %s", r, currentID(t, l))
	}
	b, _ := os.ReadFile(srv.UpstreamFile)
	if !strings.Contains(string(b), "upstream web {\n    server 127.0.0.1:"+strconv.Itoa(ports[1])+";\n}") {
		t.Errorf("upstream file:\n%s", b)
	}
	obs := d.Observe(ctx, env, blueGreenUnit("2.0.0", ports))
	if obs.Version != "2.0.0" || obs.Health != driver.HealthHealthy || obs.Previous == nil || obs.Previous.ID != id1 {
		t.Errorf("observe after 2.0.0: %+v", obs)
	}

	start := time.Now()
	res, err := d.Rollback(ctx, env, blueGreenUnit("2.0.0", ports), "")
	took := time.Since(start)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	t.Logf("blue/green rollback (switch back to the running blue slot) took %s", took)
	if res.ReleaseID != id1 {
		t.Errorf("rollback result %+v", res)
	}
	waitServes(t, srv.URL, "1.0.0")
	if code, body := get(slotURL(1)); code != 200 || body != "2.0.0" {
		t.Errorf("after the switch back, green no longer runs 2.0.0: %d %q", code, body)
	}
	if ev.index(0, "still runs in slot blue: switching back") < 0 {
		t.Error("the rollback did not take the fast path")
	}
	// 2.0.0 still runs in green, the way back of 1.0.0's record: a slot's
	// fallback is not removed with the rollback.
	if r := readRecord(t, l, id1); r.Previous != id2 {
		t.Errorf("after the switch back, 1.0.0's previous is %q, want %s", r.Previous, id2)
	}
	if _, err := os.Stat(l.Release(id2)); err != nil {
		t.Errorf("the fallback release in green was removed: %v", err)
	}

	// A proxy config test that fails: the upstream file is restored, blue
	// stays live, and the release started for the switch is stopped.
	before, _ := os.ReadFile(srv.UpstreamFile)
	d.Target.Proxy.Test = []string{"false"}
	_, err = d.Deploy(ctx, deployReq(t, blueGreenUnit("3.0.0", ports), false, t0.Add(2*time.Hour), ev))
	if err == nil || !strings.Contains(err.Error(), "proxy config test") || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("deploy with a failing proxy test: %v, want a proxy config test error", err)
	}
	if after, _ := os.ReadFile(srv.UpstreamFile); string(after) != string(before) {
		t.Errorf("upstream file not restored:\n%s\nwant:\n%s", after, before)
	}
	if got := currentID(t, l); got != id1 {
		t.Errorf("current -> %s after the failed switch, want %s", got, id1)
	}
	waitServes(t, srv.URL, "1.0.0")
	if code, _ := get(slotURL(1)); code != 0 {
		t.Errorf("the release that failed to go live still answers on green: %d", code)
	}
	// Rolling back that deploy keeps blue live and removes 3.0.0, which
	// never went live, with green's link to it; 2.0.0 stays as 1.0.0's
	// way back.
	id3 := NewID("3.0.0", t0.Add(2*time.Hour))
	if _, err := d.Rollback(ctx, env, blueGreenUnit("3.0.0", ports), ""); err != nil {
		t.Fatalf("rollback of the failed 3.0.0: %v", err)
	}
	waitServes(t, srv.URL, "1.0.0")
	if got := listDir(t, l.Releases()); strings.Join(got, " ") != strings.Join([]string{id1, id1 + ".json", id2, id2 + ".json"}, " ") {
		t.Errorf("releases/ after rolling back 3.0.0: %v, want 1.0.0 and 2.0.0 only", got)
	}
	if _, err := os.Lstat(l.Slot("green")); !os.IsNotExist(err) {
		t.Errorf("green still links to the removed %s: %v", id3, err)
	}
}
