package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Health check defaults, as in the schema.
const (
	defaultHealthTimeout  = 60 * time.Second
	defaultHealthInterval = time.Second
	// processGrace is how long a process without a health check must
	// survive its start to count as started.
	processGrace = 300 * time.Millisecond
)

// hasCheck reports whether the unit declares a health check.
func hasCheck(u *state.Unit) bool {
	return u.Health != nil && (u.Health.HTTP != nil || len(u.Health.Command) > 0)
}

// probeOnce checks release rec of u on one host once. A declared check
// wins: HTTP checks go from this machine to the host (its address replaces
// 127.0.0.1 and localhost in the URL), command checks run on the host in
// the release directory. Without one, the process manager's answer is
// whether the process runs, the command manager's its status command.
func (d *Driver) probeOnce(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) (driver.Health, string) {
	port := recPort(u, rec)
	if hasCheck(u) {
		hc := *u.Health
		if hc.HTTP != nil && h.host != "" {
			httpc := *hc.HTTP
			httpc.URL = replaceLoopback(httpc.URL, hostOnly(h.host))
			hc.HTTP = &httpc
		}
		run := func(ctx context.Context, argv []string) (int, string, error) {
			res, err := h.c.Run(ctx, argv, transport.RunOptions{Dir: h.l.Release(rec.ID), Env: releaseEnv(h, u, rec, true)})
			out := res.Stderr
			if len(bytes.TrimSpace(out)) == 0 {
				out = res.Stdout
			}
			return res.ExitCode, string(out), err
		}
		return driver.Probe(ctx, &hc, u.Name, port, run)
	}
	ok, err := d.service().running(ctx, h, rec)
	switch {
	case errors.Is(err, errNoStatus):
		return driver.HealthUnknown, "no health check declared"
	case err != nil:
		return driver.HealthUnknown, err.Error()
	case !ok && d.Target.Service == "process":
		return driver.HealthUnhealthy, fmt.Sprintf("the process of %s is not running", rec.ID)
	case !ok:
		return driver.HealthUnhealthy, fmt.Sprintf("%s is not running", rec.ID)
	}
	return driver.HealthHealthy, ""
}

// waitHealthy probes release rec every health.interval until it is healthy
// or health.timeout has passed. A process that has exited fails at once,
// with the end of its log, rather than at the timeout.
func (d *Driver) waitHealthy(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	isProcess := d.Target.Service == "" || d.Target.Service == "process"
	if !hasCheck(u) {
		if !isProcess {
			return nil // the start command's exit status is all there is
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(processGrace):
		}
		if ok, err := d.service().running(ctx, h, rec); err != nil || !ok {
			return fmt.Errorf("%s exited right after it started%s", rec.ID, h.logTail(ctx, rec.ID))
		}
		return nil
	}
	timeout, interval := u.Health.Timeout.Duration, u.Health.Interval.Duration
	if timeout <= 0 {
		timeout = defaultHealthTimeout
	}
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var detail string
	for attempt := 1; ; attempt++ {
		health, det := d.probeOnce(hctx, h, u, rec)
		if hctx.Err() == nil || detail == "" {
			// A probe cut short by the deadline says less than the last
			// one that completed.
			detail = det
		}
		if health == driver.HealthHealthy {
			h.say("%s is healthy (attempt %d, %s)", rec.ID, attempt, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if isProcess {
			if ok, err := d.service().running(ctx, h, rec); err == nil && !ok {
				return fmt.Errorf("health check of %s: the process exited (last check: %s)%s", rec.ID, detail, h.logTail(ctx, rec.ID))
			}
		}
		t := time.NewTimer(interval)
		select {
		case <-hctx.Done():
			t.Stop()
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("health check of %s failed %d times in %s: %s%s", rec.ID, attempt, timeout, detail, h.logTailIf(ctx, isProcess, rec.ID))
		case <-t.C:
		}
	}
}

func (h *hostRun) logTailIf(ctx context.Context, ok bool, id string) string {
	if !ok {
		return ""
	}
	return h.logTail(ctx, id)
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
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	for _, lo := range []string{"//127.0.0.1", "//localhost"} {
		if i := strings.Index(url, lo); i >= 0 {
			return url[:i] + "//" + host + url[i+len(lo):]
		}
	}
	return url
}
