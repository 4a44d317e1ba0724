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

// Sweep removes what a run killed in mid-action, or cut short by a full
// disk, left on every host of the target: the temporary files of atomic
// writes and symlink switches (".<name>.tmp-<hex>", ".<name>.partial"),
// release directories that never got a record (a copy cut short) and
// archive copies whose release has no record (an archive copied just
// before a kill), unless `current` or a slot points at them. The caller
// holds the environment's lock, so nothing else is writing these files.
// A deploy sweeps its unit the same way on each host before it writes
// there (sweepUnit), so what a failed run left goes with the next deploy
// even when no run was interrupted.
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
	if _, err := removeTemps(ctx, c, root); err != nil {
		return err
	}
	for _, u := range units {
		if isTemp(u) || strings.HasPrefix(u, ".") || !ValidID(u) {
			continue
		}
		if err := sweepUnit(ctx, c, Layout{Root: root, Unit: u}); err != nil {
			return err
		}
	}
	return nil
}

// removeTemps removes the temporary files in dir and returns the other
// names; a missing dir has none.
func removeTemps(ctx context.Context, c Conn, dir string) ([]string, error) {
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

// sweepUnit removes the temporary files of one unit, its release
// directories without a record and its archive copies without a release
// record, except what `current` or a slot links to.
func sweepUnit(ctx context.Context, c Conn, l Layout) error {
	for _, dir := range []string{l.Dir(), l.Run(), l.Slots()} {
		if _, err := removeTemps(ctx, c, dir); err != nil {
			return err
		}
	}
	names, err := removeTemps(ctx, c, l.Releases())
	if err != nil {
		return err
	}
	archives, err := removeTemps(ctx, c, l.Archive())
	if err != nil {
		return err
	}
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
		if strings.HasSuffix(n, ".json") || has[n+".json"] || used[n] {
			continue
		}
		if _, ok := IDTime(n); !ok {
			continue // not a release id: never touched
		}
		if err := c.RemoveAll(ctx, l.Release(n)); err != nil {
			return err
		}
	}
	for _, a := range archives {
		id, ok := archiveID(a)
		if !ok || has[id+".json"] || used[id] {
			continue
		}
		if err := c.RemoveAll(ctx, path.Join(l.Archive(), a)); err != nil {
			return err
		}
	}
	return nil
}

// archiveID is the release id an archive copy is named after
// ("<id><ext>", see archive), and false for a name that is not one.
func archiveID(name string) (string, bool) {
	for i := len(idTimeLayout); i <= len(name); i++ {
		if name[i-1] != 'Z' {
			continue
		}
		if _, ok := IDTime(name[:i]); ok && (i == len(name) || name[i] == '.') {
			return name[:i], true
		}
	}
	return "", false
}

// isTemp reports whether a name is a temporary file of an atomic write:
// the transports' ".<name>.tmp-<hex>" and the archive copy's
// ".<name>.partial".
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") &&
		(strings.Contains(name, ".tmp-") || strings.HasSuffix(name, ".partial") || strings.Contains(name, ".partial-"))
}
