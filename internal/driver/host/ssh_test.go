package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

// sshTarget is a host target over the cluster's servers. The servers are
// all this machine, so the root holds {host}: each "host" gets its own
// directory, as hosts sharing an NFS root would need.
func sshTarget(t *testing.T, c *sshd.Cluster) *state.HostTarget {
	tgt := &state.HostTarget{
		Root: filepath.Join(t.TempDir(), "{host}"), Service: "process", KeepReleases: 3,
		SSH: &state.SSH{User: c.User, KnownHosts: c.KnownHosts, Identity: c.Identity, Timeout: state.Duration{Duration: 10 * time.Second}},
	}
	for _, h := range c.Hosts {
		tgt.Hosts = append(tgt.Hosts, h.HostPort())
	}
	return tgt
}

// rollingUnit listens on a free port of its own (the "hosts" share this
// machine's ports) and is checked by a health command run on the host; it
// fails health while <root>/<unit>/fail exists on that host.
func rollingUnit(version string) *state.Unit {
	return &state.Unit{
		Name: "web", Kind: "gear", Version: version, Target: "t", Strategy: "rolling",
		Rolling: &state.Rolling{MaxUnavailable: 1},
		Run:     &state.Command{Command: []string{"./unitserver", "-fail-if", "../../fail"}},
		Health: &state.Health{
			Command:  []string{"./unitserver", "-check"},
			Timeout:  state.Duration{Duration: 2 * time.Second},
			Interval: state.Duration{Duration: 100 * time.Millisecond},
		},
	}
}

// TestRollingSSH deploys across three sshd hosts one at a time, each
// health-checked before the next; a failure on the second host halts the
// deploy with the third untouched, and the error says so. Rollback then
// returns the hosts the deploy switched and leaves the third alone.
func TestRollingSSH(t *testing.T) {
	ctx := context.Background()
	c := sshd.Start(t, 3)
	ev := newEvents(t)
	pool := NewPool()
	t.Cleanup(func() { pool.Close() })
	d := &Driver{Name: "t", Target: sshTarget(t, c), Connect: pool.Connector(), Event: ev.add}
	pruneAtEnd(t, d, "web")
	env := &state.Environment{Name: "dev"}
	hosts := d.Target.Hosts
	lay := func(i int) Layout { l, _ := d.layout(hosts[i], "web"); return l }
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

	res, err := d.Deploy(ctx, deployReq(t, rollingUnit("1.0.0"), false, t0, ev))
	if err != nil {
		t.Fatalf("deploy 1.0.0: %v", err)
	}
	if strings.Join(res.Hosts, " ") != strings.Join(hosts, " ") {
		t.Errorf("deployed hosts %v, want %v in order", res.Hosts, hosts)
	}
	// One at a time: a host starts only after the one before is healthy.
	for i := 1; i < len(hosts); i++ {
		healthy := ev.index(0, hosts[i-1]+": ", "is healthy")
		started := ev.index(0, hosts[i]+": ", "archived")
		if healthy < 0 || started < 0 || started < healthy {
			t.Errorf("host %s began (event %d) before %s was healthy (event %d)", hosts[i], started, hosts[i-1], healthy)
		}
	}
	obs := d.Observe(ctx, env, rollingUnit("1.0.0"))
	if obs.Version != "1.0.0" || obs.Health != driver.HealthHealthy || len(obs.Hosts) != 3 {
		t.Errorf("observe after 1.0.0: %+v", obs)
	}

	// The second host breaks.
	if err := os.WriteFile(filepath.Join(lay(1).Dir(), "fail"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	at2 := t0.Add(time.Hour)
	res, err = d.Deploy(ctx, deployReq(t, rollingUnit("2.0.0"), false, at2, ev))
	var de *DeployError
	if !errors.As(err, &de) {
		t.Fatalf("deploy 2.0.0 with host 2 broken: %v, want a *DeployError", err)
	}
	t.Logf("deploy error: %v", err)
	if strings.Join(de.Done, " ") != hosts[0] || de.Failed[hosts[1]] == nil || strings.Join(de.Untouched, " ") != hosts[2] {
		t.Errorf("DeployError done %v failed %v untouched %v", de.Done, de.Failed, de.Untouched)
	}
	for _, s := range []string{"host " + hosts[1] + ": health check", "deployed on: " + hosts[0], "not touched: " + hosts[2]} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	id1, id2 := NewID("1.0.0", t0), NewID("2.0.0", at2)
	for i, want := range []string{id2, id2, id1} {
		if got := currentID(t, lay(i)); got != want {
			t.Errorf("host %s: current %s, want %s", hosts[i], got, want)
		}
	}
	if _, err := os.Stat(lay(2).Release(id2)); !os.IsNotExist(err) {
		t.Errorf("the untouched host got release %s: %v", id2, err)
	}

	if err := os.Remove(filepath.Join(lay(1).Dir(), "fail")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Rollback(ctx, env, rollingUnit("2.0.0"), ""); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	for i := range hosts {
		if got := currentID(t, lay(i)); got != id1 {
			t.Errorf("after rollback host %s: current %s, want %s", hosts[i], got, id1)
		}
	}
	if obs := d.Observe(ctx, env, rollingUnit("1.0.0")); obs.Version != "1.0.0" || obs.Health != driver.HealthHealthy {
		t.Errorf("observe after rollback: %+v", obs)
	}
	// The rolled-back release is gone from every host, at once.
	for i := range hosts {
		for _, p := range []string{lay(i).Release(id2), lay(i).Record(id2), filepath.Join(lay(i).Archive(), id2+".tar.gz")} {
			if _, err := os.Lstat(p); !os.IsNotExist(err) {
				t.Errorf("host %s: %s is still there after the rollback (%v)", hosts[i], p, err)
			}
		}
	}
}

// TestDeployRefusesWrongHostKey: a host whose key is not the one in
// known_hosts gets nothing.
func TestDeployRefusesWrongHostKey(t *testing.T) {
	c := sshd.Start(t, 1)
	_, impostor := sshd.KeyGen(t, t.TempDir(), "impostor")
	known := filepath.Join(t.TempDir(), "known_hosts")
	line := "[127.0.0.1]:" + strconv.Itoa(c.Hosts[0].Port) + " " + impostor + "\n"
	if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	tgt := sshTarget(t, c)
	tgt.SSH.KnownHosts = known
	pool := NewPool()
	defer pool.Close()
	ev := newEvents(t)
	d := &Driver{Name: "t", Target: tgt, Connect: pool.Connector(), Event: ev.add}
	_, err := d.Deploy(context.Background(), deployReq(t, rollingUnit("1.0.0"), false, time.Now(), ev))
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("deploy to a host with the wrong key: %v, want a host key mismatch", err)
	}
	l, _ := d.layout(tgt.Hosts[0], "web")
	if _, err := os.Stat(l.Root); !os.IsNotExist(err) {
		t.Errorf("the refused host's root %s was created: %v", l.Root, err)
	}
}

// TestPoolRedialsLostConnection: after the server side of a connection
// dies, the pool drops it and the next Get dials a new one.
func TestPoolRedialsLostConnection(t *testing.T) {
	ctx := context.Background()
	c := sshd.Start(t, 1)
	tgt := sshTarget(t, c)
	pool := NewPool()
	defer pool.Close()
	tr, err := pool.Get(ctx, tgt, tgt.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	// Kill the sshd process serving this connection (the parent of the
	// remote command): the connection is lost as when a host goes away.
	_, err = tr.Run(ctx, []string{"sh", "-c", "kill -KILL $PPID"}, transport.RunOptions{})
	t.Logf("run that killed its connection: %v", err)
	_, err = tr.ReadDir(ctx, "/")
	if err == nil {
		t.Fatal("the killed connection still works")
	}
	t.Logf("call on the lost connection: %v", err)
	if !tr.(*pooledConn).dead.Load() {
		t.Errorf("the pool did not notice the lost connection (%v)", err)
	}
	tr2, err := pool.Get(ctx, tgt, tgt.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	if tr2 == tr {
		t.Fatal("Get returned the dead connection")
	}
	if _, err := tr2.ReadDir(ctx, "/"); err != nil {
		t.Errorf("the redialled connection fails: %v", err)
	}
}
