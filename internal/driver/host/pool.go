package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"

	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Pool keeps one transport per host for the length of a run, so that the
// many operations of a plan or an apply share one SSH connection a host.
//
// An SSH transport whose connection is lost fails every later call, so
// the pool drops a connection as soon as one of its calls fails with a
// lost-connection error, and Get dials again. A connection that has been
// idle for a while is checked with one cheap call before it is handed
// out, so that a connection that died unnoticed (host rebooted, NAT
// timeout) costs a redial instead of a failed operation.
//
// Dials are bounded (maxDials at once): a thousand handshakes started in
// the same instant overflow the listen backlogs and sshd's MaxStartups
// (10:30:100 by default, which drops connections at random beyond 10
// unauthenticated ones) and time out against each other.
type Pool struct {
	mu    sync.Mutex
	slots map[string]*poolSlot
	dials chan struct{}
}

// maxDials bounds the SSH handshakes in flight.
const maxDials = 16

// poolSlot serialises dialling one host, so that the many goroutines of
// an observation do not each open a connection.
type poolSlot struct {
	mu sync.Mutex
	c  *pooledConn
}

// idleCheck is how long a connection may be idle before Get checks it.
const idleCheck = 10 * time.Second

// NewPool returns an empty pool.
func NewPool() *Pool {
	return &Pool{slots: map[string]*poolSlot{}, dials: make(chan struct{}, maxDials)}
}

// Get returns the transport to host ("" for this machine) of target t.
func (p *Pool) Get(ctx context.Context, t *state.HostTarget, host string) (transport.Transport, error) {
	if t.Local || host == "" {
		return transport.Local(), nil
	}
	if t.SSH == nil {
		return nil, fmt.Errorf("host %s: the target has no ssh settings", host)
	}
	cfg := transport.SSHConfig{
		Host: host, Port: t.SSH.Port, User: t.SSH.User,
		KnownHosts: t.SSH.KnownHosts, Identity: t.SSH.Identity, Timeout: t.SSH.Timeout.Duration,
	}
	if h, port, err := net.SplitHostPort(host); err == nil {
		cfg.Host = h
		if n, err := strconv.Atoi(port); err == nil {
			cfg.Port = n
		}
	}
	key := fmt.Sprintf("%s@%s:%d|%s|%s", cfg.User, cfg.Host, cfg.Port, cfg.KnownHosts, cfg.Identity)
	p.mu.Lock()
	s := p.slots[key]
	if s == nil {
		s = &poolSlot{}
		p.slots[key] = s
	}
	p.mu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.c; c != nil && !c.dead.Load() {
		if time.Since(time.Unix(0, c.lastOK.Load())) < idleCheck {
			return c, nil
		}
		if _, err := c.Exists(ctx, "/"); err == nil {
			return c, nil
		} else if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.drop()
	}
	select {
	case p.dials <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	tr, err := transport.DialSSH(ctx, cfg)
	<-p.dials
	if err != nil {
		return nil, err
	}
	c := &pooledConn{Transport: tr}
	c.lastOK.Store(time.Now().UnixNano())
	s.c = c
	return c, nil
}

// Connector adapts the pool to the driver's Connector.
func (p *Pool) Connector() Connector {
	return func(ctx context.Context, t *state.HostTarget, host string) (Conn, error) {
		return p.Get(ctx, t, host)
	}
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, s := range p.slots {
		s.mu.Lock()
		if s.c != nil {
			s.c.drop()
		}
		s.mu.Unlock()
		delete(p.slots, k)
	}
	return nil
}

// pooledConn is a pooled transport that notices when its connection is
// lost: it then marks itself dead (Get dials a new one) and closes.
type pooledConn struct {
	transport.Transport
	dead   atomic.Bool
	lastOK atomic.Int64 // UnixNano of the last call that succeeded
	once   sync.Once
}

func (c *pooledConn) drop() {
	c.dead.Store(true)
	c.once.Do(func() { c.Transport.Close() })
}

// seen records a call's outcome.
func (c *pooledConn) seen(err error) error {
	switch {
	case err == nil || errors.Is(err, fs.ErrNotExist): // the host answered
		c.lastOK.Store(time.Now().UnixNano())
	case connectionLost(err):
		c.drop()
	}
	return err
}

// connectionLost reports whether err means the SSH connection is gone, as
// opposed to a failure of the operation itself (a missing file, a refused
// permission, a timeout of one command).
func connectionLost(err error) bool {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection lost", "use of closed network connection", "ssh: disconnect", "connection reset", "broken pipe"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func (c *pooledConn) Close() error {
	// The pool owns the connection: a caller's Close must not cut it for
	// the other users of the pool.
	return nil
}

func (c *pooledConn) Run(ctx context.Context, argv []string, o transport.RunOptions) (transport.RunResult, error) {
	r, err := c.Transport.Run(ctx, argv, o)
	return r, c.seen(err)
}

func (c *pooledConn) StartDetached(ctx context.Context, argv []string, dir string, env map[string]string, logFile, pidFile string) (int, error) {
	pid, err := c.Transport.StartDetached(ctx, argv, dir, env, logFile, pidFile)
	return pid, c.seen(err)
}

func (c *pooledConn) ReadFile(ctx context.Context, path string) ([]byte, error) {
	b, err := c.Transport.ReadFile(ctx, path)
	return b, c.seen(err)
}

func (c *pooledConn) WriteFileAtomic(ctx context.Context, path string, data []byte, perm fs.FileMode) error {
	return c.seen(c.Transport.WriteFileAtomic(ctx, path, data, perm))
}

func (c *pooledConn) MkdirAll(ctx context.Context, path string, perm fs.FileMode) error {
	return c.seen(c.Transport.MkdirAll(ctx, path, perm))
}

func (c *pooledConn) Rename(ctx context.Context, from, to string) error {
	return c.seen(c.Transport.Rename(ctx, from, to))
}

func (c *pooledConn) Symlink(ctx context.Context, target, link string) error {
	return c.seen(c.Transport.Symlink(ctx, target, link))
}

func (c *pooledConn) SwitchSymlink(ctx context.Context, target, link string) error {
	return c.seen(c.Transport.SwitchSymlink(ctx, target, link))
}

func (c *pooledConn) Readlink(ctx context.Context, link string) (string, error) {
	t, err := c.Transport.Readlink(ctx, link)
	return t, c.seen(err)
}

func (c *pooledConn) RemoveAll(ctx context.Context, path string) error {
	return c.seen(c.Transport.RemoveAll(ctx, path))
}

func (c *pooledConn) ReadDir(ctx context.Context, dir string) ([]string, error) {
	n, err := c.Transport.ReadDir(ctx, dir)
	return n, c.seen(err)
}

func (c *pooledConn) Exists(ctx context.Context, path string) (bool, error) {
	ok, err := c.Transport.Exists(ctx, path)
	return ok, c.seen(err)
}

func (c *pooledConn) StatFS(ctx context.Context, path string) (uint64, uint64, error) {
	free, total, err := c.Transport.StatFS(ctx, path)
	return free, total, c.seen(err)
}

func (c *pooledConn) CopyTree(ctx context.Context, localDir, remoteDir string) error {
	return c.seen(c.Transport.CopyTree(ctx, localDir, remoteDir))
}
