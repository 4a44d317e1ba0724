package host

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

// hostUnit serves on a free port; its run.command and run.env name {host}
// (a service binding its host's address). -fail-if takes any path: the
// argument is carried, never a file that exists.
func hostUnit(version string, port int) *state.Unit {
	u := webUnit(version)
	u.Port = port
	u.Run = &state.Command{
		Command: []string{"./unitserver", "-fail-if", "{host}.down"},
		Env:     map[string]string{"PORT": "{port}", "BIND_ADDR": "{host}:{port}", "PLAIN": "no placeholder"},
	}
	return u
}

// processArgsEnv is what the running process really got: its argv and the
// named variables of its environment, read from /proc.
func processArgsEnv(t *testing.T, pid int, names ...string) ([]string, map[string]string) {
	t.Helper()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	env := map[string]string{}
	for _, kv := range bytes.Split(environ, []byte{0}) {
		k, v, _ := strings.Cut(string(kv), "=")
		for _, n := range names {
			if k == n {
				env[k] = v
			}
		}
	}
	return args, env
}

// TestHostPlaceholderLocal: on a local target {host} in run.command and
// run.env is the loopback address, in what the started process receives.
func TestHostPlaceholderLocal(t *testing.T) {
	ctx := context.Background()
	ev := newEvents(t)
	d := localDriver(t, &state.HostTarget{Service: "process", KeepReleases: 2}, ev)
	pruneAtEnd(t, d, "web")
	port := freePort(t)
	if _, err := d.Deploy(ctx, deployReq(t, hostUnit("1.0.0", port), false, time.Now().UTC(), ev)); err != nil {
		t.Fatal(err)
	}
	args, env := processArgsEnv(t, pidOf(t, Layout{Root: d.Target.Root, Unit: "web"}, ""), "BIND_ADDR", "PLAIN")
	p := strconv.Itoa(port)
	if diff := cmp.Diff(args[1:], []string{"-fail-if", "127.0.0.1.down"}); diff != "" {
		t.Errorf("argv (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(env, map[string]string{"BIND_ADDR": "127.0.0.1:" + p, "PLAIN": "no placeholder"}); diff != "" {
		t.Errorf("environment (-got +want):\n%s", diff)
	}
}

// TestHostPlaceholderSSH: over SSH {host} is the host as the target lists
// it, without the port SSH dials.
func TestHostPlaceholderSSH(t *testing.T) {
	ctx := context.Background()
	c := sshd.Start(t, 1)
	ev := newEvents(t)
	pool := NewPool()
	t.Cleanup(func() { pool.Close() })
	d := &Driver{Name: "t", Target: sshTarget(t, c), Connect: pool.Connector(), Event: ev.add}
	pruneAtEnd(t, d, "web")
	port := freePort(t)
	if _, err := d.Deploy(ctx, deployReq(t, hostUnit("1.0.0", port), false, time.Now().UTC(), ev)); err != nil {
		t.Fatal(err)
	}
	l, err := d.layout(d.Target.Hosts[0], "web")
	if err != nil {
		t.Fatal(err)
	}
	args, env := processArgsEnv(t, pidOf(t, l, ""), "BIND_ADDR")
	addr := c.Hosts[0].Addr
	if diff := cmp.Diff(args[1:], []string{"-fail-if", addr + ".down"}); diff != "" {
		t.Errorf("argv (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(env, map[string]string{"BIND_ADDR": addr + ":" + strconv.Itoa(port)}); diff != "" {
		t.Errorf("environment (-got +want):\n%s", diff)
	}
	if d.Target.Hosts[0] == addr {
		t.Fatalf("the target's host %q has no port: the test would not show that {host} drops it", d.Target.Hosts[0])
	}
}

// TestExpandHost covers the forms a target's hosts take.
func TestExpandHost(t *testing.T) {
	for _, tt := range []struct{ in, host, want string }{
		{"{host}:8080", "", "127.0.0.1:8080"},
		{"{host}", "gdx-login", "gdx-login"},
		{"{host}", "10.0.0.5:2222", "10.0.0.5"},
		{"{host}", "[::1]:22", "::1"},
		{"bind={host},{host}", "sleipnir", "bind=sleipnir,sleipnir"},
		{"no placeholder", "sleipnir", "no placeholder"},
	} {
		if got := expandHost(tt.in, tt.host); got != tt.want {
			t.Errorf("expandHost(%q, %q) = %q, want %q", tt.in, tt.host, got, tt.want)
		}
	}
}
