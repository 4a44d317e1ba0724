package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// proxyTimeout bounds the proxy's config test and reload.
const proxyTimeout = time.Minute

// upstreamFile is the unit's upstream file on the host: the target's
// proxy.upstreamFile with {unit} replaced, so that the blue/green units of
// one target can share one proxy.
func (d *Driver) upstreamFile(u string) string {
	return driver.Expand(d.Target.Proxy.UpstreamFile, u, 0)
}

// Proxy kinds.
const (
	proxyNginx   = "nginx"
	proxyHAProxy = "haproxy"
	proxyCommand = "command"
	proxyNone    = "none"
)

// proxyKind is the target's proxy kind: nginx when the proxy names none,
// none without a proxy.
func (d *Driver) proxyKind() string {
	p := d.Target.Proxy
	switch {
	case p == nil:
		return proxyNone
	case p.Kind == "":
		return proxyNginx
	}
	return p.Kind
}

// hasProxy reports whether the target switches a proxy between the slots
// of a blue/green unit.
func (d *Driver) hasProxy() bool {
	p := d.Target.Proxy
	switch d.proxyKind() {
	case proxyNginx:
		return p.UpstreamFile != ""
	case proxyHAProxy:
		return p.Socket != ""
	case proxyCommand:
		return len(p.Switch) > 0
	}
	return false
}

// UpstreamConfig is the whole content gearshift writes to a unit's
// upstream file: one nginx upstream block named after the unit, with the
// live slot's loopback address. The proxy's own config includes the file
// inside its http block and proxies to http://<unit>; gearshift owns the
// file and replaces it on every switch.
func UpstreamConfig(unit, slot, releaseID string, port int) []byte {
	return fmt.Appendf(nil, "# Written by gearshift: unit %s, slot %s, release %s.\n# Do not edit: every deploy and rollback replaces this file.\nupstream %s {\n    server 127.0.0.1:%d;\n}\n",
		unit, slot, releaseID, unit, port)
}

// switchProxy makes rec's slot the one the proxy sends new requests to,
// and returns once that is confirmed (see confirm.go): "live" means
// served. On failure the proxy is left routing to the slot it routed to
// before, whenever that can be done.
func (d *Driver) switchProxy(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	if !d.hasProxy() {
		return nil
	}
	switch d.proxyKind() {
	case proxyHAProxy:
		return d.switchHAProxy(ctx, h, u, rec)
	case proxyCommand:
		return d.switchCommand(ctx, h, u, rec)
	}
	return d.switchNginx(ctx, h, u, rec)
}

// switchNginx points the unit's upstream at rec's port: write the file
// atomically, run the proxy's config test, then its reload, then confirm
// from the front URL (proxy.confirm) that new requests reach rec. When the
// test, the reload or the confirmation fails the old file is put back (and
// reloaded after a reload), so the proxy never runs a config that
// gearshift broke, and the live slot stays live.
func (d *Driver) switchNginx(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	p := d.Target.Proxy
	file := d.upstreamFile(u.Name)
	old, err := h.c.ReadFile(ctx, file)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read the upstream file: %w", err)
	}
	content := UpstreamConfig(u.Name, rec.Slot, rec.ID, rec.Port)
	h.say("proxy: writing %s -> 127.0.0.1:%d (%s)", file, rec.Port, rec.Slot)
	if err := h.c.WriteFileAtomic(ctx, file, content, 0o644); err != nil {
		return fmt.Errorf("write the upstream file: %w", err)
	}
	restore := func(cause error) error {
		var rerr error
		if existed {
			rerr = h.c.WriteFileAtomic(ctx, file, old, 0o644)
		} else {
			rerr = h.c.RemoveAll(ctx, file)
		}
		if rerr != nil {
			return fmt.Errorf("%w; restoring %s also failed: %v", cause, file, rerr)
		}
		return fmt.Errorf("%w; %s restored", cause, file)
	}
	test := p.Test
	if len(test) == 0 {
		test = []string{"nginx", "-t"}
	}
	if err := h.run(ctx, "proxy config test", test, transport.RunOptions{Timeout: proxyTimeout}); err != nil {
		return restore(err)
	}
	reload := p.Reload
	if len(reload) == 0 {
		reload = []string{"nginx", "-s", "reload"}
	}
	workers, werr := d.nginxWorkers(ctx, h)
	if werr != nil {
		h.say("proxy: the switch cannot wait for nginx's old workers: %v", werr)
	}
	if err := h.run(ctx, "proxy reload", reload, transport.RunOptions{Timeout: proxyTimeout}); err != nil {
		return restore(err)
	}
	// `nginx -s reload` returns once the master is signalled: until its
	// new workers take the connections and the old ones are gone, the old
	// upstream still serves.
	err = d.confirmServed(ctx, h, u, rec)
	if err == nil && werr == nil {
		d.waitGenerationGone(ctx, h, workers, d.confirmTimeout())
	}
	if err != nil {
		err = restore(err)
		if rerr := h.run(ctx, "proxy reload", reload, transport.RunOptions{Timeout: proxyTimeout}); rerr != nil {
			return fmt.Errorf("%w; reloading the restored file also failed: %v", err, rerr)
		}
		return err
	}
	h.say("proxy: switched %s to %s (port %d)", u.Name, rec.Slot, rec.Port)
	return nil
}

// proxyPointsAt reports whether the proxy already routes to rec: the
// upstream file (nginx), the servers' states (haproxy). A command proxy
// cannot say, so it is switched again (its switch must be idempotent).
func (d *Driver) proxyPointsAt(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) bool {
	if !d.hasProxy() {
		return true
	}
	switch d.proxyKind() {
	case proxyHAProxy:
		return d.haproxyPointsAt(ctx, h, u, rec)
	case proxyCommand:
		return false
	}
	b, err := h.c.ReadFile(ctx, d.upstreamFile(u.Name))
	return err == nil && bytes.Equal(b, UpstreamConfig(u.Name, rec.Slot, rec.ID, rec.Port))
}
