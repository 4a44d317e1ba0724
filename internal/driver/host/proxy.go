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

// hasProxy reports whether the target switches a proxy.
func (d *Driver) hasProxy() bool {
	p := d.Target.Proxy
	return p != nil && p.Kind != "none" && p.UpstreamFile != ""
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

// switchProxy points the unit's upstream at rec's port: write the file
// atomically, run the proxy's config test, then its reload. When the test
// or the reload fails the old file is put back, so the proxy never runs
// a config that gearshift broke, and the live slot stays live.
func (d *Driver) switchProxy(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	if !d.hasProxy() {
		return nil
	}
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
	if err := h.run(ctx, "proxy reload", reload, transport.RunOptions{Timeout: proxyTimeout}); err != nil {
		return restore(err)
	}
	h.say("proxy: switched %s to %s (port %d)", u.Name, rec.Slot, rec.Port)
	return nil
}

// proxyPointsAt reports whether the upstream file already routes to rec.
func (d *Driver) proxyPointsAt(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) bool {
	if !d.hasProxy() {
		return true
	}
	b, err := h.c.ReadFile(ctx, d.upstreamFile(u.Name))
	return err == nil && bytes.Equal(b, UpstreamConfig(u.Name, rec.Slot, rec.ID, rec.Port))
}
