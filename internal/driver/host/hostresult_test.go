package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

// TestHealthFailureQuotesItsOwnLog deploys 1.0.0, which writes a line to
// its log, then 2.0.0, which fails its health check: the error quotes the
// end of 2.0.0's log and not a line 1.0.0 wrote.
func TestHealthFailureQuotesItsOwnLog(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	d := localDriver(t, &state.HostTarget{Service: "process", KeepReleases: 5}, ev)
	pruneAtEnd(t, d, "web")
	port := freePort(t)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	unit := func(version string) *state.Unit {
		u := webUnit(version)
		u.Port = port
		// Time enough for a good release on a loaded machine; the broken
		// one fails at the timeout.
		u.Health.Timeout.Duration = 10 * time.Second
		if version == "2.0.0" {
			u.Health.Timeout.Duration = time.Second
		}
		// The release says who it is in its log, then serves.
		u.Run.Command = []string{"sh", "-c", `echo "release $GEARSHIFT_VERSION started"; exec ./unitserver`}
		return u
	}
	if _, err := d.Deploy(ctx, deployReq(t, unit("1.0.0"), false, t0, ev)); err != nil {
		t.Fatal(err)
	}
	_, err := d.Deploy(ctx, deployReq(t, unit("2.0.0"), true, t0.Add(time.Hour), ev))
	if err == nil {
		t.Fatal("a release failing its health check deployed without error")
	}
	if !strings.Contains(err.Error(), "release 2.0.0 started") {
		t.Errorf("the health failure does not quote the failing release's log:\n%v", err)
	}
	if strings.Contains(err.Error(), "release 1.0.0 started") {
		t.Errorf("the health failure of 2.0.0 quotes 1.0.0's log:\n%v", err)
	}
}

// TestRollingResultsPerHost breaks the second of three hosts in a rolling
// deploy and checks what each host reports, for the deploy and for the
// rollback that follows, and that the rollback reports its progress host
// by host (to the events of its context) as the deploy does.
func TestRollingResultsPerHost(t *testing.T) {
	ctx := context.Background()
	c := sshd.Start(t, 3)
	ev := newEvents(t)
	pool := NewPool()
	t.Cleanup(func() { pool.Close() })
	d := &Driver{Name: "t", Target: sshTarget(t, c), Connect: pool.Connector()}
	pruneAtEnd(t, d, "web")
	env := &state.Environment{Name: "dev"}
	hosts := d.Target.Hosts
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	id1, id2 := NewID("1.0.0", t0), NewID("2.0.0", t0.Add(time.Hour))
	rollingUnit := func(version string) *state.Unit {
		u := rollingUnit(version)
		u.Health.Timeout.Duration = 5 * time.Second // a loaded machine
		return u
	}

	if _, err := d.Deploy(ctx, deployReq(t, rollingUnit("1.0.0"), false, t0, ev)); err != nil {
		t.Fatalf("deploy 1.0.0: %v", err)
	}
	l1, _ := d.layout(hosts[1], "web")
	if err := os.WriteFile(filepath.Join(l1.Dir(), "fail"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := d.Deploy(ctx, deployReq(t, rollingUnit("2.0.0"), false, t0.Add(time.Hour), ev))
	var de *DeployError
	if !errors.As(err, &de) {
		t.Fatalf("deploy 2.0.0 with host 2 broken: %v, want a *DeployError", err)
	}
	got := summarize(res.PerHost)
	want := []string{
		hosts[0] + " deployed 2.0.0 " + id2 + " ",
		hosts[1] + " failed   health check",
		hosts[2] + " untouched   ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("deploy per host:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if err := os.Remove(filepath.Join(l1.Dir(), "fail")); err != nil {
		t.Fatal(err)
	}
	rbEv := newEvents(t)
	rb, err := d.Rollback(driver.WithEvents(ctx, rbEv.add), env, rollingUnit("2.0.0"), "")
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	got = summarize(rb.PerHost)
	want = []string{
		hosts[0] + " rolled-back 1.0.0 " + id1 + " ",
		hosts[1] + " rolled-back 1.0.0 " + id1 + " ",
		hosts[2] + " untouched 1.0.0 " + id1 + " ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rollback per host:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, h := range hosts[:2] {
		if rbEv.index(0, h+": ", "rolling back from "+id2+" to "+id1) < 0 {
			t.Errorf("the rollback reported no progress for host %d (%s)", i, h)
		}
		if rbEv.index(0, h+": ", id1+" is healthy") < 0 {
			t.Errorf("the rollback did not report host %d (%s) healthy", i, h)
		}
	}
	if rbEv.index(0, hosts[2]+": ", "does not run here: keeping "+id1) < 0 {
		t.Errorf("the rollback did not say it kept the untouched host %s", hosts[2])
	}
}

// summarize is "host outcome version release error-start" per host.
func summarize(rs []driver.HostResult) []string {
	var out []string
	for _, r := range rs {
		e := r.Error
		if len(e) > len("health check") {
			e = e[:len("health check")]
		}
		if strings.Contains(r.Error, "health check") {
			e = "health check"
		}
		out = append(out, r.Host+" "+string(r.Outcome)+" "+r.Version+" "+r.Release+" "+e)
	}
	return out
}
