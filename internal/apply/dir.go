package apply

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/durable"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Dir is where an environment's lock and journal live. The lock and the
// journal are written through it only, so that the same code works on this
// machine (LocalDir) and on a host reached through the host driver's
// transport (RemoteDir). Names are plain file names inside the directory.
type Dir interface {
	// CreateExclusive creates name with data, complete, or fails with an
	// error wrapping fs.ErrExist when name exists. Readers never see a
	// partly written file.
	CreateExclusive(ctx context.Context, name string, data []byte) error
	// ReadFile returns name's contents (fs.ErrNotExist when missing).
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// Remove removes name; a missing name is not an error.
	Remove(ctx context.Context, name string) error
	// Append appends line to name, creating it, with one write followed by
	// fsync, so that a crash leaves at most a torn last line.
	Append(ctx context.Context, name string, line []byte) error
	// Path names the file for messages.
	Path(name string) string
}

// LocalDir is a Dir on this machine.
type LocalDir string

func (d LocalDir) Path(name string) string { return filepath.Join(string(d), name) }

// CreateExclusive writes a temporary file and hard-links it to name: link(2)
// fails when name exists, like O_EXCL, and unlike O_EXCL the file is
// complete the moment it appears.
func (d LocalDir) CreateExclusive(ctx context.Context, name string, data []byte) error {
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return err
	}
	tmp, err := durable.TempFile(string(d), fmt.Sprintf(".%s.tmp-%d-*", name, os.Getpid()), data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, d.Path(name)); err != nil {
		return err
	}
	return syncDir(string(d))
}

// sweep removes the temporary files of CreateExclusive calls that a crash
// interrupted: those of a process that is gone, or old enough not to
// belong to a call in flight.
func (d LocalDir) sweep(name string, olderThan time.Duration) {
	prefix := "." + name + ".tmp-"
	tmps, _ := filepath.Glob(filepath.Join(string(d), prefix+"*"))
	for _, p := range tmps {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(p), prefix), "-")
		pid, err := strconv.Atoi(pidText)
		fi, serr := os.Lstat(p)
		if (err == nil && pid != os.Getpid() && !pidAlive(pid)) || (serr == nil && time.Since(fi.ModTime()) > olderThan) {
			os.Remove(p)
		}
	}
}

func (d LocalDir) ReadFile(ctx context.Context, name string) ([]byte, error) {
	return os.ReadFile(d.Path(name))
}

func (d LocalDir) Remove(ctx context.Context, name string) error {
	err := os.Remove(d.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (d LocalDir) Append(ctx context.Context, name string, line []byte) error {
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(d.Path(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// RemoteDir is a Dir on a host reached through the host driver's transport
// (SSH). The transport has no exclusive create, so one is made of its
// primitives: the content is written atomically under a temporary name and
// hard-linked to name with ln(1), which fails when name exists.
type RemoteDir struct {
	T   transport.Transport
	Dir string
}

func (d RemoteDir) Path(name string) string { return d.T.Host() + ":" + path.Join(d.Dir, name) }

func (d RemoteDir) p(name string) string { return path.Join(d.Dir, name) }

const remoteTimeout = 30 * time.Second

func (d RemoteDir) CreateExclusive(ctx context.Context, name string, data []byte) error {
	if err := d.T.MkdirAll(ctx, d.Dir, 0o755); err != nil {
		return err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	tmp := d.p("." + name + ".tmp-" + hex.EncodeToString(b[:]))
	if err := d.T.WriteFileAtomic(ctx, tmp, data, 0o644); err != nil {
		return err
	}
	defer d.T.RemoveAll(context.WithoutCancel(ctx), tmp)
	res, err := d.T.Run(ctx, []string{"ln", "--", tmp, d.p(name)}, transport.RunOptions{Timeout: remoteTimeout})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		if ok, _ := d.T.Exists(ctx, d.p(name)); ok {
			return fmt.Errorf("%s: %w", d.Path(name), fs.ErrExist)
		}
		return fmt.Errorf("ln %s: exit %d: %s", d.Path(name), res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

func (d RemoteDir) ReadFile(ctx context.Context, name string) ([]byte, error) {
	return d.T.ReadFile(ctx, d.p(name))
}

func (d RemoteDir) Remove(ctx context.Context, name string) error {
	return d.T.RemoveAll(ctx, d.p(name))
}

// Append runs dd with O_APPEND and fsync on the host: one write for a line
// up to dd's block size, which a journal line never exceeds.
func (d RemoteDir) Append(ctx context.Context, name string, line []byte) error {
	if err := d.T.MkdirAll(ctx, d.Dir, 0o755); err != nil {
		return err
	}
	argv := []string{"dd", "of=" + d.p(name), "oflag=append", "conv=notrunc,fsync", "bs=1048576", "iflag=fullblock", "status=none"}
	res, err := d.T.Run(ctx, argv, transport.RunOptions{Stdin: bytes.NewReader(line), Timeout: remoteTimeout})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("append to %s: dd exit %d: %s", d.Path(name), res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

// Connect returns the transport to one host of a host target ("" for the
// local transport): the host driver's connection pool.
type Connect func(ctx context.Context, t *state.HostTarget, host string) (transport.Transport, error)

// LockDir picks where env's lock and journal live. With a host target (the
// first by name), it is <root>/.gearshift on its first host, so that
// gearshift runs on different machines exclude each other; otherwise (exec
// targets run the user's commands on this machine) it is stateDir.
func LockDir(ctx context.Context, env *state.Environment, stateDir string, connect Connect) (Dir, error) {
	names := make([]string, 0, len(env.Targets))
	for n, t := range env.Targets {
		if t.Host != nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		if stateDir == "" {
			return nil, errors.New("no state directory for the lock and journal: set --state-dir, XDG_STATE_HOME or HOME")
		}
		return LocalDir(stateDir), nil
	}
	t := env.Targets[names[0]].Host
	// A root with {host} is per host, as the host driver lays it out:
	// the lock lives in the first host's.
	if t.Local {
		return LocalDir(path.Join(strings.ReplaceAll(t.Root, "{host}", "local"), ".gearshift")), nil
	}
	if len(t.Hosts) == 0 {
		return nil, fmt.Errorf("target %s has no hosts", names[0])
	}
	dir := path.Join(strings.ReplaceAll(t.Root, "{host}", t.Hosts[0]), ".gearshift")
	tr, err := connect(ctx, t, t.Hosts[0])
	if err != nil {
		return nil, fmt.Errorf("lock on %s: %w", t.Hosts[0], err)
	}
	return RemoteDir{T: tr, Dir: dir}, nil
}
