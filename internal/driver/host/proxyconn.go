package host

import (
	"context"
	"net"

	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
)

// DialUnix reaches a Unix socket through the pooled connection (HAProxy's
// stats socket on the host).
func (c *pooledConn) DialUnix(ctx context.Context, path string) (net.Conn, error) {
	return transport.DialUnix(ctx, c.Transport, path)
}
