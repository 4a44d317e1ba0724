package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// CommandRunner runs a health command and reports its exit code and the
// end of its output (for the message when it fails).
type CommandRunner func(ctx context.Context, argv []string) (exitCode int, output string, err error)

// Expand replaces {port} and {unit} in a health URL or argument.
func Expand(s string, unit string, port int) string {
	s = strings.ReplaceAll(s, "{unit}", unit)
	if port > 0 {
		s = strings.ReplaceAll(s, "{port}", strconv.Itoa(port))
	}
	return s
}

// Probe checks a unit's health once: an HTTP request with the expected
// status and body, or a command that must exit 0. It does not retry; apply
// retries until the check's deadline.
func Probe(ctx context.Context, h *state.Health, unit string, port int, run CommandRunner) (Health, string) {
	if h == nil {
		return HealthUnknown, "no health check declared"
	}
	timeout := 5 * time.Second
	if h.Timeout.Duration > 0 && h.Timeout.Duration < timeout {
		timeout = h.Timeout.Duration
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if h.HTTP != nil {
		return probeHTTP(ctx, h.HTTP, unit, port)
	}
	if len(h.Command) > 0 && run != nil {
		argv := make([]string, len(h.Command))
		for i, a := range h.Command {
			argv[i] = Expand(a, unit, port)
		}
		code, out, err := run(ctx, argv)
		switch {
		case err != nil:
			return HealthUnhealthy, fmt.Sprintf("health command: %v", err)
		case code != 0:
			msg := fmt.Sprintf("health command exited %d", code)
			if out = strings.TrimSpace(out); out != "" {
				if len(out) > 300 {
					out = "..." + out[len(out)-300:]
				}
				msg += ": " + out
			}
			return HealthUnhealthy, msg
		}
		return HealthHealthy, ""
	}
	return HealthUnknown, "no health check declared"
}

// probeClient never follows redirects to other hosts' credentials and keeps
// no connections between probes.
var probeClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return http.ErrUseLastResponse
		}
		return nil
	},
}

func probeHTTP(ctx context.Context, c *state.HTTPCheck, unit string, port int) (Health, string) {
	url := Expand(c.URL, unit, port)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return HealthUnhealthy, fmt.Sprintf("health URL: %v", err)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return HealthUnhealthy, fmt.Sprintf("GET %s: %v", url, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	want := c.Status
	if want == 0 {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		return HealthUnhealthy, fmt.Sprintf("GET %s: status %d, want %d", url, resp.StatusCode, want)
	}
	if c.Body != "" && !strings.Contains(string(body), c.Body) {
		return HealthUnhealthy, fmt.Sprintf("GET %s: body does not contain %q", url, c.Body)
	}
	return HealthHealthy, ""
}

func unwrapURLError(err error) error {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
