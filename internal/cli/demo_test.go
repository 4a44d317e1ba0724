package cli

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/haproxy"
)

// demoHAProxy is what the demo's HAProxy config (scripts/demo-haproxy.cfg)
// declares that gearshift relies on.
type demoHAProxy struct {
	Socket      string // stats socket path
	SocketOpts  string // "mode 600 level admin"
	StateFile   string // server-state-file
	LoadsState  bool   // load-server-state-from-file global
	Daemon      bool
	Bind        string
	Backend     string   // the frontend's default_backend
	Backends    []string // every backend declared
	Servers     []string // "<backend>/<name> <addr> [disabled]"
	ForeignPath []string // paths outside the demo's root
}

func parseDemoHAProxy(t *testing.T, cfg, root string) demoHAProxy {
	t.Helper()
	var d demoHAProxy
	backend := ""
	for _, line := range strings.Split(cfg, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		for _, w := range f {
			// A file of this HAProxy (not a URL path of a check).
			if f[0] != "option" && f[0] != "http-check" && strings.HasPrefix(w, "/") && !strings.HasPrefix(w, root+"/") {
				d.ForeignPath = append(d.ForeignPath, w)
			}
		}
		switch {
		case f[0] == "backend" && len(f) == 2:
			backend = f[1]
			d.Backends = append(d.Backends, backend)
		case f[0] == "frontend" || f[0] == "defaults" || f[0] == "global":
			backend = ""
		case f[0] == "daemon":
			d.Daemon = true
		case f[0] == "stats" && len(f) >= 3 && f[1] == "socket":
			d.Socket, d.SocketOpts = f[2], strings.Join(f[3:], " ")
		case f[0] == "server-state-file" && len(f) == 2:
			d.StateFile = f[1]
		case f[0] == "load-server-state-from-file" && len(f) == 2 && f[1] == "global":
			d.LoadsState = true
		case f[0] == "bind" && len(f) >= 2:
			d.Bind = f[1]
		case f[0] == "default_backend" && len(f) == 2:
			d.Backend = f[1]
		case f[0] == "server" && backend != "" && len(f) >= 3:
			s := backend + "/" + f[1] + " " + f[2]
			for _, w := range f[3:] {
				if w == "disabled" {
					s += " disabled"
				}
			}
			d.Servers = append(d.Servers, s)
		}
	}
	return d
}

// TestDemoHAProxy: the demo's HAProxy config and the demo state's dev
// environment agree on everything gearshift's switch relies on (the stats
// socket at level admin, the server-state file and its loading, the front
// port the switch is confirmed on, the backend named after planner, one
// server per slot on the slot's port, green in maintenance until the
// first switch to it), its every path is under the demo's root (never the
// machine's own /etc/haproxy or /run/haproxy), and Debian's haproxy
// accepts it.
func TestDemoHAProxy(t *testing.T) {
	st, err := state.Load(context.Background(), "../..", []string{"dev"}, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := st.Environments["dev"]
	target := env.Targets["local"].Host
	if target == nil || target.Proxy == nil {
		t.Fatalf("dev's target local has no proxy: %+v", env.Targets["local"])
	}
	p := target.Proxy
	planner := env.Units["planner"]
	if planner == nil || planner.BlueGreen == nil {
		t.Fatalf("dev has no blue/green planner: %+v", planner)
	}
	if p.Kind != "haproxy" {
		t.Errorf("dev's proxy kind is %q, want haproxy", p.Kind)
	}
	if p.Confirm == nil {
		t.Fatal("dev's proxy has no confirm URL")
	}
	front, err := url.Parse(p.Confirm.URL)
	if err != nil {
		t.Fatal(err)
	}
	backend := strings.ReplaceAll(p.Backend, "{unit}", "planner")
	if backend == "" {
		backend = "planner"
	}
	ports := planner.BlueGreen.Ports
	b, err := os.ReadFile("../../scripts/demo-haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	got := parseDemoHAProxy(t, string(b), target.Root)
	want := demoHAProxy{
		Socket: p.Socket, SocketOpts: "mode 600 level admin",
		StateFile: p.StateFile, LoadsState: true, Daemon: true,
		Bind:    front.Host,
		Backend: backend, Backends: []string{backend},
		Servers: []string{
			backend + "/blue 127.0.0.1:" + strconv.Itoa(ports[0]),
			backend + "/green 127.0.0.1:" + strconv.Itoa(ports[1]) + " disabled",
		},
	}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("scripts/demo-haproxy.cfg against environments/dev (-got +want):\n%s", d)
	}

	if _, err := os.Stat(haproxy.Binary); err != nil {
		t.Fatalf("%s not found: run scripts/install-deps.sh (make test does)", haproxy.Binary)
	}
	// haproxy -c on a copy whose files are in a temporary directory: it
	// checks the config without binding anything.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "haproxy.cfg")
	copyCfg := strings.ReplaceAll(string(b), filepath.Dir(p.Socket), dir)
	if err := os.WriteFile(cfg, []byte(copyCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxy.Binary, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Errorf("haproxy -c rejects scripts/demo-haproxy.cfg: %v\n%s", err, out)
	}
}
