package transport

import (
	"context"
	"fmt"
	"net"
)

// UnixDialer is a transport that can open a stream to a Unix socket on its
// host: a proxy's control socket (HAProxy's stats socket). Over SSH the
// stream is forwarded by the SSH connection (direct-streamlocal), so no
// process is started on the host and no port is opened.
type UnixDialer interface {
	DialUnix(ctx context.Context, path string) (net.Conn, error)
}

// DialUnix opens a stream to the Unix socket path on t's host.
func DialUnix(ctx context.Context, t Transport, path string) (net.Conn, error) {
	d, ok := t.(UnixDialer)
	if !ok {
		return nil, fmt.Errorf("%s: the transport cannot reach the Unix socket %s", t.Host(), path)
	}
	return d.DialUnix(ctx, path)
}

// DialUnix connects to a Unix socket on this machine.
func (local) DialUnix(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// DialUnix forwards a stream to a Unix socket on the remote host
// (OpenSSH's direct-streamlocal@openssh.com; sshd's AllowStreamLocalForwarding
// must not be "no").
func (t *sshTransport) DialUnix(ctx context.Context, path string) (net.Conn, error) {
	return t.c.DialContext(ctx, "unix", path)
}
