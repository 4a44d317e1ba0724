package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gearshift-dev/gearshift/internal/proc"
)

// RunOptions tune one command. The zero value runs the command in the
// default directory with the minimal environment, no stdin and
// proc.DefaultTimeout.
type RunOptions struct {
	// Dir is the working directory; empty keeps the default.
	Dir string
	// Env is added to (and overrides) the minimal environment every command
	// starts from (proc.Environ: PATH, HOME, LANG, LC_*, TZ and the names in
	// GEARSHIFT_PASS_ENV, from gearshift's environment locally and from the
	// login's over SSH). Names must be shell identifiers so that both
	// transports accept the same set.
	Env map[string]string
	// MaxOutput is how many bytes of each of stdout and stderr are kept
	// (proc.DefaultMaxOutput when zero).
	MaxOutput int
	// Stdin is copied to the command's standard input; nil means empty.
	Stdin io.Reader
	// Timeout bounds the command (proc.DefaultTimeout when zero); when it
	// expires the command's process group is killed and Run returns an
	// error wrapping context.DeadlineExceeded.
	Timeout time.Duration
}

// RunResult is what a command that ran produced. A command that exits
// non-zero is a result, not an error: the caller decides what it means.
type RunResult struct {
	Stdout, Stderr []byte
	// ExitCode is the exit status, or 128+signal number when the command
	// was killed by a signal (the shell convention, on both transports).
	ExitCode int
}

// Transport is the set of operations the host driver needs on one host.
// Every method honours its context.
type Transport interface {
	// Host names the host in messages: "local" or "user@host:port".
	Host() string
	// Run runs argv and waits for it. The error is only for failing to run
	// it (not found, bad directory, timeout, lost connection); a non-zero
	// exit is reported in RunResult.ExitCode.
	Run(ctx context.Context, argv []string, o RunOptions) (RunResult, error)
	// StartDetached starts argv in dir as a background process that outlives
	// the call (new session), stdout+stderr appended to logFile, and returns its pid;
	// the pid is also written atomically to pidFile.
	StartDetached(ctx context.Context, argv []string, dir string, env map[string]string, logFile, pidFile string) (int, error)
	// ReadFile returns the contents of path; a missing file gives an error
	// wrapping fs.ErrNotExist.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFileAtomic replaces path with data so that readers see either
	// the old or the new content: it writes a temporary file in the same
	// directory, sets perm exactly (no umask), fsyncs it and renames it
	// over path. No temporary file is left behind on success or failure.
	WriteFileAtomic(ctx context.Context, path string, data []byte, perm fs.FileMode) error
	// MkdirAll creates path and missing parents; directories it creates get
	// perm exactly (no umask), existing ones are left alone.
	MkdirAll(ctx context.Context, path string, perm fs.FileMode) error
	// Rename renames from to to, replacing to if it exists (rename(2)).
	Rename(ctx context.Context, from, to string) error
	// Symlink creates link pointing at target; link must not exist.
	Symlink(ctx context.Context, target, link string) error
	// SwitchSymlink points link at target atomically: symlink at a temp name, then rename over link.
	// Readers resolving link at any moment see the old or the new target.
	SwitchSymlink(ctx context.Context, target, link string) error
	// Readlink returns the target of the symbolic link.
	Readlink(ctx context.Context, link string) (string, error)
	// RemoveAll removes path and everything below it; a missing path is
	// not an error. It refuses "" and "/".
	RemoveAll(ctx context.Context, path string) error
	// ReadDir returns the names in dir, sorted, without "." and "..".
	ReadDir(ctx context.Context, dir string) ([]string, error)
	// Exists reports whether anything (a symlink counts, even dangling) is
	// at path.
	Exists(ctx context.Context, path string) (bool, error)
	// CopyTree copies a local directory tree (regular files and dirs only) to path on the host.
	// remoteDir is created (0755) if missing; below it modes are kept.
	// Files already at the destination are overwritten, others are left
	// alone. Any other kind of entry (symlink, device) is
	// an error rather than being silently left out of a release.
	CopyTree(ctx context.Context, localDir, remoteDir string) error
	// StatFS reports the space of the filesystem holding path, in bytes:
	// what an unprivileged user may still use, and the total. A transport
	// that cannot ask (an SFTP server without statvfs@openssh.com)
	// returns an error wrapping errors.ErrUnsupported, and the caller
	// runs df instead.
	StatFS(ctx context.Context, path string) (free, total uint64, err error)
	// Close releases the connection, if any.
	Close() error
}

// Quote quotes argv for a POSIX shell so that the shell's word splitting
// yields exactly argv: words made only of characters with no meaning to the
// shell stay as they are, every other word is put in single quotes, inside
// which nothing is special but the single quote itself, written as
//
//	'\''
//
// The result is safe for any bytes except NUL, which no argv can carry;
// callers reject it.
func Quote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quoteWord(a))
	}
	return b.String()
}

func quoteWord(s string) string {
	if s != "" && strings.Trim(s, safeChars) == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// safeChars never need quoting. '=' is left out so that a first word like
// A=b is not taken as an assignment, '~' so that it is not expanded.
const safeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+:,./-"

// checkArgv rejects what neither transport can run.
func checkArgv(argv []string) error { return proc.Check(argv) }

// checkEnv accepts only names a shell can export, so that a variable that
// works locally also works over SSH, and values without NUL.
func checkEnv(env map[string]string) error { return proc.CheckVars(env) }

// checkRemovable refuses to remove the root or the empty path: a bug
// upstream must not turn into rm -rf /.
func checkRemovable(p string) error {
	if p == "" || path.Clean(filepath.ToSlash(p)) == "/" {
		return fmt.Errorf("refusing to remove %q", p)
	}
	return nil
}

// tempName is a fresh name next to base for a file that is renamed over
// base once complete. It starts with a dot and contains ".tmp-" so that a
// leftover from a crash is recognisable.
func tempName(base string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "." + base + ".tmp-" + hex.EncodeToString(b[:])
}

// treeWriter is the destination half of CopyTree; paths are slash-separated
// and relative to the destination root ("." is the root, which mkdir
// creates with its parents as 0755; other directories are created 0700 and
// an existing one is not an error).
type treeWriter interface {
	mkdir(rel string) error
	writeFile(rel string, src *os.File, perm fs.FileMode) error
	chmod(rel string, perm fs.FileMode) error
}

// copyTreeWorkers bounds the files copied at once: over SSH each file costs
// a few round trips, so a handful in flight hides latency.
const copyTreeWorkers = 4

// copyTree walks localDir and replays it into w. Directories are created
// owner-writable first and get their own mode only after their contents are
// written, so read-only directories copy too. The root's mode is not
// copied: artifacts are often unpacked into 0700 temporary directories,
// and a release directory must stay readable by the service user.
func copyTree(ctx context.Context, localDir string, w treeWriter) error {
	if fi, err := os.Stat(localDir); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("copy %s: not a directory", localDir)
	}
	type dirMode struct {
		rel  string
		perm fs.FileMode
	}
	var (
		dirs []dirMode
		wg   sync.WaitGroup
		mu   sync.Mutex
		werr error
		sem  = make(chan struct{}, copyTreeWorkers)
	)
	failed := func() error { mu.Lock(); defer mu.Unlock(); return werr }
	walkErr := filepath.WalkDir(localDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := failed(); err != nil {
			return err
		}
		rel, err := filepath.Rel(localDir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, dirMode{rel, info.Mode().Perm()})
			return w.mkdir(rel)
		case d.Type().IsRegular():
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := copyOne(p, rel, info.Mode().Perm(), w); err != nil {
					mu.Lock()
					if werr == nil {
						werr = err
					}
					mu.Unlock()
				}
			}()
			return nil
		default:
			return fmt.Errorf("copy %s: %s is not a regular file or directory", p, info.Mode().Type())
		}
	})
	wg.Wait()
	if walkErr != nil {
		return walkErr
	}
	if werr != nil {
		return werr
	}
	for i := len(dirs) - 1; i > 0; i-- { // dirs[0] is the root
		if err := w.chmod(dirs[i].rel, dirs[i].perm); err != nil {
			return err
		}
	}
	return nil
}

func copyOne(src, rel string, perm fs.FileMode, w treeWriter) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return w.writeFile(rel, f, perm)
}
