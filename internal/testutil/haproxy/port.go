package haproxy

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
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
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				low = n
			}
		}
	}
	for range 1000 {
		p := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}
