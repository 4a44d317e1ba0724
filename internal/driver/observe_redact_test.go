package driver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/exec"
	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// TestObserveRedacts: what a real status command prints (a secret in its
// error and in its version and message) is redacted before the plan gets
// the observation, when the context carries the run's Redactor.
func TestObserveRedacts(t *testing.T) {
	const secret = "ghs_OBSERVEsecretTOKEN0123456789"
	dir := t.TempDir()
	script := `#!/bin/sh
case "$GEARSHIFT_UNIT" in
  leaky) echo "token=` + secret + `" >&2; exit 3 ;;
  *) echo '{"format_version":"1","deployed":true,"version":"` + secret + `","health":"unhealthy","message":"token=` + secret + `"}' ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "status.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	d := &exec.Driver{Dir: dir, Target: &state.ExecTarget{Status: []string{"./status.sh"}, Deploy: []string{"./status.sh"}}}
	env := &state.Environment{Name: "dev", Units: map[string]*state.Unit{
		"leaky": {Name: "leaky", Version: "1.0.0", Target: "t"},
		"odd":   {Name: "odd", Version: "1.0.0", Target: "t"},
	}}
	resolve := func(*state.Environment, string) (driver.Observer, error) { return d, nil }
	ctx := redact.NewContext(context.Background(), redact.New(secret))
	got := driver.ObserveEnvironment(ctx, env, resolve, false, driver.ObserveOptions{})
	if o := got.Units["leaky"]; !strings.HasSuffix(o.Error, "token=***") {
		t.Errorf("leaky: error %q, want it to end in token=***", o.Error)
	}
	if o := got.Units["odd"]; o.Version != "***" || o.HealthDetail != "token=***" {
		t.Errorf("odd: version %q, detail %q; want both redacted", o.Version, o.HealthDetail)
	}
	// Without a Redactor in the context nothing changes.
	plain := driver.ObserveEnvironment(context.Background(), env, resolve, false, driver.ObserveOptions{})
	if !strings.Contains(plain.Units["leaky"].Error, secret) {
		t.Errorf("without a Redactor the error changed: %q", plain.Units["leaky"].Error)
	}
}
