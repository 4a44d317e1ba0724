package host

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

// BenchmarkFleet deploys one unit to GEARSHIFT_FLEET_HOSTS (50) hosts
// served by one sshd (sshd.Fleet), then observes it, through the driver
// alone: the part of `make bench-fleet` that this package owns, where a
// profile shows where the time goes:
//
//	GEARSHIFT_FLEET_HOSTS=200 go test -run '^$' -bench BenchmarkFleet -benchtime 1x \
//	    -cpuprofile /tmp/fleet.cpu -trace /tmp/fleet.trace ./internal/driver/host/
func BenchmarkFleet(b *testing.B) {
	n := 50
	if s := os.Getenv("GEARSHIFT_FLEET_HOSTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("GEARSHIFT_FLEET_HOSTS=%q: want a number of hosts", s)
		}
	}
	dir := b.TempDir()
	f, err := sshd.StartFleet(dir, n, sshd.FleetOptions{LoginRC: os.Getenv("GEARSHIFT_FLEET_LOGIN_RC") == "1"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(f.Close)
	b.Cleanup(func() {
		// What a failed iteration left running: the pid files say.
		pids, _ := filepath.Glob(filepath.Join(dir, "root", "*", "app", "run", "*.pid"))
		for _, p := range pids {
			if s, err := os.ReadFile(p); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(s))); err == nil && pid > 1 {
					syscall.Kill(pid, syscall.SIGTERM)
				}
			}
		}
	})
	tgt := &state.HostTarget{
		Root: filepath.Join(dir, "root", "{host}"), Service: "process", KeepReleases: 3, Hosts: f.Addrs,
		SSH: &state.SSH{User: f.User, Port: f.Port, KnownHosts: f.KnownHosts, Identity: f.Identity, Timeout: state.Duration{Duration: 30 * time.Second}},
	}
	art := filepath.Join(dir, "artifact")
	if err := os.MkdirAll(art, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(art, "app"), []byte("#!/bin/sh\n[ \"$1\" = check ] && exit 0\nexec sleep 600\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	unit := func(v string) *state.Unit {
		return &state.Unit{Name: "app", Kind: "gear", Version: v, Target: "t",
			Run: &state.Command{Command: []string{"./app"}},
			Health: &state.Health{Command: []string{"./app", "check"},
				Timeout: state.Duration{Duration: 30 * time.Second}, Interval: state.Duration{Duration: 100 * time.Millisecond}}}
	}
	env := &state.Environment{Name: "fleet"}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		pool := NewPool()
		d := &Driver{Name: "t", Target: tgt, Connect: pool.Connector()}
		at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		start := time.Now()
		if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: unit(strconv.Itoa(i + 1)), ArtifactDir: art, Now: at}); err != nil {
			b.Fatal(err.Error()[:min(len(err.Error()), 600)])
		}
		deployed := time.Since(start)
		start = time.Now()
		obs := d.Observe(ctx, env, unit(strconv.Itoa(i+1)))
		if obs.Health != driver.HealthHealthy {
			b.Fatalf("observed %s: %s %s", obs.Health, obs.HealthDetail, obs.Error)
		}
		b.ReportMetric(deployed.Seconds(), "deploy-s")
		b.ReportMetric(time.Since(start).Seconds(), "observe-s")
		// What `gearshift status` does: every host dialled, then observed.
		cold := NewPool()
		start = time.Now()
		obs = (&Driver{Name: "t", Target: tgt, Connect: cold.Connector()}).Observe(ctx, env, unit(strconv.Itoa(i+1)))
		if obs.Health != driver.HealthHealthy {
			b.Fatalf("observed %s: %s %s", obs.Health, obs.HealthDetail, obs.Error)
		}
		b.ReportMetric(time.Since(start).Seconds(), "dial+observe-s")
		cold.Close()
		b.StopTimer()
		if err := d.Prune(ctx, env, "t", "app"); err != nil {
			b.Fatal(err)
		}
		pool.Close()
		b.StartTimer()
	}
}
