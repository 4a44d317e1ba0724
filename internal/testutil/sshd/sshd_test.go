package sshd

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestStartWithOpenSSHClient checks the cluster with the ssh command, which
// verifies host keys strictly: the known_hosts file and the identity work
// for every server.
func TestStartWithOpenSSHClient(t *testing.T) {
	c := Start(t, 2)
	if len(c.Hosts) != 2 {
		t.Fatalf("got %d hosts, want 2", len(c.Hosts))
	}
	known, err := os.ReadFile(c.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range c.Hosts {
		line := "[127.0.0.1]:" + strconv.Itoa(h.Port) + " " + h.HostKey
		if !strings.Contains(string(known), line+"\n") {
			t.Errorf("known_hosts lacks %q:\n%s", line, known)
		}
	}
	needSSH(t)
	for _, h := range c.Hosts {
		out, err := exec.Command("ssh", "-F", "/dev/null",
			"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile="+c.KnownHosts, "-o", "IdentitiesOnly=yes",
			"-i", c.Identity, "-p", strconv.Itoa(h.Port), c.User+"@"+h.Addr,
			"echo", "ok").CombinedOutput()
		if err != nil || !strings.HasSuffix(string(out), "ok\n") {
			t.Errorf("ssh to port %d: %v\n%s", h.Port, err, out)
		}
	}
}

// TestFleetWithOpenSSHClient checks a fleet with the ssh command: each
// address is a host whose key is verified under its own name, an address
// not in the fleet is refused as unknown, and sshd's CPU is accounted.
func TestFleetWithOpenSSHClient(t *testing.T) {
	needSSH(t)
	if _, err := os.Stat(Binary); err != nil {
		missing(t, "no sshd at "+Binary)
	}
	f, err := StartFleet(t.TempDir(), 300, FleetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Addrs) != 300 || f.Addrs[0] != "127.0.2.1" || f.Addrs[299] != "127.0.3.50" {
		t.Fatalf("addresses %s ... %s (%d)", f.Addrs[0], f.Addrs[len(f.Addrs)-1], len(f.Addrs))
	}
	ssh := func(addr string) (string, error) {
		out, err := exec.Command("ssh", "-F", "/dev/null",
			"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "CheckHostIP=no",
			"-o", "UserKnownHostsFile="+f.KnownHosts, "-o", "IdentitiesOnly=yes",
			"-i", f.Identity, "-p", strconv.Itoa(f.Port), f.User+"@"+addr,
			"echo", "ok").CombinedOutput()
		return string(out), err
	}
	for _, a := range []string{f.Addrs[0], f.Addrs[299]} {
		if out, err := ssh(a); err != nil || !strings.HasSuffix(out, "ok\n") {
			t.Errorf("ssh to %s: %v\n%s", a, err, out)
		}
	}
	if out, err := ssh("127.0.9.9"); err == nil || !strings.Contains(out, "Host key verification failed") {
		t.Errorf("ssh to an address outside the fleet: %v, want a host key refusal\n%s", err, out)
	}
	if cpu, err := f.CPU(); err != nil || cpu < 0 {
		t.Errorf("CPU: %v, %v", cpu, err)
	}
}

// needSSH stops the test without OpenSSH's client (openssh-server, which
// scripts/install-deps.sh installs, brings it).
func needSSH(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		missing(t, "no ssh client")
	}
}

// missing fails the test in CI, where the project's scripts install what
// it needs, and skips it on a developer's machine that lacks it.
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why + ": scripts/install-deps.sh installs it")
	}
	t.Skip(why)
}
