// Package testutil holds what the real test servers under it (sshd, nginx,
// gitserver) share. It is imported by tests only.
package testutil

import (
	"bytes"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// FreePort returns a port on 127.0.0.1 that is free now, for a server the
// test starts later, and keeps it the test's until the test ends.
//
// It is chosen below the kernel's ephemeral range: a port the kernel hands
// out (":0") is also what the test's own outgoing connections get, and under
// load one of them can take the port before the server binds it
// (EADDRINUSE). And it is reserved across processes: go test runs several
// packages' test binaries at once, and each one's chosen ports are only
// bound from time to time (a release restarted on its port), so each port
// is held with an flock on a file in the temporary directory for the test's
// life; the kernel drops the lock when the process dies.
func FreePort(t testing.TB) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				low = n
			}
		}
	}
	dir := filepath.Join(os.TempDir(), "gearshift-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		p := 10000 + rand.IntN(low-10000)
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			continue
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			f.Close()
			continue
		}
		l.Close()
		t.Cleanup(func() { f.Close() })
		return p
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// SyncBuffer is a bytes.Buffer that a server's output goroutine and the
// test may use at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
