package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// Sweep removes what a run killed in mid-action left on every host of the
// target: the temporary files of atomic writes and symlink switches
// (".<name>.tmp-<hex>", ".<name>.partial"), and release directories that never got a record
// (a copy cut short) unless `current` or a slot points at them. The caller
// holds the environment's lock, so nothing else is writing these files.
func (d *Driver) Sweep(ctx context.Context, env *state.Environment, target string) error {
	var errs []error
	for _, h := range d.hosts() {
		if err := d.sweepHost(ctx, h); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", hostName(h), err))
		}
	}
	return errors.Join(errs...)
}

func (d *Driver) sweepHost(ctx context.Context, h string) error {
	root, err := d.root(h)
	if err != nil {
		return err
	}
	c, err := d.Connect(ctx, d.Target, h)
	if err != nil {
		return err
	}
	units, err := c.ReadDir(ctx, root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	removeTemps := func(dir string) ([]string, error) {
		names, err := c.ReadDir(ctx, dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var kept []string
		for _, n := range names {
			if isTemp(n) {
				if err := c.RemoveAll(ctx, path.Join(dir, n)); err != nil {
					return nil, err
				}
				continue
			}
			kept = append(kept, n)
		}
		return kept, nil
	}
	if _, err := removeTemps(root); err != nil {
		return err
	}
	for _, u := range units {
		if isTemp(u) || strings.HasPrefix(u, ".") || !ValidID(u) {
			continue
		}
		l := Layout{Root: root, Unit: u}
		for _, dir := range []string{l.Dir(), l.Run(), l.Archive(), path.Join(l.Dir(), "slots")} {
			if _, err := removeTemps(dir); err != nil {
				return err
			}
		}
		names, err := removeTemps(l.Releases())
		if err != nil {
			return err
		}
		if err := d.sweepOrphans(ctx, c, l, names); err != nil {
			return err
		}
	}
	return nil
}

// sweepOrphans removes release directories without a record that nothing
// points at.
func (d *Driver) sweepOrphans(ctx context.Context, c Conn, l Layout, names []string) error {
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	used := map[string]bool{}
	for _, link := range []string{l.Current(), l.Slot("blue"), l.Slot("green")} {
		if t, err := c.Readlink(ctx, link); err == nil {
			used[path.Base(t)] = true
		}
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".json") || has[n+".json"] || used[n] || !ValidID(n) {
			continue
		}
		if _, ok := IDTime(n); !ok {
			continue
		}
		if err := c.RemoveAll(ctx, l.Release(n)); err != nil {
			return err
		}
	}
	return nil
}

// isTemp reports whether a name is a temporary file of an atomic write:
// the transports' ".<name>.tmp-<hex>" and the archive copy's
// ".<name>.partial".
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") &&
		(strings.Contains(name, ".tmp-") || strings.HasSuffix(name, ".partial") || strings.Contains(name, ".partial-"))
}
