// Package sshd starts real OpenSSH servers for tests, so that code which
// talks SSH is tested against the server it meets in production rather
// than a fake. Each server listens on 127.0.0.1 on a free port with a
// throwaway host key, accepts one throwaway client key, and is stopped when
// the test ends.
//
// It must never touch the machine's own sshd: everything (config, keys,
// pid file) lives in the test's temporary directory. The one exception is
// /run/sshd, the privilege separation directory sshd insists on, which is
// created if missing.
package sshd

import (
	"bufio"
	"fmt"
	"github.com/gearshift-dev/gearshift/internal/testutil"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary is where Debian's openssh-server installs the server.
const Binary = "/usr/sbin/sshd"

// Host is one running server.
type Host struct {
	Addr string // "127.0.0.1"
	Port int
	// HostKey is the server's public host key line ("ssh-ed25519 AAAA...").
	HostKey string
	// Log is what the server logged (LogLevel VERBOSE).
	Log *testutil.SyncBuffer
}

// Logins counts the connections the server has authenticated: how many
// times a client dialled it.
func (h Host) Logins() int { return strings.Count(h.Log.String(), "Accepted publickey for ") }

// HostPort is Addr:Port.
func (h Host) HostPort() string { return net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)) }

// Cluster is a set of servers sharing one client key.
type Cluster struct {
	Hosts []Host
	// KnownHosts is a known_hosts file listing [127.0.0.1]:port for every
	// host with its key.
	KnownHosts string
	// Identity is the client's private key file, authorized on every host.
	Identity string
	// User to log in as: the user running the test (root in CI).
	User string
	// Dir is the temporary directory holding all of the above.
	Dir string
}

// Start starts n servers and stops them when t ends. Without sshd installed
// it fails the test: make test installs it (scripts/install-deps.sh).
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		msg := fmt.Sprintf("%s not found: install openssh-server as the project's CI install script does (apt-get install -y openssh-server)", Binary)
		t.Fatal(msg)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshd needs its privilege separation directory: %v", err)
	}
	dir := t.TempDir()
	c := &Cluster{Dir: dir, User: currentUser(t)}
	var clientPub string
	c.Identity, clientPub = KeyGen(t, dir, "client")
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, []byte(clientPub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var known strings.Builder
	for i := range n {
		h := start(t, dir, i, authorized)
		c.Hosts = append(c.Hosts, h)
		fmt.Fprintf(&known, "[%s]:%d %s\n", h.Addr, h.Port, h.HostKey)
	}
	c.KnownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(c.KnownHosts, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// KeyGen makes an ed25519 key pair named name in dir with ssh-keygen and
// returns the private key file and the public key line.
func KeyGen(t testing.TB, dir, name string) (private, public string) {
	t.Helper()
	private = filepath.Join(dir, name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", private).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(private + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return private, strings.TrimSpace(string(pub))
}

func currentUser(t testing.TB) string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		t.Fatalf("id -un: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// start runs server i, retrying with another port if a port picked as
// free was taken before sshd could bind it.
func start(t testing.TB, dir string, i int, authorized string) Host {
	t.Helper()
	sdir := filepath.Join(dir, "server"+strconv.Itoa(i))
	if err := os.Mkdir(sdir, 0o700); err != nil {
		t.Fatal(err)
	}
	hostKey, hostPub := KeyGen(t, sdir, "host_ed25519")
	var lastErr error
	for range 5 {
		port := testutil.FreePort(t)
		log, err := run(t, sdir, hostKey, authorized, port)
		if err != nil {
			lastErr = err
			continue
		}
		return Host{Addr: "127.0.0.1", Port: port, HostKey: keyOnly(hostPub), Log: log}
	}
	t.Fatalf("start sshd: %v", lastErr)
	return Host{}
}

// keyOnly drops the comment from a public key line.
func keyOnly(pub string) string {
	f := strings.Fields(pub)
	if len(f) < 2 {
		return pub
	}
	return f[0] + " " + f[1]
}

const configTemplate = `ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
LogLevel VERBOSE
`

// run writes the config, starts sshd -D -e and waits until it greets on
// port. The server is stopped in t.Cleanup; its log is shown if the test
// failed.
func run(t testing.TB, sdir, hostKey, authorized string, port int) (*testutil.SyncBuffer, error) {
	config := filepath.Join(sdir, "sshd_config")
	text := fmt.Sprintf(configTemplate, port, hostKey, filepath.Join(sdir, "sshd.pid"), authorized)
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		return nil, err
	}
	log := &testutil.SyncBuffer{}
	cmd := exec.Command(Binary, "-D", "-e", "-f", config)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("sshd on port %d exited: %s", port, log.String())
		default:
		}
		if greets(addr) {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("sshd on port %d did not answer within 10s: %s", port, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("sshd on port %d:\n%s", port, log.String())
		}
	})
	return log, nil
}

// greets reports whether an SSH server answers on addr: a bare TCP accept
// could be another process that took the port.
func greets(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-2.0-OpenSSH")
}
