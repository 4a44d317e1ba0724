// Package nginx starts a real nginx for tests, so that the host driver's
// blue/green switch is tested against the proxy it drives in production:
// its config test, its graceful reload, and what clients see meanwhile.
//
// Each server is Debian's /usr/sbin/nginx in the foreground (daemon off)
// with its own prefix directory under the test's temporary directory: the
// config, the upstream file, the pid file, the logs and the temp paths all
// live there. It listens on a free 127.0.0.1 port and is stopped when the
// test ends. It must never touch the machine's own nginx (/etc/nginx,
// /run/nginx.pid, /var/log/nginx).
package nginx

import (
	"cmp"
	"fmt"
	"github.com/gearshift-dev/gearshift/internal/testutil"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary is where Debian's nginx package installs the server.
const Binary = "/usr/sbin/nginx"

// Server is one running nginx that proxies / to the upstream named in
// Start, whose servers are listed in UpstreamFile.
type Server struct {
	// Prefix is nginx's prefix directory (-p); everything is below it.
	Prefix string
	// Conf is the main config file (-c); it includes UpstreamFile inside
	// its http block.
	Conf         string
	UpstreamFile string
	ErrorLog     string
	Port         int
	// URL is http://127.0.0.1:Port/.
	URL string
	// TestArgv and ReloadArgv test the config and reload this server; they
	// are what a HostTarget's proxy.test and proxy.reload hold.
	TestArgv, ReloadArgv []string

	// location is extra directives of the proxied location (StartRolling).
	location string
}

// RollingLocation is the proxied location's settings that
// docs/host-layout.md ("nginx in front of rolling hosts") recommends:
// upstream keep-alive, and a request a stopped host refused passed to the
// next host.
const RollingLocation = `proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;`

// StartRolling starts nginx in front of several hosts of a rolling unit,
// which gearshift does not drive (the upstream file is written once).
// recommended gives the servers max_fails=0, the upstream keepalive 16 and
// the location RollingLocation, as the docs advise; otherwise nginx's
// defaults (max_fails=1 fail_timeout=10s, no retry settings).
func StartRolling(t testing.TB, upstream string, servers []string, recommended bool) *Server {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "upstream %s {\n", upstream)
	for _, sv := range servers {
		if recommended {
			fmt.Fprintf(&b, "    server %s max_fails=0;\n", sv)
		} else {
			fmt.Fprintf(&b, "    server %s;\n", sv)
		}
	}
	if recommended {
		b.WriteString("    keepalive 16;\n")
	}
	b.WriteString("}\n")
	location := ""
	if recommended {
		location = RollingLocation
	}
	return start(t, upstream, b.String(), location)
}

// Start starts nginx proxying to upstream, an upstream block that the
// caller (the host driver) rewrites in UpstreamFile. Until then the file
// names a closed port, so requests get 502. Without nginx installed Start
// fails the test: make test installs it (scripts/install-deps.sh).
func Start(t testing.TB, upstream string) *Server {
	t.Helper()
	return StartWithServer(t, upstream, "127.0.0.1:1")
}

// StartWithServer is Start with the upstream's first server given
// (host:port): a benchmark that starts with the address its first deploy
// will write sees no 502 from nginx's old worker, which keeps the
// connections it already accepted for a moment after a reload.
func StartWithServer(t testing.TB, upstream, server string) *Server {
	t.Helper()
	return start(t, upstream, fmt.Sprintf("upstream %s {\n    server %s;\n}\n", upstream, server), "")
}

func start(t testing.TB, upstream, initial, location string) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		msg := fmt.Sprintf("%s not found: run scripts/install-deps.sh (it installs Debian's nginx)", Binary)
		t.Fatal(msg)
	}
	prefix := t.TempDir()
	s := &Server{
		Prefix:       prefix,
		Conf:         filepath.Join(prefix, "nginx.conf"),
		UpstreamFile: filepath.Join(prefix, "upstream.conf"),
		ErrorLog:     filepath.Join(prefix, "error.log"),
		location:     location,
	}
	base := []string{Binary, "-p", prefix + "/", "-c", s.Conf, "-e", s.ErrorLog}
	s.TestArgv = append(append([]string{}, base...), "-t", "-q")
	s.ReloadArgv = append(append([]string{}, base...), "-s", "reload")
	if err := os.WriteFile(s.UpstreamFile, []byte(initial), 0o644); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 5 {
		s.Port = testutil.FreePort(t)
		s.URL = "http://127.0.0.1:" + strconv.Itoa(s.Port) + "/"
		if err := os.WriteFile(s.Conf, []byte(s.config(upstream)), 0o644); err != nil {
			t.Fatal(err)
		}
		if lastErr = s.run(t, base); lastErr == nil {
			return s
		}
	}
	t.Fatalf("start nginx: %v", lastErr)
	return nil
}

// config is the whole nginx.conf. Client keep-alive is on, as in
// production, so that a reload is judged with the connections real
// clients hold.
func (s *Server) config(upstream string) string {
	p := s.Prefix
	return fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    include %[2]s;
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://%[4]s;
            %[5]s
        }
    }
}
`, p, s.UpstreamFile, s.Port, upstream, cmp.Or(s.location, "proxy_connect_timeout 2s;"))
}

// run starts nginx and waits until it answers on s.Port. It is stopped in
// t.Cleanup (SIGQUIT, a graceful stop, then SIGKILL of its process group);
// its error log is shown if the test failed.
func (s *Server) run(t testing.TB, base []string) error {
	if err := os.MkdirAll(filepath.Join(s.Prefix, "tmp"), 0o755); err != nil {
		return err
	}
	var out testutil.SyncBuffer
	cmd := exec.Command(base[0], base[1:]...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !s.answers() {
		select {
		case <-exited:
			return fmt.Errorf("nginx exited: %s%s", out.String(), s.errorLog())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("nginx did not answer on port %d within 10s: %s", s.Port, s.errorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("nginx on port %d:\n%s%s", s.Port, out.String(), s.errorLog())
		}
	})
	return nil
}

// answers reports whether this nginx answers HTTP on s.Port: any response
// (the initial upstream gives 502) proves the server is ours and up.
func (s *Server) answers() bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(s.URL)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return strings.HasPrefix(resp.Header.Get("Server"), "nginx")
}

func (s *Server) errorLog() string {
	b, _ := os.ReadFile(s.ErrorLog)
	return string(b)
}
