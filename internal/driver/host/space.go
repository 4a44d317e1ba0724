package host

// The free space of a host's release filesystem, checked before a release
// is copied there, so that a release that does not fit is refused with a
// message instead of filling the disk half-way (which leaves .partial
// files, tears the journal's last line and starves the services that run
// from the same filesystem).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	art "github.com/gearshift-dev/gearshift/internal/artifact"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
)

// dfTimeout bounds the free-space query.
const dfTimeout = 30 * time.Second

// freeSpace is the space of the filesystem holding dir on the host: from
// the transport (statfs here, the SFTP server's statvfs over SSH, which
// costs no process on the host), or else from POSIX `df -P -k` run
// through the transport.
func freeSpace(ctx context.Context, c Conn, dir string) (art.Space, error) {
	free, total, err := c.StatFS(ctx, dir)
	if err == nil && free <= 1<<62 && total <= 1<<62 {
		return art.Space{Free: int64(free), Total: int64(total)}, nil
	}
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return art.Space{}, err
	}
	res, err := c.Run(ctx, []string{"df", "-P", "-k", "--", dir}, transport.RunOptions{Timeout: dfTimeout})
	if err != nil {
		return art.Space{}, err
	}
	if res.ExitCode != 0 {
		return art.Space{}, fmt.Errorf("df %s: exit %d: %s", dir, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return parseDF(res.Stdout)
}

// parseDF reads the output of `df -P -k`: a header, then one line of
// "filesystem 1024-blocks used available capacity% mounted-on". The
// filesystem's name and the mount point may contain spaces, so the
// numbers are found from the capacity, the first field ending in '%'.
func parseDF(out []byte) (art.Space, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 {
		return art.Space{}, fmt.Errorf("df printed no filesystem: %q", out)
	}
	f := strings.Fields(lines[len(lines)-1])
	for i := 3; i < len(f); i++ {
		if !strings.HasSuffix(f[i], "%") {
			continue
		}
		total, err1 := strconv.ParseInt(f[i-3], 10, 64)
		avail, err2 := strconv.ParseInt(f[i-1], 10, 64)
		if err1 != nil || err2 != nil || total < 0 || avail < 0 || total > 1<<53 || avail > 1<<53 {
			break
		}
		return art.Space{Free: avail << 10, Total: total << 10}, nil
	}
	return art.Space{}, fmt.Errorf("df printed an unexpected line: %q", lines[len(lines)-1])
}

// treeSize is what a local tree takes on disk, roughly: its files rounded
// up to 4 KiB blocks, and a block per directory.
func treeSize(dir string) (int64, error) {
	const block = 4096
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n += block
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += (fi.Size() + block - 1) / block * block
		return nil
	})
	return n, err
}

// fileSize is a local file's size on disk, rounded up to 4 KiB.
func fileSize(p string) (int64, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return (fi.Size() + 4095) / 4096 * 4096, nil
}

// checkSpace refuses a release that does not fit in the usable space of
// the unit's filesystem on the host (see art.Space.Usable): the archive
// copy and the unpacked tree. When the archive goes to the target's
// archive directory (archDir, tsd-import's {transfer}/sw/archive), that
// directory's filesystem must hold the archive: when it is another
// filesystem than the unit's, each is checked for its own part.
func (h *hostRun) checkSpace(ctx context.Context, artifactDir, archiveFile, archDir, id string) error {
	var tree, arch int64
	var err error
	if artifactDir != "" {
		if tree, err = treeSize(artifactDir); err != nil {
			return err
		}
	}
	if archiveFile != "" {
		if arch, err = fileSize(archiveFile); err != nil {
			return err
		}
	}
	if tree+arch == 0 {
		return nil
	}
	sp, err := freeSpace(ctx, h.c, h.l.Dir())
	if err != nil {
		return fmt.Errorf("cannot tell the free space of %s: %w", h.l.Dir(), err)
	}
	need, parts := tree+arch, fmt.Sprintf("unpacked %s, archive %s", art.FormatSize(tree), art.FormatSize(arch))
	if archDir != "" && arch > 0 {
		asp, err := freeSpaceNear(ctx, h.c, archDir)
		if err != nil {
			return fmt.Errorf("cannot tell the free space of the archive directory %s: %w", archDir, err)
		}
		// Two filesystems that report the same free and total bytes are
		// taken for one (statfs names no device over SFTP).
		if asp != sp {
			if arch > asp.Usable() {
				return fmt.Errorf("%w: the archive of release %s needs %s and the filesystem of the archive directory %s has %s usable (%s free, less a reserve of %s)",
					art.ErrNoSpace, id, art.FormatSize(arch), archDir, art.FormatSize(asp.Usable()), art.FormatSize(asp.Free), art.FormatSize(asp.Free-asp.Usable()))
			}
			need, parts = tree, fmt.Sprintf("unpacked %s; its archive goes to %s", art.FormatSize(tree), archDir)
		}
	}
	if need > sp.Usable() {
		return fmt.Errorf("%w: release %s needs %s (%s) and the filesystem of %s has %s usable (%s free, less a reserve of %s)",
			art.ErrNoSpace, id, art.FormatSize(need), parts,
			h.l.Dir(), art.FormatSize(sp.Usable()), art.FormatSize(sp.Free), art.FormatSize(sp.Free-sp.Usable()))
	}
	return nil
}

// freeSpaceNear is the free space of the filesystem that dir is, or will
// be, made on: that of its nearest ancestor that exists.
func freeSpaceNear(ctx context.Context, c Conn, dir string) (art.Space, error) {
	for {
		ok, err := c.Exists(ctx, dir)
		if err != nil {
			return art.Space{}, err
		}
		parent := path.Dir(dir)
		if ok || parent == dir {
			return freeSpace(ctx, c, dir)
		}
		dir = parent
	}
}
