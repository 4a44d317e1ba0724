package host

// "Live" means served: after a switch, the proxy is asked from outside
// (its front URL, on new connections) until it answers with the new slot
// a number of times in a row, before anything reports the release live,
// runs verify or stops the old slot.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// Confirmation defaults, as in the schema.
const (
	defaultConfirmCount   = 5
	defaultConfirmTimeout = 10 * time.Second
	defaultDrainTimeout   = 30 * time.Second
)

// expandProxy replaces the placeholders of proxy settings and commands:
// {unit}, {slot}, {port}, {host} (the host as in the target's hosts,
// "local" for this machine) and {version}.
func expandProxy(s string, u *state.Unit, rec *Record, host string) string {
	r := []string{"{unit}", u.Name, "{host}", hostName(host)}
	if rec != nil {
		r = append(r, "{slot}", rec.Slot, "{version}", rec.Version)
		if rec.Port > 0 {
			r = append(r, "{port}", strconv.Itoa(rec.Port))
		} else if u.Port > 0 {
			r = append(r, "{port}", strconv.Itoa(u.Port))
		}
	}
	return strings.NewReplacer(r...).Replace(s)
}

func expandArgv(argv []string, u *state.Unit, rec *Record, host string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = expandProxy(a, u, rec, host)
	}
	return out
}

// confirmServed asks proxy.confirm.url, each time on a new connection,
// until confirm.count responses in a row have a 2xx status and a body
// containing confirm.body ({version} by default), or confirm.timeout
// passes. Without proxy.confirm there is nothing to ask (haproxy's server
// states are its confirmation).
func (d *Driver) confirmServed(ctx context.Context, h *hostRun, u *state.Unit, rec *Record) error {
	c := d.Target.Proxy.Confirm
	if c == nil {
		if d.proxyKind() != proxyHAProxy {
			h.say("proxy: the switch is not confirmed from outside (no proxy.confirm)")
		}
		return nil
	}
	n := c.Count
	if n <= 0 {
		n = defaultConfirmCount
	}
	timeout := c.Timeout.Duration
	if timeout <= 0 {
		timeout = defaultConfirmTimeout
	}
	want := c.Body
	if want == "" {
		want = "{version}"
	}
	want = expandProxy(want, u, rec, h.host)
	url := expandProxy(c.URL, u, rec, h.host)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	start := time.Now()
	ok, tries := 0, 0
	last := "no response yet"
	for ok < n {
		tries++
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("proxy confirm: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode/100 == 2 && strings.Contains(string(b), want) {
				ok++
				continue
			}
			last = fmt.Sprintf("%d %q", resp.StatusCode, firstLineOf(string(b)))
		} else {
			last = err.Error()
		}
		ok = 0
		select {
		case <-ctx.Done():
			return fmt.Errorf("proxy confirm: %s did not answer %q %d times in a row within %s (last: %s)", url, want, n, timeout, last)
		case <-time.After(5 * time.Millisecond):
		}
	}
	h.say("proxy: confirmed: %d responses in a row from %s (%s, %d requests)", n, rec.Slot, time.Since(start).Round(time.Microsecond), tries)
	return nil
}

func firstLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
