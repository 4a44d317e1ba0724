package apply

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/host"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// TestFailedFirstDeploy applies, with the real host driver on this
// machine, a unit's first release that never becomes healthy: it is
// stopped and taken away (nothing to roll back to), the unit is left not
// deployed and the result says so; the failed release is remembered, and
// never what a later deploy rolls back to.
func TestFailedFirstDeploy(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	target := &state.HostTarget{Local: true, Root: root}
	unit := &state.Unit{Name: "app", Kind: "gear", Version: "1.0.0", Target: "local",
		Run:    &state.Command{Command: []string{"sleep", "3600"}},
		Health: &state.Health{Command: []string{"false"}, Timeout: state.Duration{Duration: 300 * time.Millisecond}, Interval: state.Duration{Duration: 50 * time.Millisecond}}}
	env := &state.Environment{Name: "dev", Targets: map[string]state.Target{"local": {Host: target}}, Units: map[string]*state.Unit{"app": unit}}
	lock, err := Acquire(context.Background(), LocalDir(filepath.Join(root, ".gearshift")), "dev", NewLockInfo("run1", nil, time.Now()), LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release(context.Background())
	d := &host.Driver{Name: "local", Target: target, StopTimeout: 5 * time.Second,
		Connect: func(context.Context, *state.HostTarget, string) (host.Conn, error) { return transport.Local(), nil }}
	t.Cleanup(func() { d.Prune(context.Background(), env, "local", "app") })
	resolve := func(*state.Environment, string) (driver.Deployer, error) { return d, nil }

	res, err := applyPlan(context.Background(), env, dir, lock, resolve, Options{CacheDir: filepath.Join(dir, "cache")},
		&plan.Action{Unit: "app", Type: plan.Deploy, Target: "local", To: "1.0.0", Applyable: true})
	if err != nil {
		t.Fatal(err)
	}
	u := res.Units[0]
	if u.Outcome != RolledBack || u.RolledBackTo != "" || !strings.Contains(u.Error, "it was not deployed before: the failed release was stopped and removed, and the unit is not deployed") {
		t.Errorf("got %s (rolled back to %q): %s; want rolled back to nothing, saying so", u.Outcome, u.RolledBackTo, u.Error)
	}
	var text strings.Builder
	r := &Result{}
	r.Add(res)
	if err := r.Text(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "the unit is not deployed\n") || strings.Contains(text.String(), "rolled back to \n") {
		t.Errorf("the result's text does not end the unit's line saying it is not deployed:\n%s", text.String())
	}
	l := host.Layout{Root: root, Unit: "app"}
	if _, err := os.Lstat(l.Current()); !os.IsNotExist(err) {
		t.Errorf("current is still there after the failed first deploy: %v", err)
	}
	if obs := d.Observe(context.Background(), env, unit); obs.Deployed {
		t.Errorf("observed %+v after the failed first deploy, want not deployed", obs)
	}
	h, err := ReadHistory(context.Background(), lock.Dir(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, failed := h.Failed("app", "1.0.0"); !failed {
		t.Errorf("1.0.0 is not remembered as failed: %+v", h.Failures)
	}
}
