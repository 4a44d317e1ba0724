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
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client")
	}
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
