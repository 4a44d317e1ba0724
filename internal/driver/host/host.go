// Package host is the driver for release directories on hosts: this
// machine (local transport) or named hosts over SSH. It defines the on-disk
// layout of docs/host-layout.md: <root>/<unit>/current is a symlink to
// releases/<id>/, switched atomically by renaming a new symlink over it,
// and releases/<id>.json is the release record, written atomically.
//
// It observes units (Observe, Inventory) and deploys them (Deploy,
// Rollback, Prune: driver.Deployer) with the recreate, rolling and
// blue/green strategies, starting releases with the process, systemd or
// command service manager and switching an nginx upstream for blue/green.
// Every file operation and command goes through a transport.Transport.
//
// The host driver never runs a shell on this machine; over SSH every
// command is an argv quoted for the remote shell, and host keys are always
// verified against the target's known_hosts file.
package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Conn is the connection to one host: every file operation and command of
// the driver goes through it, so that the release logic is written once for
// this machine and for SSH.
type Conn = transport.Transport

// Connector opens (or reuses) the connection to one host of a target; host
// is "" for the local transport.
type Connector func(ctx context.Context, t *state.HostTarget, host string) (Conn, error)

// Driver observes, deploys, rolls back and prunes units of one host target
// (driver.Deployer).
type Driver struct {
	Name    string
	Target  *state.HostTarget
	Connect Connector
	// Event receives progress messages of Rollback and Prune, and of Deploy
	// when its request has no Event of its own; it may be nil.
	Event func(msg string)
	// Now is the clock of records that Rollback renews; nil is time.Now.
	Now func() time.Time
	// StopTimeout is how long a process may take to exit after SIGTERM
	// before it is killed; zero is 10s.
	StopTimeout time.Duration
	// Parallelism bounds the hosts worked on at once
	// (DefaultParallelism when zero): all of a recreate, the hosts of a
	// rolling batch, and every observation and rollback.
	Parallelism int
}

var _ driver.Deployer = (*Driver)(nil)

// hosts lists the target's hosts: "" alone for a local target.
func (d *Driver) hosts() []string {
	if d.Target.Local {
		return []string{""}
	}
	return d.Target.Hosts
}

// hostName is how a host is named in messages and results.
func hostName(h string) string {
	if h == "" {
		return "local"
	}
	return h
}

// layout is the unit's layout on host h. A root containing {host} gives
// each host its own directory: hosts that share a filesystem (NFS) must
// not write the same release directories and `current` link, and the
// tests' "hosts" are all this machine.
func (d *Driver) layout(h, unit string) (Layout, error) {
	root, err := d.root(h)
	if err != nil {
		return Layout{}, err
	}
	if !ValidID(unit) {
		return Layout{}, fmt.Errorf("invalid unit name %q", unit)
	}
	return Layout{Root: root, Unit: unit}, nil
}

// root is the target's root on host h, {host} replaced.
func (d *Driver) root(h string) (string, error) {
	root := d.Target.Root
	if strings.Contains(root, "{host}") {
		name := hostName(h)
		if strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			return "", fmt.Errorf("host %q cannot be part of a path ({host} in root %s)", name, root)
		}
		root = strings.ReplaceAll(root, "{host}", name)
	}
	return root, nil
}

// Observe reads the release record on every host of the target and probes
// the unit's health.
func (d *Driver) Observe(ctx context.Context, env *state.Environment, u *state.Unit) driver.Observation {
	obs := driver.Observation{Unit: u.Name, Health: driver.HealthUnknown}
	hosts := d.hosts()
	per := make([]driver.HostObservation, len(hosts))
	recs := make([]*Record, len(hosts))
	prevs := make([]*Record, len(hosts))
	d.parallel(len(hosts), func(i int) {
		per[i], recs[i], prevs[i] = d.observeHost(ctx, u, hosts[i])
	})

	var errs []error
	first := -1
	mixed := false
	for i, ho := range per {
		if ho.Error != "" {
			errs = append(errs, errors.New(ho.Error))
			continue
		}
		if recs[i] == nil {
			continue
		}
		if first < 0 {
			first = i
		} else if recs[i].Version != recs[first].Version {
			mixed = true
		}
	}
	if len(hosts) > 1 {
		obs.Hosts = per
	}
	if len(errs) > 0 && first < 0 {
		obs.Error = errors.Join(errs...).Error()
		return obs
	}
	if first < 0 {
		obs.Health = driver.HealthMissing
		return obs
	}
	rec := recs[first]
	obs.Deployed = true
	obs.Version = rec.Version
	obs.DeployedAt = rec.DeployedAt
	obs.Frameworks = rec.Frameworks
	obs.Checksum = rec.Checksum
	if p := prevs[first]; p != nil {
		obs.Previous = &driver.Release{ID: p.ID, Version: p.Version, DeployedAt: p.DeployedAt}
	}
	// The unit's health is its worst host's.
	obs.Health = driver.HealthHealthy
	for _, ho := range per {
		h := ho.Health
		if ho.Error != "" {
			h = driver.HealthUnknown
		}
		if h.IsWorse(obs.Health) {
			obs.Health = h
			obs.HealthDetail = ho.Host + hostSep(ho.Host) + ho.Detail
		}
	}
	for i, ho := range per {
		if recs[i] != nil && recs[i].DeployedAt.Before(obs.DeployedAt) {
			// The oldest host decides when the unit was last deployed.
			obs.DeployedAt = recs[i].DeployedAt
		}
		if ho.Error == "" && ho.Health != driver.HealthHealthy && obs.HealthDetail == "" {
			obs.HealthDetail = ho.Host
		}
	}
	if mixed {
		obs.Version = ""
		obs.HealthDetail = "hosts run different versions"
	}
	if len(errs) > 0 {
		obs.Error = errors.Join(errs...).Error()
	}
	return obs
}

func hostSep(h string) string {
	if h == "" {
		return ""
	}
	return ": "
}

func (d *Driver) observeHost(ctx context.Context, u *state.Unit, h string) (driver.HostObservation, *Record, *Record) {
	ho := driver.HostObservation{Host: hostName(h), Health: driver.HealthUnknown}
	hr, err := d.open(ctx, h, u.Name, nil)
	if err != nil {
		ho.Error = err.Error()
		return ho, nil, nil
	}
	rec, prev, err := ReadCurrent(ctx, hr.c, hr.l)
	if err != nil {
		ho.Error = err.Error()
		return ho, nil, nil
	}
	if rec == nil {
		ho.Health = driver.HealthMissing
		return ho, nil, nil
	}
	ho.Version = rec.Version
	ho.DeployedAt = rec.DeployedAt
	// A health failure is an observation, not a failure to observe.
	ho.Health, ho.Detail = d.probeOnce(ctx, hr, u, rec)
	return ho, rec, prev
}

// Inventory lists the units with a current release on the target's first
// reachable host.
func (d *Driver) Inventory(ctx context.Context, env *state.Environment, target string) ([]string, error) {
	var lastErr error
	for _, h := range d.hosts() {
		c, err := d.Connect(ctx, d.Target, h)
		if err != nil {
			lastErr = err
			continue
		}
		root, err := d.root(h)
		if err != nil {
			return nil, err
		}
		names, err := c.ReadDir(ctx, root)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			lastErr = err
			continue
		}
		var units []string
		for _, n := range names {
			if n == "" || n[0] == '.' {
				continue
			}
			if _, err := c.Readlink(ctx, Layout{Root: root, Unit: n}.Current()); err == nil {
				units = append(units, n)
			}
		}
		return units, nil
	}
	return nil, lastErr
}
