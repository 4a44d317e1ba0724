package host

// Rolling behind a load balancer (Fragalysis: "one instance at a time with
// no break in service"): with a haproxy or command proxy declared, each
// host is taken out of the load balancer and its connections drained
// before its release stops, and is put back only once the new release is
// healthy (and has passed its smoke check), before the next host starts.

import (
	"context"
	"fmt"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver/host/haproxy"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// balancer takes one host out of the load balancer and puts it back. A
// nil *balancer does nothing: no load balancer is driven.
type balancer struct {
	d *Driver
	h *hostRun
	u *state.Unit
}

// balancer is the load balancer of a rolling unit's host h, nil when the
// target's proxy does not drive one (nginx: see docs/host-layout.md for
// the settings that make a rolling deploy behind it lose nothing).
func (d *Driver) balancer(h *hostRun, u *state.Unit) *balancer {
	if strategy(u) == state.StrategyBlueGreen || d.Target.Proxy == nil {
		return nil
	}
	p := d.Target.Proxy
	switch d.proxyKind() {
	case proxyHAProxy:
		if p.Socket == "" {
			return nil
		}
	case proxyCommand:
		if len(p.Drain) == 0 || len(p.Ready) == 0 {
			return nil
		}
	default:
		return nil
	}
	return &balancer{d: d, h: h, u: u}
}

// out takes the host out: haproxy drain, then the wait until its current
// sessions (scur) reach zero or proxy.drainTimeout passes, then maint; a
// command proxy's drain argv (which must itself wait, within the drain
// timeout).
func (b *balancer) out(ctx context.Context) error {
	if b == nil {
		return nil
	}
	d, h, u := b.d, b.h, b.u
	start := time.Now()
	if d.proxyKind() == proxyCommand {
		if err := runLocal(ctx, "proxy drain", expandArgv(d.Target.Proxy.Drain, u, nil, h.host), proxyEnv(u, nil, h.host), d.drainTimeout()+proxyTimeout); err != nil {
			return err
		}
		h.say("load balancer: drained (%s)", time.Since(start).Round(time.Millisecond))
		return nil
	}
	x, srv, err := b.haproxy(ctx)
	if err != nil {
		return err
	}
	if err := x.c.SetState(ctx, x.backend, srv, haproxy.Drain); err != nil {
		return err
	}
	idle, n, err := x.waitIdle(ctx, srv, d.drainTimeout())
	if err != nil {
		return err
	}
	if err := x.c.SetState(ctx, x.backend, srv, haproxy.Maint); err != nil {
		return err
	}
	if err := x.save(ctx); err != nil {
		return err
	}
	if !idle {
		h.say("load balancer: %s/%s still had %d sessions after %s; taken out anyway", x.backend, srv, n, d.drainTimeout())
	} else {
		h.say("load balancer: %s/%s drained and out (%s)", x.backend, srv, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// in puts the host back and, for haproxy, waits until HAProxy serves it
// (its own check passed, when it checks).
func (b *balancer) in(ctx context.Context) error {
	if b == nil {
		return nil
	}
	d, h, u := b.d, b.h, b.u
	start := time.Now()
	if d.proxyKind() == proxyCommand {
		if err := runLocal(ctx, "proxy ready", expandArgv(d.Target.Proxy.Ready, u, nil, h.host), proxyEnv(u, nil, h.host), proxyTimeout); err != nil {
			return err
		}
		h.say("load balancer: back in (%s)", time.Since(start).Round(time.Millisecond))
		return nil
	}
	x, srv, err := b.haproxy(ctx)
	if err != nil {
		return err
	}
	if err := x.c.SetState(ctx, x.backend, srv, haproxy.Ready); err != nil {
		return err
	}
	if err := x.waitServing(ctx, srv, d.confirmTimeout()); err != nil {
		return err
	}
	if err := x.save(ctx); err != nil {
		return err
	}
	h.say("load balancer: %s/%s serving again (%s)", x.backend, srv, time.Since(start).Round(time.Millisecond))
	return nil
}

func (b *balancer) haproxy(ctx context.Context) (*haproxyFor, string, error) {
	x, err := b.d.haproxyFor(ctx, b.h, b.u)
	if err != nil {
		return nil, "", err
	}
	srv, err := b.d.serverName(b.u, "", b.h.host)
	if err != nil {
		return nil, "", err
	}
	if _, err := x.server(ctx, srv); err != nil {
		return nil, "", err
	}
	return x, srv, nil
}

// rolling replaces the release on one host of a rolling deploy: out of the
// load balancer, recreate (stop, switch, start, health), smoke, back in.
// A host whose new release fails stays out; the rollback that follows
// puts it back once it runs its old release again.
func (d *Driver) rolling(ctx context.Context, h *hostRun, u *state.Unit, rec, cur *Record) error {
	lb := d.balancer(h, u)
	if lb == nil {
		return d.recreate(ctx, h, u, rec, cur)
	}
	if err := lb.out(ctx); err != nil {
		return fmt.Errorf("take the host out of the load balancer: %w", err)
	}
	if err := d.recreate(ctx, h, u, rec, cur); err != nil {
		return err
	}
	if err := d.smoke(ctx, h, u, rec); err != nil {
		return err
	}
	if err := lb.in(ctx); err != nil {
		return fmt.Errorf("put the host back in the load balancer: %w", err)
	}
	return nil
}
