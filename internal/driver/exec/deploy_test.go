package exec

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
)

const status = `#!/bin/sh
f=targets/$GEARSHIFT_UNIT
[ -f $f ] || { echo '{"format_version":"1","deployed":false}'; exit 0; }
printf '{"format_version":"1","deployed":true,"version":"%s"' "$(cat $f)"
[ -f $f.prev ] && printf ',"previous":{"version":"%s"}' "$(cat $f.prev)"
echo '}'
`

const deploy = `#!/bin/sh
set -e
mkdir -p targets
f=targets/$GEARSHIFT_UNIT
echo "$GEARSHIFT_ACTION $GEARSHIFT_VERSION $GEARSHIFT_ROLLBACK" >> log
[ "$GEARSHIFT_ACTION" = prune ] && { rm -f $f; exit 0; }
[ "$GEARSHIFT_VERSION" = "9.9.9" ] && { echo "no such version" >&2; exit 2; }
[ -f $f ] && cp $f $f.prev
echo "$GEARSHIFT_VERSION" > $f
`

func newDriver(t *testing.T) *Driver {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"status.sh": status, "deploy.sh": deploy, "health.sh": "#!/bin/sh\n[ -f healthy ]\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &Driver{Dir: dir, Target: &state.ExecTarget{Status: []string{"./status.sh"}, Deploy: []string{"./deploy.sh"}}}
}

func TestDeployRollbackPrune(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	env := &state.Environment{Name: "dev"}
	u := &state.Unit{Name: "api", Version: "1.0.0"}
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u}); err != nil {
		t.Fatal(err)
	}
	u.Version = "2.0.0"
	res, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u})
	if err != nil || res.Previous == nil || res.Previous.Version != "1.0.0" {
		t.Fatalf("deploy 2.0.0: got %+v, %v, want previous 1.0.0", res, err)
	}
	// Without --to, the previous release the status command reports.
	rb, err := d.Rollback(ctx, env, u, "")
	if err != nil || rb.Version != "1.0.0" {
		t.Fatalf("rollback: got %+v, %v, want 1.0.0", rb, err)
	}
	if o := d.Observe(ctx, env, u); o.Version != "1.0.0" {
		t.Errorf("after rollback: runs %s", o.Version)
	}
	u.Version = "9.9.9"
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u}); err == nil || !strings.Contains(err.Error(), "deploy: ./deploy.sh: exit status 2: no such version") {
		t.Errorf("a failing deploy command: got %v", err)
	}
	if err := d.Prune(ctx, env, "scripts", "api"); err != nil {
		t.Fatal(err)
	}
	if o := d.Observe(ctx, env, u); o.Deployed {
		t.Errorf("after prune: %+v", o)
	}
	log, _ := os.ReadFile(filepath.Join(d.Dir, "log"))
	if want := "deploy 1.0.0 \ndeploy 2.0.0 \ndeploy 1.0.0 1\ndeploy 9.9.9 \nprune  \n"; string(log) != want {
		t.Errorf("the deploy command was run as:\n%s\nwant:\n%s", log, want)
	}
}

// TestDeployWaitsForHealth: Deploy returns once the health check passes,
// and fails with the check's last word when it never does.
func TestDeployWaitsForHealth(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	d := newDriver(t)
	ctx := context.Background()
	env := &state.Environment{Name: "dev"}
	health := &state.Health{HTTP: &state.HTTPCheck{URL: srv.URL + "/healthz", Body: "ok"},
		Timeout: state.Duration{Duration: 2 * time.Second}, Interval: state.Duration{Duration: 50 * time.Millisecond}}
	u := &state.Unit{Name: "web", Version: "1.0.0", Health: health}
	time.AfterFunc(300*time.Millisecond, func() { ready.Store(true) })
	start := time.Now()
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("returned after %s, before the unit was healthy", el)
	}
	ready.Store(false)
	health.Timeout.Duration = 300 * time.Millisecond
	_, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u})
	if err == nil || !strings.Contains(err.Error(), "not healthy after 300ms") || !strings.Contains(err.Error(), "status 503") {
		t.Errorf("never healthy: got %v", err)
	}
	// A health command, run in the target's directory.
	u.Health = &state.Health{Command: []string{"./health.sh"}, Timeout: state.Duration{Duration: 200 * time.Millisecond}, Interval: state.Duration{Duration: 50 * time.Millisecond}}
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u}); err == nil || !strings.Contains(err.Error(), "health command exited 1") {
		t.Errorf("health command failing: got %v", err)
	}
	os.WriteFile(filepath.Join(d.Dir, "healthy"), nil, 0o644)
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u}); err != nil {
		t.Errorf("health command passing: %v", err)
	}
}
