package haproxy_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver/host/haproxy"
	hatest "github.com/gearshift-dev/gearshift/internal/testutil/haproxy"
)

func backendServer(t *testing.T, body string) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func client(p *hatest.Proxy) *haproxy.Client {
	return &haproxy.Client{Dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", p.Socket)
	}}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientRealHAProxy sets server states through a real HAProxy's stats
// socket and reads them back, with the sessions of show stat, and sees
// the answer of an unknown server as an error.
func TestClientRealHAProxy(t *testing.T) {
	ctx := context.Background()
	p := hatest.Start(t, "web",
		hatest.Server{Name: "blue", Addr: backendServer(t, "blue")},
		hatest.Server{Name: "green", Addr: backendServer(t, "green"), Disabled: true})
	c := client(p)
	get := func(name string) haproxy.Server {
		t.Helper()
		servers, err := c.Servers(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no server %s in %+v", name, servers)
		return haproxy.Server{}
	}
	waitFor(t, "blue serving", func() bool { return get("blue").Serving() })
	if g := get("green"); g.Serving() || !g.InMaint() {
		t.Errorf("green (disabled in the config) = %+v, want in maintenance", g)
	}
	if err := c.SetState(ctx, "web", "green", haproxy.Ready); err != nil {
		t.Fatal(err)
	}
	if err := c.SetState(ctx, "web", "blue", haproxy.Drain); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "green serving", func() bool { return get("green").Serving() })
	if b := get("blue"); b.Serving() || !b.Draining() {
		t.Errorf("blue after drain = %+v, want draining", b)
	}
	resp, err := http.Get(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, _ := resp.Body.Read(buf)
	resp.Body.Close()
	if got := string(buf[:n]); got != "green" {
		t.Errorf("GET through haproxy = %q, want green", got)
	}
	if err := c.SetState(ctx, "web", "blue", haproxy.Maint); err != nil {
		t.Fatal(err)
	}
	if b := get("blue"); !b.InMaint() {
		t.Errorf("blue after maint = %+v", b)
	}
	sess, err := c.Sessions(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sess["blue"]; !ok || len(sess) != 2 {
		t.Errorf("sessions = %v, want blue and green", sess)
	}
	err = c.SetState(ctx, "web", "nosuch", haproxy.Ready)
	if err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("set state of an unknown server: %v, want an error", err)
	}
	if err := c.SetState(ctx, "web", "blue;shutdown", haproxy.Ready); err == nil {
		t.Error("a server name with ';' was accepted")
	}
	raw, err := c.ServersState(ctx, "")
	if err != nil || !strings.HasPrefix(raw, "1\n# be_id") {
		t.Errorf("show servers state = %q, %v", raw, err)
	}
}

func TestParseServersState(t *testing.T) {
	out := "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n" +
		"3 web 1 blue 127.0.0.1 2 0 1 1 12 15 3 4 6 0 0 0 - 18091 - 0 0 - - 0\n" +
		"3 web 2 green 127.0.0.1 0 1 1 1 12 1 0 0 14 0 0 0 - 18092 - 0 0 - - 0\n"
	got, err := haproxy.ParseServersState(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []haproxy.Server{
		{Backend: "web", Name: "blue", Addr: "127.0.0.1", Port: 18091, OpState: 2, AdminState: 0},
		{Backend: "web", Name: "green", Addr: "127.0.0.1", Port: 18092, OpState: 0, AdminState: 1},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if !got[0].Serving() || got[1].Serving() || !got[1].InMaint() {
		t.Errorf("states: %+v", got)
	}
	for _, bad := range []string{"", "Unknown command\n", "1\nno header\n", "1\n# be_name\n"} {
		if _, err := haproxy.ParseServersState(bad); err == nil {
			t.Errorf("ParseServersState(%q) gave no error", bad)
		}
	}
}

func TestParseStat(t *testing.T) {
	out := "# pxname,svname,qcur,qmax,scur,smax\nfe,FRONTEND,,,3,4\nweb,blue,0,0,2,5\nweb,green,0,0,0,1\nweb,BACKEND,0,0,2,5\nother,x,0,0,9,9\n"
	got, err := haproxy.ParseStat(out, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["blue"] != 2 || got["green"] != 0 {
		t.Errorf("got %v", got)
	}
	if _, err := haproxy.ParseStat("Permission denied\n", "web"); err == nil {
		t.Error("an error answer parsed")
	}
}

// FuzzParse: the answers of a socket are input; no panic, whatever comes.
func FuzzParse(f *testing.F) {
	f.Add("1\n# be_name srv_name srv_addr srv_op_state srv_admin_state srv_port\nweb blue 127.0.0.1 2 0 80\n")
	f.Add("# pxname,svname,scur\nweb,blue,1\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = haproxy.ParseServersState(s)
		_, _ = haproxy.ParseStat(s, "web")
	})
}
