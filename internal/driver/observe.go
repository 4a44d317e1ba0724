package driver

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Resolver returns the driver of a target.
type Resolver func(env *state.Environment, target string) (Observer, error)

// ObserveOptions bound the observation of an environment.
type ObserveOptions struct {
	// Parallelism bounds how many units are observed at once (default 32).
	Parallelism int
	// Timeout bounds each unit's observation (default 30s). A driver that
	// does not return in time is reported as timed out and abandoned.
	Timeout time.Duration
	// Progress, if set, is called with how many of the environment's
	// units have been observed, of total: once with 0 before any, then
	// after each. Calls do not overlap.
	Progress func(done, total int)
}

// ObserveEnvironment observes every unit of env concurrently, each with its
// own timeout, and, when inventory is true, lists what the targets run.
func ObserveEnvironment(ctx context.Context, env *state.Environment, resolve Resolver, inventory bool, o ObserveOptions) Observed {
	if o.Parallelism <= 0 {
		o.Parallelism = 32
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	out := Observed{Units: make(map[string]Observation, len(env.Units))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, o.Parallelism)
	total := len(env.Units)
	if o.Progress != nil {
		o.Progress(0, total)
	}
	for _, name := range env.UnitNames() {
		u := env.Units[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			obs := observeOne(ctx, env, u, resolve, unitTimeout(env, u, o.Timeout))
			mu.Lock()
			out.Units[name] = obs
			if o.Progress != nil {
				o.Progress(len(out.Units), total)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if inventory {
		out.Extra, out.InventoryErrors = inventories(ctx, env, resolve, o.Timeout)
	}
	return out
}

// hostsPerTimeout is how many hosts of a host target one Timeout is for:
// the host driver observes that many at once, so a unit on 1,000 hosts is
// given the time of ceil(1000/32) rounds, not that of one.
const hostsPerTimeout = 32

// unitTimeout is the time u's observation may take: timeout for each round
// of hostsPerTimeout hosts of its target.
func unitTimeout(env *state.Environment, u *state.Unit, timeout time.Duration) time.Duration {
	t, ok := env.Targets[u.Target]
	if !ok || t.Host == nil || len(t.Host.Hosts) <= hostsPerTimeout {
		return timeout
	}
	rounds := (len(t.Host.Hosts) + hostsPerTimeout - 1) / hostsPerTimeout
	return timeout * time.Duration(rounds)
}

func observeOne(ctx context.Context, env *state.Environment, u *state.Unit, resolve Resolver, timeout time.Duration) Observation {
	d, err := resolve(env, u.Target)
	if err != nil {
		return Observation{Unit: u.Name, Health: HealthUnknown, Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan Observation, 1)
	go func() { done <- d.Observe(ctx, env, u) }()
	select {
	case obs := <-done:
		obs.Unit = u.Name
		redactObservation(ctx, &obs)
		if obs.Health == "" {
			obs.Health = HealthUnknown
		}
		return obs
	case <-ctx.Done():
		return Observation{Unit: u.Name, Health: HealthUnknown, Error: fmt.Sprintf("observe timed out after %s", timeout)}
	}
}

func inventories(ctx context.Context, env *state.Environment, resolve Resolver, timeout time.Duration) (map[string][]string, map[string]string) {
	extra := map[string][]string{}
	errs := map[string]string{}
	targets := make([]string, 0, len(env.Targets))
	for t := range env.Targets {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		d, err := resolve(env, t)
		if err != nil {
			errs[t] = err.Error()
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, timeout)
		names, err := d.Inventory(tctx, env, t)
		cancel()
		if err != nil {
			errs[t] = err.Error()
			continue
		}
		for _, n := range names {
			if _, declared := env.Units[n]; !declared {
				extra[t] = append(extra[t], n)
			}
		}
		sort.Strings(extra[t])
	}
	if len(extra) == 0 {
		extra = nil
	}
	if len(errs) == 0 {
		errs = nil
	}
	return extra, errs
}

// redactObservation masks the run's secrets (internal/redact) in what a
// driver reported: a status command's output quoted in an error, or a
// version it printed, would otherwise reach plans, comments and the status
// branch. The sinks redact too; this is the first line.
func redactObservation(ctx context.Context, o *Observation) {
	r := redact.FromContext(ctx)
	o.Version, o.HealthDetail, o.Error = r.String(o.Version), r.String(o.HealthDetail), r.String(o.Error)
	for i := range o.Hosts {
		h := &o.Hosts[i]
		h.Version, h.Detail, h.Error = r.String(h.Version), r.String(h.Detail), r.String(h.Error)
	}
}
