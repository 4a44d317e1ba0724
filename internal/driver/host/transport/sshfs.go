package transport

// File operations over SFTP. The SFTP client's calls take no context: each
// method checks ctx before every step instead, and a connection that stops
// answering is closed by the keepalive, which fails any call still waiting.
// A call is never abandoned half-way, so that a write the caller gave up on
// cannot land later.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
)

const (
	extPosixRename = "posix-rename@openssh.com"
	extFsync       = "fsync@openssh.com"
)

// needExt fails clearly when the server lacks an extension an atomic
// operation depends on, rather than falling back to something weaker.
func (t *sshTransport) needExt(name, op, p string) error {
	if v, ok := t.fs.HasExtension(name); !ok || v != "1" {
		return t.wrap(op, p, fmt.Errorf("the SFTP server does not support %s, which this needs", name))
	}
	return nil
}

func (t *sshTransport) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := t.fs.Open(p)
	if err != nil {
		return nil, t.wrap("open", p, err)
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		return nil, t.wrap("read", p, err)
	}
	return b.Bytes(), nil
}

func (t *sshTransport) WriteFileAtomic(ctx context.Context, p string, data []byte, perm fs.FileMode) (err error) {
	if err := t.needExt(extPosixRename, "write", p); err != nil {
		return err
	}
	if err := t.needExt(extFsync, "write", p); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp := path.Join(path.Dir(p), tempName(path.Base(p)))
	f, err := t.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return t.wrap("create", tmp, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = t.fs.Remove(tmp)
		}
	}()
	step := func(op string, e error) error {
		if e == nil {
			e = ctx.Err()
		}
		return t.wrap(op, tmp, e)
	}
	_, err = f.ReadFrom(bytes.NewReader(data))
	if err := step("write", err); err != nil {
		return err
	}
	if err := step("chmod", f.Chmod(perm)); err != nil {
		return err
	}
	if err := step("fsync", f.Sync()); err != nil {
		return err
	}
	if err := step("close", f.Close()); err != nil {
		return err
	}
	return t.wrap("rename", p, t.fs.PosixRename(tmp, p))
}

func (t *sshTransport) MkdirAll(ctx context.Context, p string, perm fs.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.wrap("mkdir", p, t.mkdirAll(ctx, path.Clean(p), perm))
}

func (t *sshTransport) mkdirAll(ctx context.Context, p string, perm fs.FileMode) error {
	fi, err := t.fs.Stat(p)
	if err == nil {
		if fi.IsDir() {
			return nil
		}
		return syscall.ENOTDIR
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if parent := path.Dir(p); parent != p && parent != "." {
		if err := t.mkdirAll(ctx, parent, perm); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.fs.Mkdir(p); err != nil {
		if fi, serr := t.fs.Stat(p); serr == nil && fi.IsDir() {
			return nil // made by someone else meanwhile
		}
		return err
	}
	return t.fs.Chmod(p, perm)
}

func (t *sshTransport) Rename(ctx context.Context, from, to string) error {
	if err := t.needExt(extPosixRename, "rename", from); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Plain SFTP rename fails when to exists; posix-rename is rename(2).
	return t.wrap("rename", from+" -> "+to, t.fs.PosixRename(from, to))
}

func (t *sshTransport) Symlink(ctx context.Context, target, link string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.wrap("symlink", link, t.fs.Symlink(target, link))
}

func (t *sshTransport) SwitchSymlink(ctx context.Context, target, link string) error {
	if err := t.needExt(extPosixRename, "symlink", link); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp := path.Join(path.Dir(link), tempName(path.Base(link)))
	if err := t.fs.Symlink(target, tmp); err != nil {
		return t.wrap("symlink", tmp, err)
	}
	if err := t.fs.PosixRename(tmp, link); err != nil {
		_ = t.fs.Remove(tmp)
		return t.wrap("rename", link, err)
	}
	return nil
}

func (t *sshTransport) Readlink(ctx context.Context, link string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	target, err := t.fs.ReadLink(link)
	return target, t.wrap("readlink", link, err)
}

// StatFS asks the SFTP server (statvfs@openssh.com): no command, no
// process on the host.
func (t *sshTransport) StatFS(ctx context.Context, p string) (free, total uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if _, ok := t.fs.HasExtension("statvfs@openssh.com"); !ok {
		return 0, 0, t.wrap("statvfs", p, errors.ErrUnsupported)
	}
	st, err := t.fs.StatVFS(p)
	if err != nil {
		return 0, 0, t.wrap("statvfs", p, err)
	}
	return st.Bavail * st.Frsize, st.Blocks * st.Frsize, nil
}

// RemoveAll removes a file or a missing path over SFTP, and runs rm -rf on
// the host only for a directory: SFTP has no recursive remove, and
// removing a release directory entry by entry costs a round trip per file,
// while a command costs a process on the host, which a fleet's many small
// removals (records, pid files, archives) need not pay.
func (t *sshTransport) RemoveAll(ctx context.Context, p string) error {
	if err := checkRemovable(p); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := t.fs.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err == nil && !fi.IsDir():
		if err := t.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return t.wrap("remove", p, err)
		}
		return nil
	}
	res, err := t.Run(ctx, []string{"rm", "-rf", "--", p}, RunOptions{})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return t.wrap("remove", p, fmt.Errorf("rm: exit status %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr))))
	}
	return nil
}

func (t *sshTransport) ReadDir(ctx context.Context, dir string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	infos, err := t.fs.ReadDir(dir)
	if err != nil {
		return nil, t.wrap("readdir", dir, err)
	}
	names := make([]string, 0, len(infos))
	for _, fi := range infos {
		if n := fi.Name(); n != "." && n != ".." {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

func (t *sshTransport) Exists(ctx context.Context, p string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	_, err := t.fs.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, t.wrap("lstat", p, err)
}

func (t *sshTransport) CopyTree(ctx context.Context, localDir, remoteDir string) error {
	return copyTree(ctx, localDir, &sftpTree{t: t, ctx: ctx, root: remoteDir})
}

type sftpTree struct {
	t    *sshTransport
	ctx  context.Context
	root string
}

func (w *sftpTree) path(rel string) string { return path.Join(w.root, rel) }

func (w *sftpTree) mkdir(rel string) error {
	if rel == "." {
		return w.t.MkdirAll(w.ctx, w.root, 0o755)
	}
	p := w.path(rel)
	if err := w.t.fs.Mkdir(p); err != nil {
		if fi, serr := w.t.fs.Stat(p); serr == nil && fi.IsDir() {
			return nil
		}
		return w.t.wrap("mkdir", p, err)
	}
	return nil
}

func (w *sftpTree) writeFile(rel string, src *os.File, perm fs.FileMode) error {
	p := w.path(rel)
	if err := w.ctx.Err(); err != nil {
		return err
	}
	f, err := w.t.fs.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return w.t.wrap("create", p, err)
	}
	_, err = f.ReadFrom(src)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return w.t.wrap("write", p, err)
}

func (w *sftpTree) chmod(rel string, perm fs.FileMode) error {
	p := w.path(rel)
	return w.t.wrap("chmod", p, w.t.fs.Chmod(p, perm))
}
