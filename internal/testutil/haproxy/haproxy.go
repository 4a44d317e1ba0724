// Package haproxy starts a real HAProxy for tests, so that the host
// driver's switches through the runtime API are tested against the proxy
// they drive in production: its stats socket, its server states, its
// health checks and what clients see meanwhile.
//
// Each server is Debian's /usr/sbin/haproxy in the foreground (-db) with
// its own directory under the test's temporary directory: the config, the
// stats socket and the server-state file live there. It listens on a free
// 127.0.0.1 port and is stopped when the test ends. It must never touch
// the machine's own haproxy (/etc/haproxy, /run/haproxy).
package haproxy

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/testutil"
)

// Binary is where Debian's haproxy package installs the server.
const Binary = "/usr/sbin/haproxy"

// Server is one HAProxy address and port given to a backend.
type Server struct {
	Name string
	Addr string // host:port
	// Disabled starts the server in maintenance (the config's "disabled").
	Disabled bool
}

// Proxy is one running HAProxy whose frontend sends every request to
// Backend, balanced round-robin among its servers, each health-checked
// with GET /healthz every 100 ms.
type Proxy struct {
	Dir       string
	Conf      string
	Socket    string // the stats socket, level admin
	StateFile string // server-state-file, loaded at start
	Backend   string
	Port      int
	URL       string // http://127.0.0.1:Port/

	servers []Server
	stop    func()
	t       testing.TB
	out     *testutil.SyncBuffer
}

// Start starts HAProxy with one backend. Without haproxy installed it
// fails the test: make test installs it (scripts/install-deps.sh).
func Start(t testing.TB, backend string, servers ...Server) *Proxy {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		msg := fmt.Sprintf("%s not found: run scripts/install-deps.sh (it installs Debian's haproxy)", Binary)
		t.Fatal(msg)
	}
	dir := t.TempDir()
	p := &Proxy{
		Dir: dir, Conf: filepath.Join(dir, "haproxy.cfg"),
		Socket: filepath.Join(dir, "admin.sock"), StateFile: filepath.Join(dir, "server-state"),
		Backend: backend, servers: servers, t: t,
	}
	var lastErr error
	for range 5 {
		p.Port = testutil.FreePort(t)
		p.URL = "http://127.0.0.1:" + strconv.Itoa(p.Port) + "/"
		if err := os.WriteFile(p.Conf, []byte(p.config()), 0o644); err != nil {
			t.Fatal(err)
		}
		if lastErr = p.run(); lastErr == nil {
			t.Cleanup(func() {
				p.stop()
				if t.Failed() {
					t.Logf("haproxy on port %d:\n%s", p.Port, p.out.String())
				}
			})
			return p
		}
	}
	t.Fatalf("start haproxy: %v", lastErr)
	return nil
}

// config is the whole haproxy.cfg: keep-alive on both sides, as in
// production, and the server-state file loaded at start, so that a
// restart keeps the states the runtime API set (once written there).
func (p *Proxy) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    stats socket %[1]s mode 600 level admin
    server-state-file %[2]s
    maxconn 4096
defaults
    mode http
    load-server-state-from-file global
    option http-keep-alive
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
    default-server inter 100ms fastinter 100ms downinter 100ms rise 1 fall 2
frontend fe
    bind 127.0.0.1:%[3]d
    default_backend %[4]s
backend %[4]s
    balance roundrobin
    option httpchk GET /healthz
    retries 0
`, p.Socket, p.StateFile, p.Port, p.Backend)
	for _, s := range p.servers {
		dis := ""
		if s.Disabled {
			dis = " disabled"
		}
		fmt.Fprintf(&b, "    server %s %s check%s\n", s.Name, s.Addr, dis)
	}
	return b.String()
}

// run starts haproxy and waits until its stats socket and its frontend
// answer.
func (p *Proxy) run() error {
	_ = os.Remove(p.Socket)
	out := &testutil.SyncBuffer{}
	p.out = out
	cmd := exec.Command(Binary, "-db", "-f", p.Conf)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !p.answers() {
		select {
		case <-exited:
			return fmt.Errorf("haproxy exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("haproxy did not answer on port %d within 10s: %s", p.Port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// answers reports whether this haproxy's socket and frontend answer (any
// status: a backend without a serving server gives 503).
func (p *Proxy) answers() bool {
	c, err := net.DialTimeout("unix", p.Socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	resp, err := (&http.Client{Timeout: time.Second}).Get(p.URL)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// Restart stops haproxy and starts it again from the same config on the
// same port: it loads the server-state file, which is how a reload keeps
// the states the runtime API set.
func (p *Proxy) Restart(t testing.TB) {
	t.Helper()
	p.stop()
	if err := p.run(); err != nil {
		t.Fatalf("restart haproxy: %v", err)
	}
}
