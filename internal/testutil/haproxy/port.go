package haproxy

import (
	"testing"

	"github.com/gearshift-dev/gearshift/internal/testutil"
)

// ServicePort is a free 127.0.0.1 port below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range) for a service behind the proxy. A port
// the kernel hands out (":0") is in that range, and under load the test's
// own outgoing connections (the client's, the proxy's, the health checks')
// take ephemeral ports all the time: one may take it between the moment
// it is chosen and the moment a restarted release binds it
// (EADDRINUSE). Below the range, only a listener can.
func ServicePort(t testing.TB) int {
	t.Helper()
	return testutil.FreePort(t)
}
