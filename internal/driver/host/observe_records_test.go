package host

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
)

func localConnect(ctx context.Context, t *state.HostTarget, host string) (Conn, error) {
	return transport.Local(), nil
}

func putRelease(t *testing.T, root, unit, version string, at time.Time, previous string, current bool) string {
	t.Helper()
	id := NewID(version, at)
	l := Layout{Root: root, Unit: unit}
	if err := os.MkdirAll(l.Release(id), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Record{FormatVersion: RecordFormatVersion, Unit: unit, Environment: "dev", ID: id, Version: version,
		DeployedAt: at, Previous: previous, Frameworks: map[string]string{"fw": "1.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.Record(id), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if current {
		if err := transport.Local().SwitchSymlink(context.Background(), "releases/"+id, l.Current()); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// TestObserveRecords reads the layout of docs/host-layout.md on the local
// transport: current release, previous release, health, and the cases that
// are observations (not deployed, unhealthy) or errors (corrupt record).
func TestObserveRecords(t *testing.T) {
	root := t.TempDir()
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	prev := putRelease(t, root, "greeter", "1.2.0", at.Add(-48*time.Hour), "", false)
	putRelease(t, root, "greeter", "1.3.0", at, prev, true)
	putRelease(t, root, "ledger", "0.9.0", at, "", true)
	putRelease(t, root, "broken", "1.0.0", at, "", true)
	brokenID := NewID("1.0.0", at)
	if err := os.WriteFile(Layout{Root: root, Unit: "broken"}.Record(brokenID), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}

	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok 1.3.0")) }))
	defer healthy.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) }))
	defer sick.Close()
	port := func(s *httptest.Server) int {
		u, _ := url.Parse(s.URL)
		p, _ := strconv.Atoi(u.Port())
		return p
	}

	tgt := &state.HostTarget{Local: true, Root: root, Service: "command"}
	d := &Driver{Name: "local", Target: tgt, Connect: localConnect}
	env := &state.Environment{Name: "dev"}
	unit := func(name string, port int, body string) *state.Unit {
		u := &state.Unit{Name: name, Version: "1.3.0", Target: "local"}
		if port > 0 {
			u.Health = &state.Health{HTTP: &state.HTTPCheck{URL: "http://127.0.0.1:{port}/healthz", Status: 200, Body: body}}
			u.Port = port
		}
		return u
	}
	ctx := context.Background()

	g := d.Observe(ctx, env, unit("greeter", port(healthy), "ok"))
	if g.Error != "" || !g.Deployed || g.Version != "1.3.0" || !g.DeployedAt.Equal(at) || g.Health != driver.HealthHealthy {
		t.Errorf("greeter = %+v", g)
	}
	if g.Previous == nil || g.Previous.Version != "1.2.0" || g.Previous.ID != prev {
		t.Errorf("greeter previous = %+v, want 1.2.0 (%s)", g.Previous, prev)
	}
	if g.Frameworks["fw"] != "1.0.0" {
		t.Errorf("greeter frameworks = %v", g.Frameworks)
	}

	if l := d.Observe(ctx, env, unit("ledger", port(sick), "")); l.Error != "" || l.Health != driver.HealthUnhealthy || l.HealthDetail == "" {
		t.Errorf("ledger = %+v, want unhealthy with a detail and no error", l)
	}
	if l := d.Observe(ctx, env, unit("ledger", 0, "")); l.Error != "" || l.Health != driver.HealthUnknown || l.Version != "0.9.0" {
		t.Errorf("ledger without a health check = %+v, want version 0.9.0, health unknown, no error", l)
	}
	if l := d.Observe(ctx, env, unit("ledger", port(healthy), "wrong body")); l.Health != driver.HealthUnhealthy {
		t.Errorf("ledger with a body mismatch = %+v, want unhealthy", l)
	}
	if n := d.Observe(ctx, env, unit("never", 0, "")); n.Error != "" || n.Deployed || n.Health != driver.HealthMissing {
		t.Errorf("never deployed = %+v", n)
	}
	if b := d.Observe(ctx, env, unit("broken", 0, "")); b.Error == "" {
		t.Errorf("corrupt record observed without error: %+v", b)
	}

	inv, err := d.Inventory(ctx, env, "local")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(inv); got != 3 {
		t.Errorf("Inventory = %v, want broken, greeter, ledger", inv)
	}
}

// TestObserveProcess: without a health check, a process-managed unit is
// healthy while the process in its pid file runs in one of its releases;
// a pid file naming another program (a reused pid) does not count.
func TestObserveProcess(t *testing.T) {
	root := t.TempDir()
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	id := putRelease(t, root, "worker", "2.0.0", at, "", true)
	l := Layout{Root: root, Unit: "worker"}
	if err := os.MkdirAll(l.Run(), 0o755); err != nil {
		t.Fatal(err)
	}
	d := &Driver{Name: "local", Target: &state.HostTarget{Local: true, Root: root, Service: "process"}, Connect: localConnect}
	u := &state.Unit{Name: "worker", Version: "2.0.0", Target: "local"}
	ctx := context.Background()
	env := &state.Environment{Name: "dev"}
	if o := d.Observe(ctx, env, u); o.Health != driver.HealthUnhealthy {
		t.Errorf("no pid file: %+v, want unhealthy", o)
	}
	pid, err := transport.Local().StartDetached(ctx, []string{"sleep", "30"}, l.Release(id), nil, l.ReleaseLog(id), l.PidFile(""))
	if err != nil {
		t.Fatal(err)
	}
	if o := d.Observe(ctx, env, u); o.Health != driver.HealthHealthy {
		t.Errorf("live pid: %+v, want healthy", o)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for alive(pid) {
		time.Sleep(10 * time.Millisecond)
	}
	if o := d.Observe(ctx, env, u); o.Health != driver.HealthUnhealthy {
		t.Errorf("dead pid: %+v, want unhealthy", o)
	}
	if err := os.WriteFile(l.PidFile(""), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o := d.Observe(ctx, env, u); o.Health != driver.HealthUnhealthy {
		t.Errorf("pid of another program: %+v, want unhealthy", o)
	}
}
