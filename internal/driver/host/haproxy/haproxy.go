// Package haproxy is a small client of HAProxy's runtime API: the text
// protocol of its stats socket (`stats socket <path> level admin`), one
// command per connection, answered and closed. It sets a server's
// administrative state (ready, drain, maint) without a reload, reads the
// servers' states (`show servers state`) and their current sessions
// (`show stat`), which is what a blue/green switch and a drain need.
//
// It must never build a command from text it did not check: backend and
// server names are refused unless they are HAProxy identifiers, so that
// nothing from the state can add a second command to a line.
package haproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one command: dial, write, read the answer.
const DefaultTimeout = 5 * time.Second

// maxAnswer caps what is read of an answer (`show stat` of a large config
// is the largest).
const maxAnswer = 8 << 20

// Client speaks to one HAProxy's stats socket.
type Client struct {
	// Dial opens a new connection to the socket (a Unix socket on this
	// machine, or one forwarded over SSH).
	Dial func(ctx context.Context) (net.Conn, error)
	// Timeout bounds each command; DefaultTimeout when zero.
	Timeout time.Duration
}

// State is a server's administrative state as `set server` takes it.
type State string

// The administrative states.
const (
	Ready State = "ready"
	Drain State = "drain"
	Maint State = "maint"
)

// ValidName reports whether s may name a backend or a server: HAProxy's
// identifiers are letters, digits, '-', '_', '.' and ':'.
func ValidName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == ':':
		default:
			return false
		}
	}
	return true
}

// Exec sends one command line and returns the whole answer.
func (c *Client) Exec(ctx context.Context, cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\n\r;") {
		return "", fmt.Errorf("haproxy: refusing a command with a line break or ';': %q", cmd)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := c.Dial(ctx)
	if err != nil {
		return "", fmt.Errorf("haproxy: connect to the stats socket: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fmt.Errorf("haproxy: %s: %w", cmd, err)
	}
	b, err := io.ReadAll(io.LimitReader(conn, maxAnswer))
	if err != nil {
		return "", fmt.Errorf("haproxy: %s: %w", cmd, err)
	}
	return string(b), nil
}

// SetState sets backend/server's administrative state. HAProxy answers
// nothing on success; anything else (an unknown backend or server) is the
// error.
func (c *Client) SetState(ctx context.Context, backend, server string, st State) error {
	if !ValidName(backend) || !ValidName(server) {
		return fmt.Errorf("haproxy: invalid backend/server name %q/%q", backend, server)
	}
	switch st {
	case Ready, Drain, Maint:
	default:
		return fmt.Errorf("haproxy: unknown server state %q", st)
	}
	out, err := c.Exec(ctx, fmt.Sprintf("set server %s/%s state %s", backend, server, st))
	if err != nil {
		return err
	}
	if msg := strings.TrimSpace(out); msg != "" {
		return fmt.Errorf("haproxy: set server %s/%s state %s: %s", backend, server, st, firstLine(msg))
	}
	return nil
}

// Server is one line of `show servers state`.
type Server struct {
	Backend, Name string
	Addr          string
	Port          int
	// OpState is srv_op_state: 0 stopped, 1 starting, 2 running,
	// 3 stopping.
	OpState int
	// AdminState is srv_admin_state, a set of flags (AdminMaint,
	// AdminDrain).
	AdminState int
}

// srv_op_state and srv_admin_state flags (HAProxy's include/haproxy/server-t.h).
const (
	OpRunning = 2
	// AdminMaint is every flag that keeps a server in maintenance (HAProxy's
	// SRV_ADMF_MAINT): forced (FMAINT 0x01), inherited (IMAINT 0x02),
	// resolution (RMAINT 0x20). CMAINT (0x04) only records that the
	// config said "disabled": it stays after `set server ... state ready`.
	AdminMaint = 0x01 | 0x02 | 0x20
	// AdminDrain is forced (FDRAIN 0x08) or inherited (IDRAIN 0x10) drain.
	AdminDrain = 0x08 | 0x10
)

// Serving reports whether the server takes new requests: running and
// neither in maintenance nor draining.
func (s Server) Serving() bool {
	return s.OpState == OpRunning && s.AdminState&(AdminMaint|AdminDrain) == 0
}

// InMaint reports whether the server is in maintenance.
func (s Server) InMaint() bool { return s.AdminState&AdminMaint != 0 }

// Draining reports whether the server drains (and is not in maintenance).
func (s Server) Draining() bool { return !s.InMaint() && s.AdminState&AdminDrain != 0 }

// ServersState returns the raw answer of `show servers state` (every
// backend when backend is ""): the format HAProxy's server-state-file
// loads.
func (c *Client) ServersState(ctx context.Context, backend string) (string, error) {
	cmd := "show servers state"
	if backend != "" {
		if !ValidName(backend) {
			return "", fmt.Errorf("haproxy: invalid backend name %q", backend)
		}
		cmd += " " + backend
	}
	out, err := c.Exec(ctx, cmd)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(out, "1\n") {
		return "", fmt.Errorf("haproxy: %s: %s", cmd, firstLine(strings.TrimSpace(out)))
	}
	return out, nil
}

// Servers returns backend's servers as `show servers state` says.
func (c *Client) Servers(ctx context.Context, backend string) ([]Server, error) {
	out, err := c.ServersState(ctx, backend)
	if err != nil {
		return nil, err
	}
	return ParseServersState(out)
}

// ParseServersState reads the answer of `show servers state`: a version
// line ("1"), a header line naming the columns ("# be_id be_name ..."),
// then one line per server with space-separated fields.
func ParseServersState(out string) ([]Server, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != "1" {
		return nil, errors.New("haproxy: servers state: want version 1 on the first line")
	}
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "# ") {
		return nil, errors.New("haproxy: servers state: no header line")
	}
	col := map[string]int{}
	for i, f := range strings.Fields(strings.TrimPrefix(sc.Text(), "# ")) {
		col[f] = i
	}
	for _, name := range []string{"be_name", "srv_name", "srv_addr", "srv_op_state", "srv_admin_state", "srv_port"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("haproxy: servers state: no column %s", name)
		}
	}
	var servers []Server
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		get := func(name string) string {
			if i := col[name]; i < len(f) {
				return f[i]
			}
			return ""
		}
		op, err1 := strconv.Atoi(get("srv_op_state"))
		adm, err2 := strconv.Atoi(get("srv_admin_state"))
		port, err3 := strconv.Atoi(get("srv_port"))
		if err1 != nil || err2 != nil || err3 != nil || get("be_name") == "" || get("srv_name") == "" {
			return nil, fmt.Errorf("haproxy: servers state: bad line %q", firstLine(line))
		}
		servers = append(servers, Server{Backend: get("be_name"), Name: get("srv_name"), Addr: get("srv_addr"), Port: port, OpState: op, AdminState: adm})
	}
	return servers, sc.Err()
}

// Sessions returns the current sessions (scur) of each server of backend,
// by server name, from `show stat`.
func (c *Client) Sessions(ctx context.Context, backend string) (map[string]int, error) {
	if !ValidName(backend) {
		return nil, fmt.Errorf("haproxy: invalid backend name %q", backend)
	}
	out, err := c.Exec(ctx, "show stat")
	if err != nil {
		return nil, err
	}
	return ParseStat(out, backend)
}

// ParseStat reads the CSV of `show stat` ("# pxname,svname,qcur,qmax,scur,...")
// and returns scur of backend's servers (not its FRONTEND and BACKEND lines).
func ParseStat(out, backend string) (map[string]int, error) {
	if !strings.HasPrefix(out, "# ") {
		return nil, fmt.Errorf("haproxy: show stat: %s", firstLine(strings.TrimSpace(out)))
	}
	r := csv.NewReader(bytes.NewReader([]byte(strings.TrimPrefix(out, "# "))))
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("haproxy: show stat: %w", err)
	}
	px, sv, scur := -1, -1, -1
	for i, h := range head {
		switch h {
		case "pxname":
			px = i
		case "svname":
			sv = i
		case "scur":
			scur = i
		}
	}
	if px < 0 || sv < 0 || scur < 0 {
		return nil, errors.New("haproxy: show stat: no pxname, svname or scur column")
	}
	res := map[string]int{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("haproxy: show stat: %w", err)
		}
		if len(rec) <= max(px, sv, scur) || rec[px] != backend || rec[sv] == "FRONTEND" || rec[sv] == "BACKEND" {
			continue
		}
		n, err := strconv.Atoi(rec[scur])
		if err != nil {
			return nil, fmt.Errorf("haproxy: show stat: scur %q of %s/%s", rec[scur], backend, rec[sv])
		}
		res[rec[sv]] = n
	}
	return res, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
