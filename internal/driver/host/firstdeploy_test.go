package host

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// TestFailedFirstDeployTakenBack deploys a unit's first release, which
// fails its health check: rolling back (as apply does after a failed first
// deploy) stops it and takes it away, so the unit is not deployed and the
// failed release is never current nor returned to. The next deploy is a
// first deploy again; a rollback after it (a successful first release)
// would take it away only as apply's undo, which the rollback command
// refuses without a previous release (package apply).
func TestFailedFirstDeployTakenBack(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	d := localDriver(t, &state.HostTarget{Service: "process"}, ev)
	pruneAtEnd(t, d, "web")
	l := Layout{Root: d.Target.Root, Unit: "web"}
	u := webUnit("1.0.0")
	u.Port = freePort(t)
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

	res, err := d.Deploy(ctx, deployReq(t, u, true, t0, ev))
	if err == nil {
		t.Fatal("the broken first release deployed")
	}
	id := res.ReleaseID
	rb, err := d.Rollback(ctx, &state.Environment{Name: "dev"}, u, "")
	if err != nil {
		t.Fatalf("taking back the failed first release: %v", err)
	}
	if rb.Version != "" || rb.ReleaseID != "" {
		t.Errorf("rollback result %+v, want no version: nothing runs", rb)
	}
	if _, err := os.Lstat(l.Current()); !os.IsNotExist(err) {
		t.Errorf("current after taking back the first release: %v, want it gone", err)
	}
	for _, p := range []string{l.Release(id), l.Record(id)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
	if pid := pidOf(t, l, "main"); pid != 0 && alive(pid) {
		t.Errorf("the failed release still runs (pid %d)", pid)
	}
	if obs := d.Observe(ctx, &state.Environment{Name: "dev"}, u); obs.Deployed {
		t.Errorf("observed %+v, want not deployed", obs)
	}

	// The next deploy is a first deploy again, and a good one.
	res, err = d.Deploy(ctx, deployReq(t, u, false, t0.Add(time.Hour), ev))
	if err != nil {
		t.Fatal(err)
	}
	if got := readRecord(t, l, res.ReleaseID); got.Previous != "" {
		t.Errorf("the next release's previous is %q, want none (the failed release is gone)", got.Previous)
	}
}
