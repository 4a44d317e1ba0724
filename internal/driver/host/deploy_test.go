package host

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
)

func localDriver(t *testing.T, tgt *state.HostTarget, ev *events) *Driver {
	tgt.Local = true
	if tgt.Root == "" {
		tgt.Root = t.TempDir()
	}
	return &Driver{Name: "t", Target: tgt, Connect: localConnect, Event: ev.add, StopTimeout: 5 * time.Second}
}

func readRecord(t *testing.T, l Layout, id string) Record {
	t.Helper()
	b, err := os.ReadFile(l.Record(id))
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func currentID(t *testing.T, l Layout) string {
	t.Helper()
	target, err := os.Readlink(l.Current())
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Base(target)
}

// TestRecreateLocal deploys three versions on this machine with the
// process service manager: each deploy stops the old process, switches
// current, starts the new one and checks its health; records, archives,
// observation and keepReleases follow.
func TestRecreateLocal(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	d := localDriver(t, &state.HostTarget{Service: "process", KeepReleases: 2}, ev)
	pruneAtEnd(t, d, "web")
	l := Layout{Root: d.Target.Root, Unit: "web"}
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

	var ids []string
	var pids []int
	for i, v := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		u := webUnit(v)
		u.Port = port
		at := t0.Add(time.Duration(i) * time.Hour)
		res, err := d.Deploy(ctx, deployReq(t, u, false, at, ev))
		if err != nil {
			t.Fatalf("deploy %s: %v", v, err)
		}
		ids = append(ids, NewID(v, at))
		pids = append(pids, pidOf(t, l, ""))
		if res.ReleaseID != ids[i] || res.Version != v || len(res.Hosts) != 1 || res.Hosts[0] != "local" {
			t.Errorf("deploy %s: result %+v", v, res)
		}
		if i > 0 && (res.Previous == nil || res.Previous.ID != ids[i-1]) {
			t.Errorf("deploy %s: previous %+v, want %s", v, res.Previous, ids[i-1])
		}
		if got := currentID(t, l); got != ids[i] {
			t.Errorf("deploy %s: current -> %s, want %s", v, got, ids[i])
		}
		if code, body := get(url); code != 200 || body != v {
			t.Errorf("deploy %s: GET / = %d %q", v, code, body)
		}
		if i > 0 && alive(pids[i-1]) {
			t.Errorf("deploy %s: the process of the old release (pid %d) still runs", v, pids[i-1])
		}
		if i == 1 {
			want := Record{
				FormatVersion: "1", Unit: "web", Environment: "dev", ID: ids[1], Version: "2.0.0", DeployedAt: at,
				Checksum: "sha256:" + strings.Repeat("ab", 32), Source: "https://releases.invalid/web-{version}.tar.gz",
				Frameworks: map[string]string{"gearframe": "1.4.0"}, Previous: ids[0], Run: u.Run,
			}
			if diff := cmp.Diff(readRecord(t, l, ids[1]), want); diff != "" {
				t.Errorf("record of 2.0.0 (-got +want):\n%s", diff)
			}
			obs := d.Observe(ctx, &state.Environment{Name: "dev"}, u)
			if obs.Version != "2.0.0" || obs.Health != driver.HealthHealthy || obs.Previous == nil || obs.Previous.Version != "1.0.0" || !obs.DeployedAt.Equal(at) {
				t.Errorf("observe after 2.0.0: %+v (previous %+v)", obs, obs.Previous)
			}
			if b, err := os.ReadFile(filepath.Join(l.Archive(), ids[1]+".tar.gz")); err != nil || string(b) != "archive of 2.0.0" {
				t.Errorf("archive of 2.0.0: %q, %v", b, err)
			}
			if b, err := os.ReadFile(filepath.Join(l.Release(ids[1]), "VERSION")); err != nil || string(b) != "2.0.0\n" {
				t.Errorf("release dir of 2.0.0: VERSION %q, %v", b, err)
			}
		}
	}
	// keepReleases 2: 3.0.0 (current) and 2.0.0 (previous) stay, 1.0.0 goes
	// with its record and archive.
	names, _ := os.ReadDir(l.Releases())
	var got []string
	for _, n := range names {
		got = append(got, n.Name())
	}
	want := []string{ids[1], ids[1] + ".json", ids[2], ids[2] + ".json"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("releases/ after three deploys with keepReleases 2 (-got +want):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(l.Archive(), ids[0]+".tar.gz")); !os.IsNotExist(err) {
		t.Errorf("the archive of the pruned release 1.0.0 is still there: %v", err)
	}
}

// TestRecreateFailingHealthRollsBack: a release that fails its health
// check fails the deploy with an error naming the check; Rollback restores
// the release before it, running and healthy, and a second Rollback (a
// resumed apply) does not go further back.
func TestRecreateFailingHealthRollsBack(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	d := localDriver(t, &state.HostTarget{Service: "process", KeepReleases: 5}, ev)
	rolledAt := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	d.Now = func() time.Time { return rolledAt }
	pruneAtEnd(t, d, "web")
	l := Layout{Root: d.Target.Root, Unit: "web"}
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	env := &state.Environment{Name: "dev"}

	v1, v2 := webUnit("1.0.0"), webUnit("2.0.0")
	v1.Port, v2.Port = port, port
	v2.Health.Timeout.Duration = time.Second
	if _, err := d.Deploy(ctx, deployReq(t, v1, false, t0, ev)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := d.Deploy(ctx, deployReq(t, v2, true, t0.Add(time.Hour), ev))
	if err == nil {
		t.Fatal("a release failing its health check deployed without error")
	}
	t.Logf("failed deploy took %s: %v", time.Since(start), err)
	for _, s := range []string{"health check", "GET http://127.0.0.1:" + strconv.Itoa(port) + "/healthz", "status 500, want 200"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("deploy error %q does not contain %q", err, s)
		}
	}

	res, err := d.Rollback(ctx, env, v2, "")
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	id1 := NewID("1.0.0", t0)
	if res.ReleaseID != id1 || res.Version != "1.0.0" || res.Previous == nil || res.Previous.Version != "2.0.0" {
		t.Errorf("rollback result %+v", res)
	}
	if got := currentID(t, l); got != id1 {
		t.Errorf("after rollback current -> %s, want %s", got, id1)
	}
	if code, body := get(url); code != 200 || body != "1.0.0" {
		t.Errorf("after rollback GET / = %d %q, want 1.0.0", code, body)
	}
	if r := readRecord(t, l, id1); !r.DeployedAt.Equal(rolledAt) {
		t.Errorf("after rollback deployed_at = %s, want the renewed %s", r.DeployedAt, rolledAt)
	}
	// The failed release is removed at once, not left until later deploys
	// prune it.
	id2 := NewID("2.0.0", t0.Add(time.Hour))
	if got := listDir(t, l.Releases()); strings.Join(got, " ") != id1+" "+id1+".json" {
		t.Errorf("releases/ after the rollback: %v, want only %s", got, id1)
	}
	if got := listDir(t, l.Archive()); strings.Join(got, " ") != id1+".tar.gz" {
		t.Errorf("archive/ after the rollback: %v, want only %s.tar.gz", got, id1)
	}
	if ev.index(0, "removed the rolled-back release "+id2) < 0 {
		t.Errorf("no event says %s was removed", id2)
	}
	obs := d.Observe(ctx, env, v1)
	if obs.Version != "1.0.0" || obs.Health != driver.HealthHealthy {
		t.Errorf("observe after rollback: %+v", obs)
	}

	pid := pidOf(t, l, "")
	if _, err := d.Rollback(ctx, env, v2, ""); err != nil {
		t.Fatalf("second rollback: %v", err)
	}
	if got := currentID(t, l); got != id1 || pidOf(t, l, "") != pid {
		t.Errorf("a second rollback changed something: current %s, pid %d -> %d", got, pid, pidOf(t, l, ""))
	}
	if _, err := d.Rollback(ctx, env, v1, "0.9.0"); err == nil || !strings.Contains(err.Error(), "nothing to roll back to") {
		t.Errorf("rollback to a version never deployed: %v, want nothing to roll back to", err)
	}

	if err := d.Prune(ctx, env, "t", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.Dir()); !os.IsNotExist(err) || alive(pid) {
		t.Errorf("after prune: %s still there (%v) or pid %d alive", l.Dir(), err, pid)
	}
}

// TestStopKillsStubbornProcess: a process that ignores SIGTERM is killed
// once StopTimeout has passed.
func TestStopKillsStubbornProcess(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	d := localDriver(t, &state.HostTarget{Service: "process", KeepReleases: 5}, ev)
	d.StopTimeout = 300 * time.Millisecond
	l := Layout{Root: d.Target.Root, Unit: "web"}
	u := webUnit("1.0.0")
	u.Port = freePort(t)
	u.Run.Command = []string{"./unitserver", "-ignore-term"}
	if _, err := d.Deploy(ctx, deployReq(t, u, false, time.Now(), ev)); err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, l, "")
	if err := d.Prune(ctx, nil, "t", "web"); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("pid %d survived", pid)
	}
	if ev.index(0, "did not exit", "killing it") < 0 {
		t.Error("no event says the process was killed")
	}
}

// TestCommandServiceConfigOnly: a unit without an artifact gets an empty
// release directory, and the command service manager runs the target's
// stop and start commands with the release's variables.
func TestCommandServiceConfigOnly(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	calls := filepath.Join(t.TempDir(), "calls.jsonl")
	bin := unitServer(t)
	d := localDriver(t, &state.HostTarget{Service: "command", KeepReleases: 5, Command: &state.ServiceArgv{
		Start: []string{bin, "-record", calls, "start"},
		Stop:  []string{bin, "-record", calls, "stop"},
	}}, ev)
	l := Layout{Root: d.Target.Root, Unit: "cfg"}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i, v := range []string{"1.0.0", "1.1.0"} {
		u := &state.Unit{Name: "cfg", Version: v, Target: "t"}
		req := driver.DeployRequest{Env: &state.Environment{Name: "dev"}, Unit: u, Now: t0.Add(time.Duration(i) * time.Hour), Event: ev.add}
		if _, err := d.Deploy(ctx, req); err != nil {
			t.Fatalf("deploy %s: %v", v, err)
		}
	}
	id1, id2 := NewID("1.0.0", t0), NewID("1.1.0", t0.Add(time.Hour))
	if ents, err := os.ReadDir(l.Release(id2)); err != nil || len(ents) != 0 {
		t.Errorf("config-only release dir: %v entries, %v", len(ents), err)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		Args []string          `json:"args"`
		Env  map[string]string `json:"env"`
	}
	var got []call
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var c call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	env := func(v, id string) map[string]string {
		return map[string]string{"GEARSHIFT_UNIT": "cfg", "GEARSHIFT_ENVIRONMENT": "dev", "GEARSHIFT_VERSION": v,
			"GEARSHIFT_RELEASE_ID": id, "GEARSHIFT_RELEASE_DIR": l.Release(id)}
	}
	want := []call{
		{[]string{"start"}, env("1.0.0", id1)},
		{[]string{"stop"}, env("1.0.0", id1)},
		{[]string{"start"}, env("1.1.0", id2)},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("commands run (-got +want):\n%s", diff)
	}
}

// TestSystemdService checks the systemctl calls with a stand-in systemctl
// on PATH (CI containers have no systemd).
func TestSystemdService(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	bin := t.TempDir()
	if err := os.Symlink(unitServer(t), filepath.Join(bin, "systemctl")); err != nil {
		t.Fatal(err)
	}
	calls := filepath.Join(t.TempDir(), "calls.jsonl")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("UNITSERVER_RECORD", calls)
	// Commands get a minimal environment: the stand-in needs its file named.
	t.Setenv("GEARSHIFT_PASS_ENV", "UNITSERVER_RECORD")
	d := localDriver(t, &state.HostTarget{Service: "systemd", KeepReleases: 5, Systemd: &state.Systemd{Unit: "gs-{unit}.service"}}, ev)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i, v := range []string{"1.0.0", "1.1.0"} {
		u := &state.Unit{Name: "api", Version: v, Target: "t"}
		req := driver.DeployRequest{Env: &state.Environment{Name: "dev"}, Unit: u, Now: t0.Add(time.Duration(i) * time.Hour), Event: ev.add}
		if _, err := d.Deploy(ctx, req); err != nil {
			t.Fatalf("deploy %s: %v", v, err)
		}
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var c struct{ Args []string }
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join(c.Args, " "))
	}
	want := []string{"restart gs-api.service", "stop gs-api.service", "restart gs-api.service"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("systemctl calls (-got +want):\n%s", diff)
	}
	bg := &state.Unit{Name: "api", Version: "2.0.0", Target: "t", Strategy: "bluegreen", BlueGreen: &state.BlueGreen{Ports: [2]int{1, 2}}}
	if _, err := d.Deploy(ctx, driver.DeployRequest{Unit: bg}); err == nil || !strings.Contains(err.Error(), "{slot}") {
		t.Errorf("blue/green on systemd without {slot}: %v, want an error asking for {slot}", err)
	}
}

func TestArchiveExtAndIDTime(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"/tmp/x/web-1.0.0.tar.gz", ".tar.gz"},
		{"web-1.0.0.TAR.XZ", ".TAR.XZ"},
		{"web.zip", ".zip"},
		{"web", ""},
		{"web.this-is-not-an-extension", ""},
	} {
		if got := archiveExt(tc.file); got != tc.want {
			t.Errorf("archiveExt(%q) = %q, want %q", tc.file, got, tc.want)
		}
	}
	at := time.Date(2026, 11, 22, 10, 15, 0, 123456789, time.UTC)
	if got, ok := IDTime(NewID("1.3.0-rc.1", at)); !ok || !got.Equal(at) {
		t.Errorf("IDTime(NewID) = %s, %v", got, ok)
	}
	for _, id := range []string{"notes", "1.0.0", "1.0.0-yesterday", ".tmp-x"} {
		if _, ok := IDTime(id); ok {
			t.Errorf("IDTime(%q) accepted a name that is not a release id", id)
		}
	}
}

// listDir lists the names in dir, sorted; none when it is missing.
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
