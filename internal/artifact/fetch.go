package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	getter "github.com/hashicorp/go-getter/v2"
)

// Defaults for the Options left at zero. There is no "unlimited": an artifact
// that needs more must say so through its Options.
const (
	DefaultMaxBytes int64 = 2 << 30 // 2 GiB downloaded
	DefaultMaxFiles       = 100_000 // entries in one archive
	// DefaultMaxUnpackedBytes is low on purpose: a 3 MB archive can
	// unpack to gigabytes, and every deploy leaves a copy on every host.
	// A unit whose release is larger says so (artifact.maxUnpackedSize).
	DefaultMaxUnpackedBytes int64 = 1 << 30 // 1 GiB unpacked
	DefaultTimeout                = 15 * time.Minute
)

// Errors a caller may want to tell apart with errors.Is.
var (
	ErrChecksumRequired = errors.New("a sha256 checksum is required")
	ErrChecksumMismatch = errors.New("checksum mismatch")
	ErrLocalSource      = errors.New("local sources are not allowed")
	ErrUnsafeArchive    = errors.New("unsafe archive")
	ErrLimitExceeded    = errors.New("limit exceeded")
	ErrDestNotEmpty     = errors.New("destination exists and is not empty")
)

// Options configure a Fetcher. The zero value is usable: remote sources only,
// no cache, checksums optional, default limits and timeout.
type Options struct {
	// CacheDir keeps archives by their sha256, so that an artifact with a
	// declared checksum is downloaded once however often it is deployed.
	// Empty disables the cache; artifacts without a checksum are never cached.
	CacheDir string
	// AllowLocal enables local paths and file:// sources (and git over
	// file://). The state repo should not normally be able to read the
	// controller's disk, so this is for tests and the CLI only.
	AllowLocal bool
	// RequireChecksum refuses sources without a declared checksum.
	RequireChecksum bool
	// MaxBytes bounds the size of a downloaded archive.
	MaxBytes int64
	// MaxFiles bounds the number of entries in an archive.
	MaxFiles int
	// MaxUnpackedBytes bounds the total size of the files unpacked. The
	// free space of the filesystem unpacked on bounds it too (less a
	// reserve, see Space.Usable), so that an archive that does not fit is
	// refused before it fills the disk.
	MaxUnpackedBytes int64
	// Timeout bounds one Fetch or Download, download and unpack included.
	Timeout time.Duration
	// HTTPClient is used for http(s) sources. The default refuses redirects
	// to other schemes and from https to http.
	HTTPClient *http.Client
	// Header is sent with every HTTP request, e.g. an Authorization header
	// for a private artifact server.
	Header http.Header
}

// Fetcher downloads, verifies and unpacks artifacts. It is safe for
// concurrent use.
type Fetcher struct {
	opts Options
}

// New returns a Fetcher with opts, zero limits replaced by the defaults.
func New(opts Options) *Fetcher {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.MaxUnpackedBytes <= 0 {
		opts.MaxUnpackedBytes = DefaultMaxUnpackedBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultHTTPClient()
	}
	return &Fetcher{opts: opts}
}

// Result describes a fetched artifact.
type Result struct {
	// SHA256 is the hex sha256 of the archive as downloaded.
	SHA256 string
	// ArchiveBytes is the size of the archive.
	ArchiveBytes int64
	// Files and Bytes count the regular files unpacked and their content
	// (zero for Download, which does not unpack).
	Files int
	Bytes int64
	// FromCache is true when the archive was not downloaded but taken from
	// the cache.
	FromCache bool
}

// Checksum returns the archive's checksum in the form Fetch accepts, ready
// to be written into the state repo.
func (r Result) Checksum() string { return "sha256:" + r.SHA256 }

// Fetch downloads the archive that source names, verifies it against
// checksum ("sha256:<hex>", or "" when not required) and unpacks it into
// dest, which must not exist or be an empty directory, and whose parent must
// exist. Everything is unpacked into a staging directory beside dest that is
// renamed to dest only when all of it succeeded: on error dest is untouched.
func (f *Fetcher) Fetch(ctx context.Context, source, checksum, dest string) (Result, error) {
	src, sum, err := f.prepare(source, checksum)
	if err != nil {
		return Result{}, fmt.Errorf("fetch %s: %w", src.display, err)
	}
	res, err := f.fetch(ctx, src, sum, dest)
	if err != nil {
		return Result{}, fmt.Errorf("fetch %s: %w", src.display, src.mask(err))
	}
	return res, nil
}

func (f *Fetcher) fetch(ctx context.Context, src *source, sum, dest string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	dest, err := checkDest(dest)
	if err != nil {
		return Result{}, err
	}
	staging, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-*")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(staging)
	a, err := f.obtain(ctx, src, sum, staging)
	if err != nil {
		return Result{}, err
	}
	tree := filepath.Join(staging, "tree")
	if err := os.Mkdir(tree, 0o700); err != nil {
		return Result{}, err
	}
	lim := limits{maxFiles: f.opts.MaxFiles, maxBytes: f.opts.MaxUnpackedBytes, where: filepath.Dir(dest)}
	if sp, err := FreeSpace(tree); err == nil {
		lim.space = &sp
	}
	st, err := unpackFile(ctx, a.path, tree, lim)
	if err != nil {
		return Result{}, err
	}
	if err := os.Chmod(tree, 0o755); err != nil {
		return Result{}, err
	}
	// rename(2) atomically replaces an empty directory and fails on one
	// that was filled in the meantime: never a half-written or merged dest.
	// (os.Rename refuses any existing directory, hence syscall.)
	if err := syscall.Rename(tree, dest); err != nil {
		return Result{}, fmt.Errorf("move into place: %w", &os.LinkError{Op: "rename", Old: tree, New: dest, Err: err})
	}
	return Result{SHA256: a.sha256, ArchiveBytes: a.size, Files: st.files, Bytes: st.bytes, FromCache: a.fromCache}, nil
}

// Download downloads and verifies the archive that source names and keeps it,
// as it is, at file (replacing a file already there), e.g. to archive a
// release before deploying it. The parent of file must exist.
func (f *Fetcher) Download(ctx context.Context, source, checksum, file string) (Result, error) {
	src, sum, err := f.prepare(source, checksum)
	if err != nil {
		return Result{}, fmt.Errorf("download %s: %w", src.display, err)
	}
	res, err := f.download(ctx, src, sum, file)
	if err != nil {
		return Result{}, fmt.Errorf("download %s: %w", src.display, src.mask(err))
	}
	return res, nil
}

func (f *Fetcher) download(ctx context.Context, src *source, sum, file string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	file, err := filepath.Abs(file)
	if err != nil {
		return Result{}, err
	}
	if err := checkParent(file); err != nil {
		return Result{}, err
	}
	if fi, err := os.Lstat(file); err == nil && fi.IsDir() {
		return Result{}, fmt.Errorf("%s is a directory", file)
	}
	staging, err := os.MkdirTemp(filepath.Dir(file), "."+filepath.Base(file)+".partial-*")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(staging)
	a, err := f.obtain(ctx, src, sum, staging)
	if err != nil {
		return Result{}, err
	}
	p := a.path
	if a.cached {
		p = filepath.Join(staging, "copy")
		if err := copyFile(ctx, a.path, p); err != nil {
			return Result{}, err
		}
	}
	if err := os.Chmod(p, 0o644); err != nil {
		return Result{}, err
	}
	// A symlink at file is replaced, not followed.
	if err := os.Rename(p, file); err != nil {
		return Result{}, fmt.Errorf("move into place: %w", err)
	}
	return Result{SHA256: a.sha256, ArchiveBytes: a.size, FromCache: a.fromCache}, nil
}

// prepare checks the checksum and the source. The returned source is never
// nil, so that its masked form can name it in any error.
func (f *Fetcher) prepare(source, checksum string) (*source, string, error) {
	sum, sumErr := parseChecksum(checksum, f.opts.RequireChecksum)
	src, err := parseSource(source, sum, f.opts.AllowLocal)
	if err != nil {
		return src, "", err
	}
	return src, sum, sumErr
}

// parseChecksum returns the lowercase hex of a "sha256:<hex>" checksum.
func parseChecksum(c string, require bool) (string, error) {
	if c == "" {
		if require {
			return "", ErrChecksumRequired
		}
		return "", nil
	}
	algo, val, ok := strings.Cut(c, ":")
	val = strings.ToLower(val)
	if _, err := hex.DecodeString(val); !ok || algo != "sha256" || len(val) != sha256.Size*2 || err != nil {
		return "", fmt.Errorf("checksum %q is not of the form sha256:<64 hex digits>", c)
	}
	return val, nil
}

// checkDest returns dest made absolute, after checking that it does not
// exist or is an empty directory (not a symlink to one), and that its parent
// is an existing directory.
func checkDest(dest string) (string, error) {
	if dest == "" {
		return "", errors.New("empty destination")
	}
	dest, err := filepath.Abs(dest)
	if err != nil {
		return "", err
	}
	if dest == filepath.Dir(dest) {
		return "", fmt.Errorf("destination %s is a root directory", dest)
	}
	if err := checkParent(dest); err != nil {
		return "", err
	}
	fi, err := os.Lstat(dest)
	if errors.Is(err, os.ErrNotExist) {
		return dest, nil
	}
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("destination %s exists and is not a directory", dest)
	}
	d, err := os.Open(dest)
	if err != nil {
		return "", err
	}
	defer d.Close()
	if _, err := d.Readdirnames(1); !errors.Is(err, io.EOF) {
		if err != nil {
			return "", err
		}
		return "", fmt.Errorf("%w: %s", ErrDestNotEmpty, dest)
	}
	return dest, nil
}

func checkParent(p string) error {
	parent := filepath.Dir(p)
	fi, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("parent directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("parent %s is not a directory", parent)
	}
	return nil
}

// local is a verified archive on local disk.
type local struct {
	path      string
	sha256    string
	size      int64
	cached    bool // path is in the cache: copy it, do not move it
	fromCache bool // and it was there before this call
}

// obtain gets a verified archive: from the cache when it has it, else
// downloaded into the cache (with a checksum) or into scratch (without).
func (f *Fetcher) obtain(ctx context.Context, src *source, sum, scratch string) (local, error) {
	if f.opts.CacheDir != "" && sum != "" {
		return f.fromCache(ctx, src, sum)
	}
	dst := filepath.Join(scratch, "archive")
	if err := f.get(ctx, src, dst); err != nil {
		return local{}, err
	}
	got, size, err := f.verify(dst, sum)
	if err != nil {
		return local{}, err
	}
	return local{path: dst, sha256: got, size: size}, nil
}

// fromCache looks the archive up by its checksum in the cache, verifying it
// again (a cache entry that does not match is fetched anew), and downloads it
// into the cache when it is missing.
func (f *Fetcher) fromCache(ctx context.Context, src *source, sum string) (local, error) {
	dir := filepath.Join(f.opts.CacheDir, "sha256")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return local{}, fmt.Errorf("cache: %w", err)
	}
	p := filepath.Join(dir, sum)
	fi, err := os.Lstat(p)
	switch {
	case err == nil && fi.Mode().IsRegular():
		if got, size, err := f.verify(p, sum); err == nil {
			return local{path: p, sha256: got, size: size, cached: true, fromCache: true}, nil
		}
		if err := os.Remove(p); err != nil {
			return local{}, fmt.Errorf("cache: %w", err)
		}
	case err == nil:
		return local{}, fmt.Errorf("cache entry %s is not a regular file", p)
	case !errors.Is(err, os.ErrNotExist):
		return local{}, fmt.Errorf("cache: %w", err)
	}
	f.sweepDownloads(dir)
	tmp, err := os.MkdirTemp(dir, ".download-*")
	if err != nil {
		return local{}, fmt.Errorf("cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, "archive")
	if err := f.get(ctx, src, dst); err != nil {
		return local{}, err
	}
	got, size, err := f.verify(dst, sum)
	if err != nil {
		return local{}, err
	}
	if err := os.Chmod(dst, 0o644); err != nil {
		return local{}, err
	}
	if err := os.Rename(dst, p); err != nil {
		return local{}, fmt.Errorf("cache: %w", err)
	}
	return local{path: p, sha256: got, size: size, cached: true}, nil
}

// sweepDownloads removes the download directories in the cache that a
// killed process left. The cache is shared by concurrent runs, so only
// directories older than twice the timeout go: no Fetch lasts that long.
func (f *Fetcher) sweepDownloads(dir string) {
	left, _ := filepath.Glob(filepath.Join(dir, ".download-*"))
	for _, p := range left {
		if fi, err := os.Lstat(p); err == nil && time.Since(fi.ModTime()) > 2*f.opts.Timeout {
			os.RemoveAll(p)
		}
	}
}

// get downloads src to the file dst with go-getter. go-getter checks the
// checksum too, but never unpacks anything: its decompressor map is empty.
func (f *Fetcher) get(ctx context.Context, src *source, dst string) error {
	client := &getter.Client{
		Getters: f.getters(),
		// Non-nil and empty: go-getter would otherwise pick its default,
		// unlimited decompressors. Unpacking is ours (unpack.go).
		Decompressors:   map[string]getter.Decompressor{},
		DisableSymlinks: true,
	}
	req := &getter.Request{
		Src:             src.getterSrc,
		Dst:             dst,
		GetMode:         getter.ModeFile,
		Copy:            true, // the file getter would otherwise symlink
		DisableSymlinks: true,
	}
	_, err := client.Get(ctx, req)
	var ce *getter.ChecksumError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: got sha256:%x, want sha256:%x", ErrChecksumMismatch, ce.Actual, ce.Expected)
	}
	return err
}

// getters returns the only getters gearshift means to use. None has a
// detector: sources must be explicit URLs.
func (f *Fetcher) getters() []getter.Getter {
	gs := []getter.Getter{
		&getter.HttpGetter{
			Client:              f.opts.HTTPClient,
			Header:              f.opts.Header,
			DoNotCheckHeadFirst: true, // every download starts from an empty file
			ReadTimeout:         f.opts.Timeout,
			// One byte more, so that verify can tell "too large" from
			// "exactly the limit": go-getter truncates silently.
			MaxBytes:              plusOne(f.opts.MaxBytes),
			XTerraformGetDisabled: true,
			XTerraformGetLimit:    1,
		},
	}
	if f.opts.AllowLocal {
		gs = append(gs, &getter.FileGetter{})
	}
	return gs
}

// verify hashes the archive at p, refusing one over MaxBytes (the file
// getter has no limit of its own) or one that does not match sum.
func (f *Fetcher) verify(p, sum string) (string, int64, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(fh, plusOne(f.opts.MaxBytes)))
	if err != nil {
		return "", n, err
	}
	if n > f.opts.MaxBytes {
		return "", n, fmt.Errorf("%w: archive is larger than %d bytes", ErrLimitExceeded, f.opts.MaxBytes)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if sum != "" && got != sum {
		return "", n, fmt.Errorf("%w: got sha256:%s, want sha256:%s", ErrChecksumMismatch, got, sum)
	}
	return got, n, nil
}

// plusOne is n+1 without overflowing.
func plusOne(n int64) int64 {
	if n == math.MaxInt64 {
		return n
	}
	return n + 1
}

func copyFile(ctx context.Context, from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, ctxReader{ctx, in})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// defaultHTTPClient follows at most 10 redirects, only to http(s) and never
// from https down to http. net/http drops Authorization on a redirect to
// another host.
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if s := req.URL.Scheme; s != "http" && s != "https" {
				return fmt.Errorf("refusing redirect to scheme %q", s)
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return errors.New("refusing redirect from https to http")
			}
			return nil
		},
	}
}
