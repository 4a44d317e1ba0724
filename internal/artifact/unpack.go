package artifact

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// limits bound what one archive may unpack to.
type limits struct {
	maxFiles int   // entries of any kind
	maxBytes int64 // bytes of file content, counted while copying
	// space is set when the free space of the destination's filesystem
	// is known: no more than space.Usable() is written there.
	space *Space
	where string // the destination, for the message
}

// capacity is how many bytes of content may be written in all.
func (l limits) capacity() int64 {
	if l.space != nil {
		return min(l.maxBytes, l.space.Usable())
	}
	return l.maxBytes
}

// tooBig is the error for an archive whose content exceeds capacity:
// the limit, or the free space when that is what is smaller.
func (l limits) tooBig(what string) error {
	if l.space != nil && l.space.Usable() < l.maxBytes {
		return fmt.Errorf("%w: %s would exceed the %s usable on the filesystem of %s (%s free, less a reserve of %s); the unpack limit is %s",
			ErrNoSpace, what, FormatSize(l.space.Usable()), l.where, FormatSize(l.space.Free), FormatSize(l.space.Free-l.space.Usable()), FormatSize(l.maxBytes))
	}
	return fmt.Errorf("%w: %s would exceed %d bytes (%s, the unpack limit: artifact.maxUnpackedSize)", ErrLimitExceeded, what, l.maxBytes, FormatSize(l.maxBytes))
}

// unpackStats is what an archive unpacked to.
type unpackStats struct {
	files int   // regular files written
	bytes int64 // bytes written to them
}

// format is an archive format, found from the archive's first bytes rather
// than from the source's name, which the git getter does not keep.
type format string

const (
	formatTar   format = "tar"
	formatTarGz format = "tar.gz"
	formatZip   format = "zip"
)

// sniff reads the first bytes of an archive to find its format. Anything that
// is neither gzip nor zip is read as a tar, whose reader checks every header.
func sniff(r io.ReaderAt) (format, error) {
	head := make([]byte, 6)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return formatTarGz, nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return formatZip, nil
	case bytes.HasPrefix(head, []byte("BZh")),
		bytes.HasPrefix(head, []byte("\xfd7zXZ\x00")),
		bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "", errors.New("unsupported archive format: only .tar, .tar.gz/.tgz and .zip are accepted")
	}
	return formatTar, nil
}

// unpackFile unpacks the archive at archivePath into dir, an existing empty
// directory that nobody else writes to.
func unpackFile(ctx context.Context, archivePath, dir string, lim limits) (unpackStats, error) {
	f, err := os.Open(archivePath)
	if err != nil {
		return unpackStats{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return unpackStats{}, err
	}
	kind, err := sniff(f)
	if err != nil {
		return unpackStats{}, err
	}
	switch kind {
	case formatZip:
		return unpackZip(ctx, f, fi.Size(), dir, lim)
	case formatTarGz:
		zr, err := gzip.NewReader(f)
		if err != nil {
			return unpackStats{}, fmt.Errorf("read gzip: %w", err)
		}
		defer zr.Close()
		return unpackTar(ctx, zr, dir, lim)
	default:
		return unpackTar(ctx, f, dir, lim)
	}
}

// unpackTar unpacks a tar stream into dir. It refuses, rather than skips,
// every entry that is not a regular file or a directory.
func unpackTar(ctx context.Context, r io.Reader, dir string, lim limits) (unpackStats, error) {
	u, err := newUnpacker(ctx, dir, lim)
	if err != nil {
		return unpackStats{}, err
	}
	defer u.root.Close()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return u.stats, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, tar.ErrInsecurePath) && hdr != nil {
			return u.stats, fmt.Errorf("%w: entry %q has an insecure path", ErrUnsafeArchive, hdr.Name)
		}
		if err != nil {
			return u.stats, fmt.Errorf("read tar: %w", err)
		}
		if err := u.count(); err != nil {
			return u.stats, err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // PAX defaults for later entries; nothing to write
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return u.stats, err
		}
		perm := fs.FileMode(hdr.Mode) & fs.ModePerm
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = u.mkdir(name, perm)
		case tar.TypeReg, tar.TypeRegA:
			err = u.writeFile(name, perm, tr, hdr.Size)
		case tar.TypeSymlink:
			err = fmt.Errorf("%w: entry %q is a symlink", ErrUnsafeArchive, hdr.Name)
		case tar.TypeLink:
			err = fmt.Errorf("%w: entry %q is a hard link", ErrUnsafeArchive, hdr.Name)
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			err = fmt.Errorf("%w: entry %q is a device or fifo", ErrUnsafeArchive, hdr.Name)
		default:
			err = fmt.Errorf("%w: entry %q has unsupported type %q", ErrUnsafeArchive, hdr.Name, hdr.Typeflag)
		}
		if err != nil {
			return u.stats, err
		}
	}
	return u.finish()
}

// unpackZip unpacks a zip archive into dir, with the same refusals as
// unpackTar. Sizes declared in the zip directory are not trusted: bytes are
// counted while copying.
func unpackZip(ctx context.Context, ra io.ReaderAt, size int64, dir string, lim limits) (unpackStats, error) {
	zr, err := zip.NewReader(ra, size)
	if errors.Is(err, zip.ErrInsecurePath) {
		return unpackStats{}, fmt.Errorf("%w: an entry has an insecure path", ErrUnsafeArchive)
	}
	if err != nil {
		return unpackStats{}, fmt.Errorf("read zip: %w", err)
	}
	if len(zr.File) > lim.maxFiles {
		return unpackStats{}, fmt.Errorf("%w: archive has %d entries, more than %d", ErrLimitExceeded, len(zr.File), lim.maxFiles)
	}
	// The sizes the zip declares are refused up front when they do not
	// fit (they are still not trusted: bytes are counted while copying).
	var declared uint64
	for _, zf := range zr.File {
		declared += min(zf.UncompressedSize64, math.MaxInt64)
		if declared > uint64(lim.capacity()) {
			return unpackStats{}, lim.tooBig(fmt.Sprintf("the declared unpacked size (at least %d bytes)", declared))
		}
	}
	u, err := newUnpacker(ctx, dir, lim)
	if err != nil {
		return unpackStats{}, err
	}
	defer u.root.Close()
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return u.stats, err
		}
		if err := u.count(); err != nil {
			return u.stats, err
		}
		name, err := cleanName(zf.Name)
		if err != nil {
			return u.stats, err
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			err = u.mkdir(name, mode.Perm())
		case mode.IsRegular():
			err = u.writeZipFile(name, zf)
		case mode&fs.ModeSymlink != 0:
			err = fmt.Errorf("%w: entry %q is a symlink", ErrUnsafeArchive, zf.Name)
		default:
			err = fmt.Errorf("%w: entry %q has unsupported mode %v", ErrUnsafeArchive, zf.Name, mode)
		}
		if err != nil {
			return u.stats, err
		}
	}
	return u.finish()
}

// cleanName turns an archive entry name into a local, slash-separated path.
// It refuses names that are absolute or have a ".." component anywhere (even
// one that would cancel out), rather than trying to make sense of them.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: entry with an empty name", ErrUnsafeArchive)
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("%w: entry %q has a NUL in its name", ErrUnsafeArchive, name)
	case strings.Contains(name, `\`):
		return "", fmt.Errorf("%w: entry %q has a backslash in its name", ErrUnsafeArchive, name)
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("%w: entry %q is an absolute path", ErrUnsafeArchive, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: entry %q has a .. component", ErrUnsafeArchive, name)
		}
	}
	clean := path.Clean(name)
	if clean != "." && !filepath.IsLocal(filepath.FromSlash(clean)) {
		return "", fmt.Errorf("%w: entry %q escapes the destination", ErrUnsafeArchive, name)
	}
	return clean, nil
}

// unpacker writes entries through an os.Root, so that even a bug in the name
// checks above cannot make it write outside dir or through a symlink.
type unpacker struct {
	ctx     context.Context
	root    *os.Root
	lim     limits
	entries int
	stats   unpackStats
	dirs    map[string]fs.FileMode
}

func newUnpacker(ctx context.Context, dir string, lim limits) (*unpacker, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &unpacker{ctx: ctx, root: root, lim: lim, dirs: map[string]fs.FileMode{}}, nil
}

// count counts one more entry against the entry limit.
func (u *unpacker) count() error {
	u.entries++
	if u.entries > u.lim.maxFiles {
		return fmt.Errorf("%w: archive has more than %d entries", ErrLimitExceeded, u.lim.maxFiles)
	}
	return nil
}

// mkdir creates a directory entry. Its mode is applied at the end (a
// directory without write permission would refuse the files inside it) and
// always keeps the owner's rwx, so that the release can be removed later.
func (u *unpacker) mkdir(name string, perm fs.FileMode) error {
	if name == "." {
		return nil
	}
	if err := u.root.MkdirAll(filepath.FromSlash(name), 0o755); err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	u.dirs[name] = perm | 0o700
	return nil
}

func (u *unpacker) writeZipFile(name string, zf *zip.File) error {
	declared := int64(math.MaxInt64)
	if zf.UncompressedSize64 < math.MaxInt64 {
		declared = int64(zf.UncompressedSize64)
	}
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("entry %q: %w", zf.Name, err)
	}
	defer rc.Close()
	return u.writeFile(name, zf.Mode().Perm(), rc, declared)
}

// writeFile creates a new regular file with exactly the permission bits perm
// (never setuid, setgid or sticky). A name that already exists, whatever it
// is, is refused: O_EXCL neither overwrites nor follows.
func (u *unpacker) writeFile(name string, perm fs.FileMode, r io.Reader, declared int64) error {
	if name == "." {
		return fmt.Errorf("%w: a file entry names the destination itself", ErrUnsafeArchive)
	}
	remaining := u.lim.capacity() - u.stats.bytes
	if declared > remaining {
		return u.lim.tooBig("the unpacked size")
	}
	local := filepath.FromSlash(name)
	if parent := filepath.Dir(local); parent != "." {
		if err := u.root.MkdirAll(parent, 0o755); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
	}
	f, err := u.root.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: entry %q appears twice", ErrUnsafeArchive, name)
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	n, err := io.Copy(f, io.LimitReader(ctxReader{u.ctx, r}, remaining+1))
	u.stats.bytes += n
	if err == nil && n > remaining {
		err = u.lim.tooBig("the unpacked size")
	}
	if err == nil {
		err = f.Chmod(perm) // fchmod: exact bits, whatever the umask
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, ErrLimitExceeded) || errors.Is(err, ErrNoSpace) {
			return err
		}
		return fmt.Errorf("entry %q: %w", name, err)
	}
	u.stats.files++
	return nil
}

// finish applies directory modes, deepest first, and refuses an archive that
// held no file: a release that unpacks to nothing is a mistake upstream.
func (u *unpacker) finish() (unpackStats, error) {
	if u.stats.files == 0 {
		return u.stats, errors.New("archive holds no files")
	}
	names := make([]string, 0, len(u.dirs))
	for n := range u.dirs {
		names = append(names, n)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, n := range names {
		d, err := u.root.Open(filepath.FromSlash(n))
		if err != nil {
			return u.stats, err
		}
		err = d.Chmod(u.dirs[n])
		d.Close()
		if err != nil {
			return u.stats, err
		}
	}
	return u.stats, nil
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
