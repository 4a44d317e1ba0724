package host

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Pool keeps one transport per host for the length of a run, so that the
// many operations of a plan or an apply share one SSH connection a host.
type Pool struct {
	mu    sync.Mutex
	conns map[string]transport.Transport
}

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{conns: map[string]transport.Transport{}} }

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
	defer p.mu.Unlock()
	if c, ok := p.conns[key]; ok {
		return c, nil
	}
	c, err := transport.DialSSH(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.conns[key] = c
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
	for k, c := range p.conns {
		c.Close()
		delete(p.conns, k)
	}
	return nil
}
