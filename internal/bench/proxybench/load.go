// Package proxybench measures what clients see while the host driver
// switches a proxy: a strict load client (keep-alive POSTs written on raw
// connections, so that nothing retries a failed request and every error
// is counted) runs against nginx or HAProxy while blue/green switches and
// switch-backs, or rolling deploys and rollbacks, happen. Its tests assert
// zero failed requests behind HAProxy and that the nginx reload control
// sees failures; `make bench-proxy` prints the figures.
//
// It must never be imported by gearshift itself.
package proxybench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Failure kinds of a request.
const (
	FailConnect = "connect" // no connection
	FailWrite   = "write"   // the request could not be sent
	FailRead    = "read"    // the connection closed or reset before a whole response
	FailStatus  = "status"  // a response that is not 2xx (502, 503 from the proxy)
)

// Load is a strict HTTP/1.1 client: Conns connections, each sending a POST
// with a small body and reading the whole response before the next one,
// on the same connection for as long as the server keeps it. A failed
// request is counted and never sent again; its connection is replaced.
type Load struct {
	URL   string
	Conns int

	mu        sync.Mutex
	failed    map[string]int
	responses []response
	requests  atomic.Int64
	stop      chan struct{}
	wg        sync.WaitGroup
}

// response is one response received: when, and the version it carried.
type response struct {
	sent, at time.Time
	version  string
}

// Start starts the connections.
func (l *Load) Start() error {
	u, err := url.Parse(l.URL)
	if err != nil {
		return err
	}
	l.failed = map[string]int{}
	l.stop = make(chan struct{})
	for range l.Conns {
		l.wg.Add(1)
		go l.conn(u)
	}
	return nil
}

// Stop stops the connections and waits for them.
func (l *Load) Stop() {
	close(l.stop)
	l.wg.Wait()
}

func (l *Load) fail(kind string) {
	l.mu.Lock()
	l.failed[kind]++
	l.mu.Unlock()
}

func (l *Load) conn(u *url.URL) {
	defer l.wg.Done()
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", u.RequestURI(), u.Host)
	var c net.Conn
	var br *bufio.Reader
	for {
		select {
		case <-l.stop:
			if c != nil {
				c.Close()
			}
			return
		default:
		}
		if c == nil {
			var err error
			c, err = net.DialTimeout("tcp", u.Host, 2*time.Second)
			if err != nil {
				l.requests.Add(1)
				l.fail(FailConnect)
				time.Sleep(time.Millisecond)
				continue
			}
			br = bufio.NewReader(c)
		}
		l.requests.Add(1)
		sent := time.Now()
		_ = c.SetDeadline(sent.Add(5 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			l.fail(FailWrite)
			c.Close()
			c = nil
			continue
		}
		resp, err := http.ReadResponse(br, nil)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			l.fail(FailRead)
			c.Close()
			c = nil
			continue
		}
		now := time.Now()
		if resp.StatusCode/100 != 2 {
			l.fail(FailStatus)
		} else {
			l.mu.Lock()
			l.responses = append(l.responses, response{sent, now, strings.TrimSpace(string(body))})
			l.mu.Unlock()
		}
		if resp.Close {
			c.Close()
			c = nil
		}
	}
}

// Requests is how many requests were sent (or tried: a connection that
// could not be made counts as one failed request).
func (l *Load) Requests() int64 { return l.requests.Load() }

// Failed is the failed requests by kind.
func (l *Load) Failed() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.failed))
	for k, v := range l.failed {
		out[k] = v
	}
	return out
}

// TotalFailed is the failed requests of every kind.
func (l *Load) TotalFailed() int {
	n := 0
	for _, v := range l.Failed() {
		n += v
	}
	return n
}

// Versions is how many responses each version gave.
func (l *Load) Versions() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, r := range l.responses {
		out[r.version]++
	}
	return out
}

// FirstAfter is when version was first received at or after t; ok is false
// if it never was.
func (l *Load) FirstAfter(version string, t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.responses {
		if r.version == version && !r.at.Before(t) {
			return r.at, true
		}
	}
	return time.Time{}, false
}

// LastOtherIn is the last response of a version other than version
// received in [from, until); ok is false if there was none.
func (l *Load) LastOtherIn(version string, from, until time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var last time.Time
	ok := false
	for _, r := range l.responses {
		if r.version != version && !r.at.Before(from) && r.at.Before(until) {
			last, ok = r.at, true
		}
	}
	return last, ok
}

// OtherSentIn counts the responses of a version other than version to
// requests sent at or after from and answered before until: requests that
// reached an old release although they were sent once the new one was
// reported live. A request still unanswered at until is not counted: the
// next switch (which starts at until) may have routed it, and a
// switch-back rightly sends it to the other version (a CI run saw 4 such
// requests, sent just before a switch-back and answered by the release
// it went back to).
func (l *Load) OtherSentIn(version string, from, until time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.responses {
		if r.version != version && !r.sent.Before(from) && r.at.Before(until) {
			n++
		}
	}
	return n
}

// FailedString is the failures by kind, "connect 0, read 3, ...".
func FailedString(m map[string]int) string {
	kinds := []string{FailConnect, FailWrite, FailRead, FailStatus}
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	var other []string
	for k := range m {
		if !strings.Contains(strings.Join(kinds, " "), k) {
			other = append(other, k)
		}
	}
	sort.Strings(other)
	for _, k := range other {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
