package transport

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

// echoSocket listens on a Unix socket and answers each line with "got "
// and the line, as HAProxy's stats socket answers a command.
func echoSocket(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "admin.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Write([]byte("got " + line))
			}()
		}
	}()
	return p
}

func talk(t *testing.T, tr Transport, sock string) string {
	t.Helper()
	c, err := DialUnix(context.Background(), tr, sock)
	if err != nil {
		t.Fatalf("DialUnix over %s: %v", tr.Host(), err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("show servers state\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// TestDialUnix reaches a Unix socket on this machine and, forwarded by a
// real sshd (direct-streamlocal), on a remote host: how the host driver
// speaks to HAProxy's stats socket there.
func TestDialUnix(t *testing.T) {
	sock := echoSocket(t)
	if got := talk(t, Local(), sock); got != "got show servers state\n" {
		t.Errorf("local: %q", got)
	}
	c := sshd.Start(t, 1)
	tr := dial(t, sshConfig(c, c.Hosts[0]))
	if got := talk(t, tr, sock); got != "got show servers state\n" {
		t.Errorf("over ssh: %q", got)
	}
	if _, err := DialUnix(context.Background(), tr, filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Error("a missing socket over ssh: no error")
	}
}
