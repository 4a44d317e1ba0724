// Package host is the driver for release directories on hosts: this
// machine (local transport) or named hosts over SSH. It defines the on-disk
// layout of docs/host-layout.md: <root>/<unit>/current is a symlink to
// releases/<id>/, switched atomically by renaming a new symlink over it,
// and releases/<id>.json is the release record, written atomically.
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
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Conn is what the host driver needs of a transport to one host.
type Conn interface {
	Reader
	Host() string
}

// Connector opens (or reuses) the connection to one host of a target; host
// is "" for the local transport.
type Connector func(ctx context.Context, t *state.HostTarget, host string) (Conn, error)

// Driver observes (and in apply, deploys) units of one host target.
type Driver struct {
	Name    string
	Target  *state.HostTarget
	Connect Connector
	// PidAlive reports whether a local process runs; nil uses kill(pid, 0).
	PidAlive func(pid int) bool
}

// hosts lists the target's hosts: "" alone for a local target.
func (d *Driver) hosts() []string {
	if d.Target.Local {
		return []string{""}
	}
	return d.Target.Hosts
}

// Observe reads the release record on every host of the target and probes
// the unit's health.
func (d *Driver) Observe(ctx context.Context, env *state.Environment, u *state.Unit) driver.Observation {
	obs := driver.Observation{Unit: u.Name, Health: driver.HealthUnknown}
	hosts := d.hosts()
	per := make([]driver.HostObservation, len(hosts))
	recs := make([]*Record, len(hosts))
	prevs := make([]*Record, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			per[i], recs[i], prevs[i] = d.observeHost(ctx, u, h)
		}()
	}
	wg.Wait()

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
	ho := driver.HostObservation{Host: h, Health: driver.HealthUnknown}
	if h == "" {
		ho.Host = "local"
	}
	c, err := d.Connect(ctx, d.Target, h)
	if err != nil {
		ho.Error = err.Error()
		return ho, nil, nil
	}
	l := Layout{Root: d.Target.Root, Unit: u.Name}
	rec, prev, err := ReadCurrent(ctx, c, l)
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
	port := rec.Port
	if port == 0 {
		port = u.Port
	}
	// A health failure is an observation, not a failure to observe.
	ho.Health, ho.Detail = d.probe(ctx, c, l, u, rec, port, h)
	return ho, rec, prev
}

// probe checks the unit's health on one host: its health check when it
// declares one (HTTP checks are made from here against the host), else
// whether its process runs (process service manager, local only).
func (d *Driver) probe(ctx context.Context, c Conn, l Layout, u *state.Unit, rec *Record, port int, h string) (driver.Health, string) {
	if u.Health != nil && u.Health.HTTP != nil {
		hc := *u.Health
		httpc := *hc.HTTP
		if h != "" {
			httpc.URL = replaceLoopback(httpc.URL, hostOnly(h))
		}
		hc.HTTP = &httpc
		health, detail := driver.Probe(ctx, &hc, u.Name, port, nil)
		return health, detail
	}
	if d.Target.Service == "process" && d.Target.Local {
		b, err := c.ReadFile(ctx, l.PidFile(rec.Slot))
		if err != nil {
			return driver.HealthUnhealthy, "no pid file: the process is not running"
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			return driver.HealthUnhealthy, "corrupt pid file " + l.PidFile(rec.Slot)
		}
		alive := d.PidAlive
		if alive == nil {
			alive = pidAlive
		}
		if !alive(pid) {
			return driver.HealthUnhealthy, fmt.Sprintf("process %d is not running", pid)
		}
		return driver.HealthHealthy, ""
	}
	return driver.HealthUnknown, "no health check declared"
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
		names, err := c.ReadDir(ctx, d.Target.Root)
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
			if _, err := c.Readlink(ctx, Layout{Root: d.Target.Root, Unit: n}.Current()); err == nil {
				units = append(units, n)
			}
		}
		return units, nil
	}
	return nil, lastErr
}

func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// replaceLoopback points a health URL written for the host itself
// (127.0.0.1, localhost) at the remote host.
func replaceLoopback(url, host string) string {
	for _, lo := range []string{"//127.0.0.1", "//localhost"} {
		if i := strings.Index(url, lo); i >= 0 {
			return url[:i] + "//" + host + url[i+len(lo):]
		}
	}
	return url
}
