package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultArchiveKeep is how many archives of each unit a target's archive
// directory keeps when archive.keep is not set (the schema's default).
const DefaultArchiveKeep = 10

// archive keeps the downloaded artifact before the deploy changes anything
// that runs: in the target's archive directory when it has one
// (tsd-import: every tarball of the site in {transfer}/sw/archive), else
// under the unit's own archive/ (hostRun.archive).
func (d *Driver) archive(ctx context.Context, h *hostRun, file, id string) error {
	a := d.Target.Archive
	if a == nil || a.Dir == "" {
		return h.archive(ctx, file, id)
	}
	dir, err := archiveDir(a.Dir, h.host)
	if err != nil {
		return err
	}
	if err := h.c.MkdirAll(ctx, dir, 0o755); err != nil {
		return fmt.Errorf("archive: make %s: %w", dir, err)
	}
	name := sharedArchiveName(h.l.Unit, id, file)
	if err := h.copyInto(ctx, file, dir, name); err != nil {
		return fmt.Errorf("archive %s: %w", file, err)
	}
	h.say("archived the artifact as %s", path.Join(dir, name))
	keep := a.Keep
	if keep <= 0 {
		keep = DefaultArchiveKeep
	}
	if err := h.pruneSharedArchive(ctx, dir, keep); err != nil {
		// The archive is complete; an old one that stays is no failure.
		h.say("could not remove old archives from %s: %v", dir, err)
	}
	return nil
}

// archiveDir is the archive directory on host h, {host} replaced as in a
// root.
func archiveDir(dir, h string) (string, error) {
	if !strings.Contains(dir, "{host}") {
		return dir, nil
	}
	name := hostName(h)
	if strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return "", fmt.Errorf("host %q cannot be part of a path ({host} in archive.dir %s)", name, dir)
	}
	return strings.ReplaceAll(dir, "{host}", name), nil
}

// sharedArchiveName is <unit>_<id><ext>. A unit's name has no "_" (#Name),
// so the unit of every name in a shared directory is known.
func sharedArchiveName(unit, id, file string) string {
	return unit + "_" + id + archiveExt(file)
}

// copyInto copies file to dir/name under a temporary name and renames it,
// so a file there is always complete.
func (h *hostRun) copyInto(ctx context.Context, file, dir, name string) error {
	stage, err := os.MkdirTemp("", "gearshift-archive-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	tmp := "." + name + ".partial"
	if err := linkOrCopy(file, filepath.Join(stage, tmp)); err != nil {
		return err
	}
	if err := h.c.CopyTree(ctx, stage, dir); err != nil {
		return err
	}
	return h.c.Rename(ctx, path.Join(dir, tmp), path.Join(dir, name))
}

// pruneSharedArchive keeps the newest keep archives of h's unit in dir (by
// the deploy time in their release id) and removes the older ones, and
// the unit's partial copies that an interrupted run left. Other units'
// files, and names that are not this unit's archives, are never touched.
// keepReleases plays no part: the archive is the site's record of what
// was deployed, not the releases a rollback returns to.
func (h *hostRun) pruneSharedArchive(ctx context.Context, dir string, keep int) error {
	names, err := h.c.ReadDir(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	prefix := h.l.Unit + "_"
	type arch struct{ name, id string }
	var mine []arch
	var errs []error
	for _, n := range names {
		if isTemp(n) && strings.HasPrefix(n, "."+prefix) {
			if err := h.c.RemoveAll(ctx, path.Join(dir, n)); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		rest, ok := strings.CutPrefix(n, prefix)
		if !ok {
			continue
		}
		if id, ok := archiveID(rest); ok {
			mine = append(mine, arch{n, id})
		}
	}
	sort.Slice(mine, func(i, j int) bool {
		ti, _ := IDTime(mine[i].id)
		tj, _ := IDTime(mine[j].id)
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return mine[i].name > mine[j].name
	})
	for i, a := range mine {
		if i < keep {
			continue
		}
		if err := h.c.RemoveAll(ctx, path.Join(dir, a.name)); err != nil {
			errs = append(errs, err)
			continue
		}
		h.say("removed old archive %s", path.Join(dir, a.name))
	}
	return errors.Join(errs...)
}
