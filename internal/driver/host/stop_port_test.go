package host

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/testutil"
)

// TestStopFreesThePort: once stopSlot returns, the stopped release's port
// can be bound again. A dying Go server's main thread drops its working
// directory before its other threads close the listening socket, so
// judging "exited" by /proc/<pid>/cwd let a rolling restart on the same
// port fail with "address already in use" (a few times in a hundred).
func TestStopFreesThePort(t *testing.T) {
	bin := unitServer(t)
	port := testutil.FreePort(t)
	l := Layout{Root: t.TempDir(), Unit: "web"}
	id := NewID("1.0.0", time.Now())
	for _, dir := range []string{l.Release(id), l.Run()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(l.Release(id), "VERSION"), []byte("1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h := &hostRun{name: "local", c: transport.Local(), l: l}
	p := processService{d: &Driver{StopTimeout: 5 * time.Second}}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	n := 300
	if testing.Short() {
		n = 20
	}
	for i := range n {
		pid, err := h.c.StartDetached(ctx, []string{bin}, l.Release(id), map[string]string{"PORT": strconv.Itoa(port)}, filepath.Join(l.Run(), "main.log"), l.PidFile(""))
		if err != nil {
			t.Fatal(err)
		}
		// Serving: the port is bound by the release.
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("restart %d: pid %d never listened on %s", i, pid, addr)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := p.stopSlot(ctx, h, ""); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("restart %d: stopSlot returned but pid %d still holds the port: %v", i, pid, err)
		}
		ln.Close()
	}
}

func TestProcStatus(t *testing.T) {
	for _, c := range []struct {
		in      string
		zombie  bool
		threads int
	}{
		{"Name:\tunitserver\nState:\tS (sleeping)\nThreads:\t7\n", false, 7},
		{"Name:\tunitserver\nState:\tZ (zombie)\nThreads:\t4\n", true, 4},
		{"Name:\tunitserver\nState:\tZ (zombie)\nThreads:\t1\n", true, 1},
		{"State:\tX (dead)\n", true, 1},
		{"State:\tR (running)\n", false, 1},
	} {
		z, n := procStatus([]byte(c.in))
		if z != c.zombie || n != c.threads {
			t.Errorf("procStatus(%q) = %v, %d; want %v, %d", c.in, z, n, c.zombie, c.threads)
		}
	}
}
