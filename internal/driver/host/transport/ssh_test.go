package transport

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

func sshConfig(c *sshd.Cluster, h sshd.Host) SSHConfig {
	return SSHConfig{Host: h.Addr, Port: h.Port, User: c.User, KnownHosts: c.KnownHosts, Identity: c.Identity, Timeout: 10 * time.Second}
}

func dial(t *testing.T, cfg SSHConfig) Transport {
	t.Helper()
	tr, err := DialSSH(context.Background(), cfg)
	if err != nil {
		t.Fatalf("DialSSH: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestSSHConformance runs the shared suite over one connection to a real
// sshd: every subtest reuses it.
func TestSSHConformance(t *testing.T) {
	c := sshd.Start(t, 1)
	tr := dial(t, sshConfig(c, c.Hosts[0]))
	if want := c.User + "@" + c.Hosts[0].HostPort(); tr.Host() != want {
		t.Errorf("Host: got %q, want %q", tr.Host(), want)
	}
	testConformance(t, tr)
}

func TestSSHTwoServers(t *testing.T) {
	c := sshd.Start(t, 2)
	if c.Hosts[0].Port == c.Hosts[1].Port || c.Hosts[0].HostKey == c.Hosts[1].HostKey {
		t.Fatalf("servers share a port or a host key: %+v", c.Hosts)
	}
	for _, h := range c.Hosts {
		tr := dial(t, sshConfig(c, h))
		res, err := tr.Run(context.Background(), []string{"echo", tr.Host()}, RunOptions{})
		if err != nil || strings.TrimSpace(string(res.Stdout)) != tr.Host() {
			t.Errorf("%s: got %q, %v", tr.Host(), res.Stdout, err)
		}
	}
}

func TestDialSSHRefusesHostKeyMismatch(t *testing.T) {
	c := sshd.Start(t, 1)
	h := c.Hosts[0]
	_, otherPub := sshd.KeyGen(t, t.TempDir(), "impostor")
	known := filepath.Join(t.TempDir(), "known_hosts")
	writeLocal(t, known, "[127.0.0.1]:"+strconv.Itoa(h.Port)+" "+otherPub+"\n", 0o600)
	cfg := sshConfig(c, h)
	cfg.KnownHosts = known
	_, err := DialSSH(context.Background(), cfg)
	wantErr(t, err, "host key mismatch", known, "refusing")
}

// TestDialSSHKnownHostsRewritten dials with a known_hosts file, rewrites
// it in place with another key for the host (same path, same size), and
// dials again: the parsed file is cached, and the change must be seen.
func TestDialSSHKnownHostsRewritten(t *testing.T) {
	c := sshd.Start(t, 1)
	h := c.Hosts[0]
	good, err := os.ReadFile(c.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	// An old file is cached (a recent one is parsed at every dial).
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(c.KnownHosts, past, past); err != nil {
		t.Fatal(err)
	}
	cfg := sshConfig(c, h)
	dial(t, cfg).Close()
	_, otherPub := sshd.KeyGen(t, t.TempDir(), "impostor")
	writeLocal(t, c.KnownHosts, "[127.0.0.1]:"+strconv.Itoa(h.Port)+" "+otherPub+"\n", 0o600)
	_, err = DialSSH(context.Background(), cfg)
	wantErr(t, err, "host key mismatch", "refusing")
	writeLocal(t, c.KnownHosts, string(good), 0o600)
	dial(t, cfg).Close()
}

func TestDialSSHRefusesUnknownHost(t *testing.T) {
	c := sshd.Start(t, 1)
	h := c.Hosts[0]
	known := filepath.Join(t.TempDir(), "known_hosts")
	// The right key, but for another port: this host is not listed.
	writeLocal(t, known, "[127.0.0.1]:"+strconv.Itoa(h.Port+1)+" "+h.HostKey+"\n", 0o600)
	cfg := sshConfig(c, h)
	cfg.KnownHosts = known
	_, err := DialSSH(context.Background(), cfg)
	wantErr(t, err, "unknown", "not in known_hosts file "+known, "refusing")

	cfg.KnownHosts = filepath.Join(t.TempDir(), "missing")
	_, err = DialSSH(context.Background(), cfg)
	wantErr(t, err, "known_hosts", cfg.KnownHosts)
}

func TestDialSSHRefusesWrongIdentity(t *testing.T) {
	c := sshd.Start(t, 1)
	wrong, _ := sshd.KeyGen(t, t.TempDir(), "stranger")
	cfg := sshConfig(c, c.Hosts[0])
	cfg.Identity = wrong
	_, err := DialSSH(context.Background(), cfg)
	wantErr(t, err, "unable to authenticate")
}

// TestDialSSHAgent authenticates through an agent on SSH_AUTH_SOCK when no
// identity file is given.
func TestDialSSHAgent(t *testing.T) {
	c := sshd.Start(t, 1)
	pem, err := os.ReadFile(c.Identity)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.ParseRawPrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(keyring, conn); conn.Close() }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	cfg := sshConfig(c, c.Hosts[0])
	cfg.Identity = ""
	tr := dial(t, cfg)
	if res, err := tr.Run(context.Background(), []string{"true"}, RunOptions{}); err != nil || res.ExitCode != 0 {
		t.Errorf("Run through an agent-authenticated connection: %+v, %v", res, err)
	}

	t.Setenv("SSH_AUTH_SOCK", "")
	_, err = DialSSH(context.Background(), cfg)
	wantErr(t, err, "SSH_AUTH_SOCK")
}

// TestDialSSHTimeout dials a server that accepts but never speaks.
func TestDialSSHTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	known := filepath.Join(t.TempDir(), "known_hosts")
	writeLocal(t, known, "", 0o600)
	id, _ := sshd.KeyGen(t, t.TempDir(), "id")
	// The error itself says the handshake timed out (a hang would be
	// caught by go test's own timeout): no wall-clock bound here.
	_, err = DialSSH(context.Background(), SSHConfig{
		Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, User: "root",
		KnownHosts: known, Identity: id, Timeout: 300 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("DialSSH to a silent server succeeded; want a handshake timeout")
	}
	wantErr(t, err, "no SSH handshake within 300ms")
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", parts)
	}
	t.Logf("error: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}
