package host

// nginx's worker generations: `nginx -s reload` only signals the master,
// which starts new workers and then tells the old ones to finish. Until
// they have, they still take requests (on connections they hold, and on
// the listening socket for a moment), so a switch through nginx is live
// only once the old generation is gone.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// defaultNginxPidFile is where Debian's nginx writes its master's pid.
const defaultNginxPidFile = "/run/nginx.pid"

// nginxWorkers returns the pids of the children of nginx's master (its
// workers, and its cache processes), read on the host from the pid file
// and /proc/<master>/task/<master>/children; nil with a reason when they
// cannot be read.
func (d *Driver) nginxWorkers(ctx context.Context, h *hostRun) ([]int, error) {
	pf := d.Target.Proxy.PidFile
	if pf == "" {
		pf = defaultNginxPidFile
	}
	b, err := h.c.ReadFile(ctx, pf)
	if err != nil {
		return nil, fmt.Errorf("read nginx's pid file: %w", err)
	}
	master, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || master <= 1 {
		return nil, fmt.Errorf("nginx's pid file %s holds %q", pf, strings.TrimSpace(string(b)))
	}
	b, err = h.c.ReadFile(ctx, fmt.Sprintf("/proc/%d/task/%d/children", master, master))
	if err != nil {
		return nil, fmt.Errorf("read the children of nginx's master %d: %w", master, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// waitGenerationGone waits until none of old runs any more, at most
// timeout. A worker that outlives it serves only connections it already
// held (a long request, a websocket): the switch goes on, and says so.
func (d *Driver) waitGenerationGone(ctx context.Context, h *hostRun, old []int, timeout time.Duration) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		left := 0
		for _, pid := range old {
			ok, err := h.c.Exists(ctx, fmt.Sprintf("/proc/%d/stat", pid))
			if err == nil && ok {
				left++
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				h.say("proxy: cannot tell whether nginx's old worker %d runs: %v", pid, err)
				return
			}
		}
		if left == 0 {
			h.say("proxy: nginx's old workers are gone (%s)", time.Since(start).Round(time.Microsecond))
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			h.say("proxy: %d of nginx's old workers still run after %s (connections they held); going on", left, timeout)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
