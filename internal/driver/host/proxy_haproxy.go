package host

// The haproxy proxy kind: switches through HAProxy's runtime API on its
// stats socket (set server <backend>/<server> state ready|drain|maint), so
// no reload closes a client's keep-alive connection; the states are then
// written to the server-state-file, so that a later reload or restart
// keeps them (docs/host-layout.md).

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver/host/haproxy"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// haproxyPoll is how often the servers' states and sessions are read
// while waiting for a change to take effect.
const haproxyPoll = 10 * time.Millisecond

// haproxyConn is the connection to the host whose stats socket is used:
// proxy.host ("local" is this machine), else the host deployed for a
// blue/green unit and this machine for a rolling one.
func (d *Driver) haproxyConn(ctx context.Context, h *hostRun, u *state.Unit) (Conn, string, error) {
	p := d.Target.Proxy
	switch {
	case p.Host == "local" || (p.Host == "" && strategy(u) != state.StrategyBlueGreen):
		return transport.Local(), "", nil
	case p.Host == "":
		return h.c, h.host, nil
	}
	c, err := d.Connect(ctx, d.Target, p.Host)
	return c, p.Host, err
}

// haproxyFor is the unit's haproxy: its client and backend.
type haproxyFor struct {
	c         *haproxy.Client
	conn      Conn
	backend   string
	stateFile string
	say       func(string, ...any)
}

func (d *Driver) haproxyFor(ctx context.Context, h *hostRun, u *state.Unit) (*haproxyFor, error) {
	p := d.Target.Proxy
	conn, _, err := d.haproxyConn(ctx, h, u)
	if err != nil {
		return nil, fmt.Errorf("haproxy: %w", err)
	}
	backend := p.Backend
	if backend == "" {
		backend = "{unit}"
	}
	backend = expandProxy(backend, u, nil, h.host)
	if !haproxy.ValidName(backend) {
		return nil, fmt.Errorf("haproxy: backend %q is not a HAProxy name", backend)
	}
	sock := p.Socket
	return &haproxyFor{
		c: &haproxy.Client{Dial: func(ctx context.Context) (net.Conn, error) {
			return transport.DialUnix(ctx, conn, sock)
		}},
		conn: conn, backend: backend, stateFile: p.StateFile, say: h.say,
	}, nil
}

// serverName is the HAProxy server of a slot (blue/green, "{slot}" by
// default) or of a host (rolling, "{host}" by default).
func (d *Driver) serverName(u *state.Unit, slot, host string) (string, error) {
	tmpl := d.Target.Proxy.Server
	if tmpl == "" {
		tmpl = "{host}"
		if strategy(u) == state.StrategyBlueGreen {
			tmpl = "{slot}"
		}
	}
	name := expandProxy(tmpl, u, &Record{Slot: slot}, host)
	if !haproxy.ValidName(name) {
		return "", fmt.Errorf("haproxy: server name %q (proxy.server %q) is not a HAProxy name", name, tmpl)
	}
	return name, nil
}

// server reads one server's state.
func (x *haproxyFor) server(ctx context.Context, name string) (haproxy.Server, error) {
	servers, err := x.c.Servers(ctx, x.backend)
	if err != nil {
		return haproxy.Server{}, err
	}
	for _, s := range servers {
		if s.Name == name {
			return s, nil
		}
	}
	return haproxy.Server{}, fmt.Errorf("haproxy: backend %s has no server %s", x.backend, name)
}

// waitServing waits until the server takes new requests: ready and, when
// HAProxy checks it, its check passed.
func (x *haproxyFor) waitServing(ctx context.Context, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		s, err := x.server(ctx, name)
		if err != nil {
			return err
		}
		if s.Serving() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("haproxy: %s/%s is not serving after %s (operational state %d, admin state %#x)", x.backend, name, timeout, s.OpState, s.AdminState)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(haproxyPoll):
		}
	}
}

// waitIdle waits until the server has no current session (scur), at most
// timeout; it reports whether it got there.
func (x *haproxyFor) waitIdle(ctx context.Context, name string, timeout time.Duration) (bool, int, error) {
	deadline := time.Now().Add(timeout)
	for {
		sess, err := x.c.Sessions(ctx, x.backend)
		if err != nil {
			return false, 0, err
		}
		n, ok := sess[name]
		if !ok {
			return false, 0, fmt.Errorf("haproxy: show stat has no server %s/%s", x.backend, name)
		}
		if n == 0 {
			return true, 0, nil
		}
		if time.Now().After(deadline) {
			return false, n, nil
		}
		select {
		case <-ctx.Done():
			return false, n, ctx.Err()
		case <-time.After(haproxyPoll):
		}
	}
}

// save writes every server's state to proxy.stateFile (HAProxy's
// server-state-file), so that a reload or a restart that loads it
// (load-server-state-from-file global) keeps what the runtime API set.
func (x *haproxyFor) save(ctx context.Context) error {
	if x.stateFile == "" {
		return nil
	}
	out, err := x.c.ServersState(ctx, "")
	if err != nil {
		return err
	}
	if err := x.conn.WriteFileAtomic(ctx, x.stateFile, []byte(out), 0o644); err != nil {
		return fmt.Errorf("haproxy: write the server state file: %w", err)
	}
	return nil
}

// switchHAProxy makes rec's slot the one HAProxy sends new requests to:
// its server ready, then (once HAProxy has it serving: checked, if it
// checks) the other slot's server in maintenance, then the wait for the
// requests still running on the other slot (at most proxy.drainTimeout),
// then the state file. Requests are balanced one by one, so clients'
// keep-alive connections move to the new slot with their next request. A
// failure puts the servers back as they were.
func (d *Driver) switchHAProxy(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	x, err := d.haproxyFor(ctx, h, u)
	if err != nil {
		return err
	}
	newSrv, err := d.serverName(u, rec.Slot, h.host)
	if err != nil {
		return err
	}
	oldSrv, err := d.serverName(u, otherSlot(rec.Slot), h.host)
	if err != nil {
		return err
	}
	before, err := x.server(ctx, oldSrv)
	if err != nil {
		return err
	}
	if _, err := x.server(ctx, newSrv); err != nil {
		return err
	}
	undo := func(cause error) error {
		if before.Serving() {
			if err := x.c.SetState(ctx, x.backend, oldSrv, haproxy.Ready); err != nil {
				return fmt.Errorf("%w; putting %s back also failed: %v", cause, oldSrv, err)
			}
		}
		if err := x.c.SetState(ctx, x.backend, newSrv, haproxy.Maint); err != nil {
			return fmt.Errorf("%w; taking %s out again also failed: %v", cause, newSrv, err)
		}
		if err := x.save(ctx); err != nil {
			return fmt.Errorf("%w; %v", cause, err)
		}
		return fmt.Errorf("%w; haproxy routes to %s as before", cause, oldSrv)
	}
	h.say("proxy: haproxy %s/%s ready (%s, port %d)", x.backend, newSrv, rec.Slot, rec.Port)
	if err := x.c.SetState(ctx, x.backend, newSrv, haproxy.Ready); err != nil {
		return err
	}
	if err := x.waitServing(ctx, newSrv, d.confirmTimeout()); err != nil {
		return undo(err)
	}
	if err := x.c.SetState(ctx, x.backend, oldSrv, haproxy.Maint); err != nil {
		return undo(err)
	}
	// Requests already sent to the old slot finish there; "live" waits for
	// them, so that no old response follows it.
	if idle, n, err := x.waitIdle(ctx, oldSrv, d.drainTimeout()); err != nil {
		return undo(err)
	} else if !idle {
		h.say("proxy: %s/%s still has %d sessions after %s; going on", x.backend, oldSrv, n, d.drainTimeout())
	}
	if err := x.save(ctx); err != nil {
		return undo(err)
	}
	if !d.haproxyPointsAt(ctx, h, u, rec) {
		return undo(fmt.Errorf("haproxy: %s/%s is not the only server serving after the switch", x.backend, newSrv))
	}
	if err := d.confirmServed(ctx, h, u, rec); err != nil {
		return undo(err)
	}
	h.say("proxy: switched %s to %s (port %d)", u.Name, rec.Slot, rec.Port)
	return nil
}

// haproxyPointsAt reports whether HAProxy serves rec's slot and not the
// other one.
func (d *Driver) haproxyPointsAt(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) bool {
	x, err := d.haproxyFor(ctx, h, u)
	if err != nil {
		return false
	}
	newSrv, err1 := d.serverName(u, rec.Slot, h.host)
	oldSrv, err2 := d.serverName(u, otherSlot(rec.Slot), h.host)
	if err1 != nil || err2 != nil {
		return false
	}
	n, err1 := x.server(ctx, newSrv)
	o, err2 := x.server(ctx, oldSrv)
	return err1 == nil && err2 == nil && n.Serving() && !o.Serving()
}

func (d *Driver) confirmTimeout() time.Duration {
	if c := d.Target.Proxy.Confirm; c != nil && c.Timeout.Duration > 0 {
		return c.Timeout.Duration
	}
	return defaultConfirmTimeout
}

func (d *Driver) drainTimeout() time.Duration {
	if t := d.Target.Proxy.DrainTimeout.Duration; t > 0 {
		return t
	}
	return defaultDrainTimeout
}
