package host

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// TestBlueGreenLoad measures what clients of nginx see while a blue/green
// deploy and then a rollback switch the upstream: wrk runs against nginx
// for 10s (GEARSHIFT_BENCH_SECONDS) with keep-alive connections; the
// deploy happens at 20% of the run, the rollback at 60%. It reports the
// failed requests (non-2xx responses and socket errors, from wrk's
// output) and each switch time, from the write of the upstream file to
// the first response of the other version on a new connection. It is not
// part of normal test runs:
//
//	GEARSHIFT_BENCH=1 go test -run TestBlueGreenLoad -v ./internal/driver/host/
//
// GEARSHIFT_BENCH_CONNECTION_CLOSE=1 makes wrk send "Connection: close".
// With keep-alive, a reload makes nginx's old worker close the
// connections it holds, and a request wrk sends on one at that moment
// fails as a socket error (clients that retry such a request, as HTTP
// allows for idempotent ones, do not see it); new connections always
// reach a worker.
func TestBlueGreenLoad(t *testing.T) {
	if os.Getenv("GEARSHIFT_BENCH") != "1" {
		t.Skip("set GEARSHIFT_BENCH=1 to run the blue/green load benchmark")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatalf("wrk not found: run scripts/install-deps.sh")
	}
	seconds := 10
	if s := os.Getenv("GEARSHIFT_BENCH_SECONDS"); s != "" {
		if seconds, err = strconv.Atoi(s); err != nil || seconds < 5 {
			t.Fatalf("GEARSHIFT_BENCH_SECONDS=%q: want a number >= 5", s)
		}
	}
	ctx := context.Background()
	ev := newEvents(t)
	d, srv, ports := blueGreenSetup(t, ev)
	env := &state.Environment{Name: "dev"}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if _, err := d.Deploy(ctx, deployReq(t, blueGreenUnit("1.0.0", ports), false, t0, ev)); err != nil {
		t.Fatal(err)
	}
	waitServes(t, srv.URL, "1.0.0")
	req2 := deployReq(t, blueGreenUnit("2.0.0", ports), false, t0.Add(time.Hour), ev)

	// The watcher records when each version is first served.
	w := &watcher{url: srv.URL}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { w.run(stop); close(watched) }()

	argv := []string{"-t2", "-c16", "-d" + strconv.Itoa(seconds) + "s", "--latency"}
	if os.Getenv("GEARSHIFT_BENCH_CONNECTION_CLOSE") == "1" {
		// Every request on a new connection: what clients that do not
		// reuse connections see.
		argv = append(argv, "-H", "Connection: close")
	}
	argv = append(argv, srv.URL)
	cmd := exec.Command(wrk, argv...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	run := time.Duration(seconds) * time.Second
	time.Sleep(run / 5)
	deployStart := time.Now()
	if _, err := d.Deploy(ctx, req2); err != nil {
		t.Errorf("deploy 2.0.0 under load: %v", err)
	}
	deployTook := time.Since(deployStart)
	time.Sleep(time.Until(deployStart.Add(run * 2 / 5)))
	from := len(ev.all())
	rbStart := time.Now()
	if _, err := d.Rollback(ctx, env, req2.Unit, ""); err != nil {
		t.Errorf("rollback under load: %v", err)
	}
	rbTook := time.Since(rbStart)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wrk: %v\n%s", err, out.String())
	}
	close(stop)
	<-watched
	t.Logf("wrk %s\n%s", strings.Join(argv, " "), out.String())

	requests, non2xx, sock := parseWrk(t, out.String())
	all := ev.all()
	switchTo := func(after int, slot, version string) time.Duration {
		for _, e := range all[after:] {
			if strings.Contains(e.msg, "proxy: writing") && strings.Contains(e.msg, "("+slot+")") {
				return w.firstAfter(version, e.at).Sub(e.at)
			}
		}
		return -1
	}
	toGreen := switchTo(0, "green", "2.0.0")
	toBlue := switchTo(from, "blue", "1.0.0")
	t.Logf("requests %d, failed %d (non-2xx %d, socket errors %d)", requests, non2xx+sock, non2xx, sock)
	t.Logf("deploy 2.0.0 took %s; switch to green: %s from the upstream write to the first 2.0.0 response", deployTook.Round(time.Millisecond), toGreen.Round(time.Microsecond))
	t.Logf("rollback took %s; switch back to blue: %s from the upstream write to the first 1.0.0 response", rbTook.Round(time.Millisecond), toBlue.Round(time.Microsecond))
	closeMode := os.Getenv("GEARSHIFT_BENCH_CONNECTION_CLOSE") == "1"
	switch {
	case non2xx > 0:
		// nginx answered 502 or 504: it was routed to a slot that did not
		// serve, which is gearshift's to prevent.
		t.Errorf("%d requests got an error status during the switches, want 0", non2xx)
	case sock > 0 && closeMode:
		t.Errorf("%d requests on new connections failed, want 0", sock)
	case sock > 0:
		t.Logf("%d socket errors: requests sent on keep-alive connections that nginx's old worker closed at a reload (see the doc comment)", sock)
	}
	if toGreen < 0 || toBlue < 0 {
		t.Errorf("a switch was not seen by the watcher (green %s, blue %s)", toGreen, toBlue)
	}
}

// watcher polls a URL and remembers when each body was served.
type watcher struct {
	url string
	mu  sync.Mutex
	log []seenAt // each change of body
}

type seenAt struct {
	at   time.Time
	body string
}

func (w *watcher) run(stop chan struct{}) {
	// A new connection per request: the switch is when new connections
	// reach the other slot.
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		select {
		case <-stop:
			return
		default:
		}
		resp, err := c.Get(w.url)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		now := time.Now()
		w.mu.Lock()
		body := strings.TrimSpace(string(b))
		if n := len(w.log); n == 0 || w.log[n-1].body != body {
			w.log = append(w.log, seenAt{now, body})
		}
		w.mu.Unlock()
		time.Sleep(500 * time.Microsecond)
	}
}

// firstAfter is when body was first served after t.
func (w *watcher) firstAfter(body string, t time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.log {
		if s.body == body && !s.at.Before(t) {
			return s.at
		}
	}
	return t.Add(-time.Hour) // never: a negative duration
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads the request count, the non-2xx responses and the socket
// errors from wrk's report; wrk leaves out the last two lines when they
// are zero.
func parseWrk(t *testing.T, out string) (requests, non2xx, socket int) {
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no request count in wrk's output:\n%s", out)
	}
	requests, _ = strconv.Atoi(m[1])
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		non2xx, _ = strconv.Atoi(m[1])
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			socket += n
		}
	}
	return requests, non2xx, socket
}
