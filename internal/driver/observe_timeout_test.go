package driver

import (
	"fmt"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// TestUnitTimeout: a unit on many hosts gets the observation timeout once
// per round of hosts the driver observes at once; others get it once.
func TestUnitTimeout(t *testing.T) {
	hosts := func(n int) []string {
		hs := make([]string, n)
		for i := range hs {
			hs[i] = fmt.Sprintf("h%d", i)
		}
		return hs
	}
	env := &state.Environment{Targets: map[string]state.Target{
		"one":   {Host: &state.HostTarget{Hosts: hosts(1)}},
		"32":    {Host: &state.HostTarget{Hosts: hosts(32)}},
		"33":    {Host: &state.HostTarget{Hosts: hosts(33)}},
		"1000":  {Host: &state.HostTarget{Hosts: hosts(1000)}},
		"local": {Host: &state.HostTarget{Local: true}},
		"exec":  {Exec: &state.ExecTarget{}},
	}}
	for target, want := range map[string]time.Duration{
		"one": 30 * time.Second, "32": 30 * time.Second, "33": time.Minute,
		"1000": 32 * 30 * time.Second, "local": 30 * time.Second, "exec": 30 * time.Second, "missing": 30 * time.Second,
	} {
		if got := unitTimeout(env, &state.Unit{Target: target}, 30*time.Second); got != want {
			t.Errorf("unitTimeout(%s) = %s, want %s", target, got, want)
		}
	}
}
