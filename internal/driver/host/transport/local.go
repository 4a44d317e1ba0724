package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/gearshift-dev/gearshift/internal/proc"
)

// Local returns the Transport for this machine. Commands are started by
// proc from argv, never through a shell, with proc's minimal environment.
func Local() Transport { return local{} }

type local struct{}

func (local) Host() string { return "local" }

func (local) Close() error { return nil }

func (local) StatFS(ctx context.Context, path string) (free, total uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// waitDelay bounds how long a timed-out SSH Run waits for its session to
// end after the kill.
const waitDelay = 2 * time.Second

// Run delegates to proc, the one runner of every local process: no shell,
// the minimal environment plus o.Env, the process group killed on timeout.
func (local) Run(ctx context.Context, argv []string, o RunOptions) (RunResult, error) {
	res, err := proc.Run(ctx, proc.Cmd{Argv: argv, Dir: o.Dir, Env: o.Env, Stdin: o.Stdin, Timeout: o.Timeout, MaxOutput: o.MaxOutput})
	// proc's errors name the command already.
	return RunResult{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

func (l local) StartDetached(ctx context.Context, argv []string, dir string, env map[string]string, logFile, pidFile string) (int, error) {
	if err := proc.Check(argv); err != nil {
		return 0, err
	}
	if err := proc.CheckVars(env); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	defer logf.Close() // the child has its own copy
	pid, err := proc.StartDetached(ctx, proc.Cmd{Argv: argv, Dir: dir, Env: env}, logf)
	if err != nil {
		return 0, err
	}
	if err := l.WriteFileAtomic(ctx, pidFile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return pid, fmt.Errorf("started %s as pid %d but could not record it: %w", argv[0], pid, err)
	}
	return pid, nil
}

func (local) ReadFile(ctx context.Context, path string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

func (local) WriteFileAtomic(ctx context.Context, path string, data []byte, perm fs.FileMode) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.OpenFile(filepath.Join(dir, tempName(filepath.Base(path))), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func (local) MkdirAll(ctx context.Context, path string, perm fs.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var missing []string
	for d := filepath.Clean(path); ; {
		if _, err := os.Lstat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if err := os.MkdirAll(path, perm); err != nil {
		return err
	}
	for _, d := range missing {
		if err := os.Chmod(d, perm); err != nil {
			return err
		}
	}
	return nil
}

func (local) Rename(ctx context.Context, from, to string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return os.Rename(from, to)
}

func (local) Symlink(ctx context.Context, target, link string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return os.Symlink(target, link)
}

func (local) SwitchSymlink(ctx context.Context, target, link string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(link), tempName(filepath.Base(link)))
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func (local) Readlink(ctx context.Context, link string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return os.Readlink(link)
}

func (local) RemoveAll(ctx context.Context, path string) error {
	if err := checkRemovable(path); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return os.RemoveAll(path)
}

func (local) ReadDir(ctx context.Context, dir string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

func (local) Exists(ctx context.Context, path string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil
	}
	return err == nil, err
}

func (local) CopyTree(ctx context.Context, localDir, remoteDir string) error {
	return copyTree(ctx, localDir, localTree{root: remoteDir})
}

type localTree struct{ root string }

func (w localTree) path(rel string) string { return filepath.Join(w.root, filepath.FromSlash(rel)) }

func (w localTree) mkdir(rel string) error {
	if rel == "." {
		return local{}.MkdirAll(context.Background(), w.root, 0o755)
	}
	err := os.Mkdir(w.path(rel), 0o700)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

func (w localTree) writeFile(rel string, src *os.File, perm fs.FileMode) error {
	dst, err := os.OpenFile(w.path(rel), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Chmod(perm)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w localTree) chmod(rel string, perm fs.FileMode) error { return os.Chmod(w.path(rel), perm) }
