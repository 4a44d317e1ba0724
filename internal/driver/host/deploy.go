package host

// The write side of the host driver: Deploy, and Prune. The steps on one
// host follow docs/host-layout.md and the tsd-import procedure: make the
// directories, mark the attempt, archive the artifact before anything else
// changes, copy the release, write its record, then hand over to the
// strategy (recreate: stop -> switch -> start -> health; bluegreen: start
// beside the old slot -> health -> switch the proxy -> switch current).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// hostRun is one host during an operation: its connection, the unit's
// layout there and where progress goes.
type hostRun struct {
	host  string // as in the target's hosts; "" for this machine
	name  string // for messages
	c     Conn
	l     Layout
	event func(string)

	procOnce sync.Once
	hasProc  bool // the host has a Linux /proc (see proc)
}

func (d *Driver) open(ctx context.Context, h, unit string, event func(string)) (*hostRun, error) {
	l, err := d.layout(h, unit)
	if err != nil {
		return nil, err
	}
	c, err := d.Connect(ctx, d.Target, h)
	if err != nil {
		return nil, err
	}
	return &hostRun{host: h, name: hostName(h), c: c, l: l, event: event}, nil
}

// say reports progress, prefixed with the host.
func (h *hostRun) say(format string, args ...any) {
	if h.event != nil {
		h.event(h.name + ": " + fmt.Sprintf(format, args...))
	}
}

// attempt is <unit>/deploy.json: the last deploy that touched a host,
// written before anything else of that deploy. Rollback compares it with
// `current` to know whether the deploy switched the host, so that rolling
// back a deploy that failed before switching (or rolling back twice, as a
// resumed apply may) never goes past the release that ran before it.
type attempt struct {
	FormatVersion string    `json:"format_version"`
	ID            string    `json:"id"`
	Version       string    `json:"version"`
	Previous      string    `json:"previous,omitempty"`
	StartedAt     time.Time `json:"started_at"`
}

// newer orders attempts: every host of one deploy has the same one.
func (a *attempt) newer(b *attempt) bool {
	if b == nil {
		return true
	}
	if !a.StartedAt.Equal(b.StartedAt) {
		return a.StartedAt.After(b.StartedAt)
	}
	return a.ID > b.ID
}

func (h *hostRun) readAttempt(ctx context.Context) (*attempt, error) {
	b, err := h.c.ReadFile(ctx, h.l.Attempt())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var a attempt
	if err := json.Unmarshal(b, &a); err != nil || a.FormatVersion != RecordFormatVersion || !ValidID(a.ID) {
		return nil, fmt.Errorf("%s is corrupt", h.l.Attempt())
	}
	return &a, nil
}

// writeJSON replaces p atomically with v.
func (h *hostRun) writeJSON(ctx context.Context, p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return h.c.WriteFileAtomic(ctx, p, append(b, '\n'), 0o644)
}

func (h *hostRun) writeRecord(ctx context.Context, rec *Record) error {
	return h.writeJSON(ctx, h.l.Record(rec.ID), rec)
}

// switchCurrent points `current` at release id; the link is relative so
// that a root can be moved or mounted elsewhere.
func (h *hostRun) switchCurrent(ctx context.Context, id string) error {
	if err := h.c.SwitchSymlink(ctx, "releases/"+id, h.l.Current()); err != nil {
		return fmt.Errorf("switch current to %s: %w", id, err)
	}
	h.say("current -> %s", id)
	return nil
}

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// events is where an operation's progress goes: f, else d.Event. Calls
// are serialised, since the hosts of a batch report at the same time.
func (d *Driver) events(f func(string)) func(string) {
	if f == nil {
		f = d.Event
	}
	if f == nil {
		return nil
	}
	var mu sync.Mutex
	return func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		f(msg)
	}
}

// strategy is the unit's strategy, recreate by default.
func strategy(u *state.Unit) string {
	if u.Strategy == "" {
		return state.StrategyRecreate
	}
	return u.Strategy
}

// batch is how many hosts a strategy changes at once: rolling takes
// rolling.maxUnavailable (1 by default), blue/green one host at a time
// (each keeps serving from its old slot until its proxy switches),
// recreate every host at once, since it accepts a break in service anyway.
func (d *Driver) batch(u *state.Unit) int {
	n := len(d.hosts())
	switch strategy(u) {
	case state.StrategyRolling:
		if u.Rolling != nil && u.Rolling.MaxUnavailable > 0 {
			return min(u.Rolling.MaxUnavailable, n)
		}
		return 1
	case state.StrategyBlueGreen:
		return 1
	}
	return max(n, 1)
}

// check refuses, before touching any host, what cannot work.
func (d *Driver) check(u *state.Unit) error {
	if len(d.hosts()) == 0 {
		return fmt.Errorf("target %s has no hosts", d.Name)
	}
	switch d.Target.Service {
	case "", "process":
		if u.Run == nil || len(u.Run.Command) == 0 {
			return fmt.Errorf("unit %s has no run.command, which the process service manager starts", u.Name)
		}
	case "command":
		if d.Target.Command == nil || len(d.Target.Command.Start) == 0 || len(d.Target.Command.Stop) == 0 {
			return fmt.Errorf("target %s uses the command service manager but has no command.start and command.stop", d.Name)
		}
	case "systemd":
	default:
		return fmt.Errorf("target %s: unknown service manager %q", d.Name, d.Target.Service)
	}
	switch strategy(u) {
	case state.StrategyRecreate, state.StrategyRolling:
	case state.StrategyBlueGreen:
		if u.BlueGreen == nil || u.BlueGreen.Ports[0] <= 0 || u.BlueGreen.Ports[1] <= 0 || u.BlueGreen.Ports[0] == u.BlueGreen.Ports[1] {
			return fmt.Errorf("blue/green unit %s needs two different bluegreen.ports", u.Name)
		}
		if hasCheck(u) && u.Health.HTTP != nil && !strings.Contains(u.Health.HTTP.URL, "{port}") {
			return fmt.Errorf("blue/green unit %s needs {port} in its health URL, so that the new slot is checked on its own port before the proxy switches", u.Name)
		}
		if d.Target.Service == "systemd" && !strings.Contains(d.systemdTemplate(), "{slot}") {
			return fmt.Errorf("blue/green unit %s on systemd needs {slot} in the target's systemd.unit (e.g. \"{unit}@{slot}.service\") so that both slots can run", u.Name)
		}
	default:
		return fmt.Errorf("unit %s: unknown strategy %q", u.Name, u.Strategy)
	}
	return nil
}

// DeployError is a deploy that failed on some hosts. Hosts in Done run the
// new release; Untouched were never changed (a rolling or blue/green
// deploy halts at the first failure).
type DeployError struct {
	Unit, Version string
	// Failed maps each failed host to its error.
	Failed    map[string]error
	Done      []string
	Untouched []string
}

func (e *DeployError) Error() string {
	hosts := make([]string, 0, len(e.Failed))
	for h := range e.Failed {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var b strings.Builder
	for i, h := range hosts {
		if i > 0 {
			b.WriteString("; ")
		}
		if len(hosts) > 1 || len(e.Done)+len(e.Untouched) > 0 || h != "local" {
			b.WriteString("host " + h + ": ")
		}
		b.WriteString(e.Failed[h].Error())
	}
	if len(e.Done)+len(e.Untouched) > 0 {
		fmt.Fprintf(&b, " (deployed on: %s; not touched: %s)", listOrNone(e.Done), listOrNone(e.Untouched))
	}
	return b.String()
}

// Unwrap gives the hosts' errors to errors.Is and errors.As.
func (e *DeployError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		errs = append(errs, err)
	}
	return errs
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Deploy installs req.Unit's version on every host of the target with the
// unit's strategy, batch by batch, and stops at the first batch with a
// failure: the error is a *DeployError that says which hosts run the new
// release and which were not touched, and the caller rolls back.
func (d *Driver) Deploy(ctx context.Context, req driver.DeployRequest) (driver.DeployResult, error) {
	u := req.Unit
	res := driver.DeployResult{Version: u.Version}
	if err := d.check(u); err != nil {
		return res, err
	}
	now := req.Now
	if now.IsZero() {
		now = d.now()
	}
	now = now.UTC()
	id := NewID(u.Version, now)
	if !ValidID(id) {
		return res, fmt.Errorf("version %q cannot name a release directory", u.Version)
	}
	res.ReleaseID = id
	event := d.events(req.Event)
	hosts := d.hosts()
	batch := d.batch(u)
	for i := 0; i < len(hosts); i += batch {
		group := hosts[i:min(i+batch, len(hosts))]
		prevs := make([]*Record, len(group))
		errs := make([]error, len(group))
		d.parallel(len(group), func(j int) {
			prevs[j], errs[j] = d.deployHost(ctx, req, id, now, group[j], event)
		})
		failed := map[string]error{}
		for j, h := range group {
			if errs[j] != nil {
				failed[hostName(h)] = errs[j]
				// What it runs now is for the rollback to say.
				res.PerHost = append(res.PerHost, driver.HostResult{Host: hostName(h), Outcome: driver.HostFailed, Error: errs[j].Error()})
				continue
			}
			res.Hosts = append(res.Hosts, hostName(h))
			res.PerHost = append(res.PerHost, driver.HostResult{Host: hostName(h), Outcome: driver.HostDeployed, Version: u.Version, Release: id})
			if res.Previous == nil && prevs[j] != nil {
				p := prevs[j]
				res.Previous = &driver.Release{ID: p.ID, Version: p.Version, DeployedAt: p.DeployedAt}
			}
		}
		if len(failed) > 0 {
			e := &DeployError{Unit: u.Name, Version: u.Version, Failed: failed, Done: res.Hosts}
			for _, h := range hosts[i+len(group):] {
				e.Untouched = append(e.Untouched, hostName(h))
				res.PerHost = append(res.PerHost, driver.HostResult{Host: hostName(h), Outcome: driver.HostUntouched})
			}
			return res, e
		}
	}
	if u.Strategy == state.StrategyBlueGreen && len(hosts) > 0 {
		// The slot the release went to decides verify's {port}.
		if l, err := d.layout(hosts[0], u.Name); err == nil {
			if c, err := d.Connect(ctx, d.Target, hosts[0]); err == nil {
				if cur, _, err := ReadCurrent(ctx, c, l); err == nil && cur != nil && cur.ID == id {
					res.Port = cur.Port
				}
			}
		}
	}
	// Old releases go only once every host runs the new one: until then
	// they are what a rollback returns to.
	d.eachHost(hosts, func(h string) error {
		if err := d.pruneReleases(ctx, h, u, event); err != nil && event != nil {
			event(hostName(h) + ": could not remove old releases: " + err.Error())
		}
		return nil
	})
	return res, nil
}

// deployHost runs the deploy on one host and returns the release that ran
// before (nil on a first deploy).
func (d *Driver) deployHost(ctx context.Context, req driver.DeployRequest, id string, now time.Time, host string, event func(string)) (*Record, error) {
	u := req.Unit
	h, err := d.open(ctx, host, u.Name, event)
	if err != nil {
		return nil, err
	}
	l := h.l
	for _, dir := range []string{l.Dir(), l.Releases(), l.Archive(), l.Run()} {
		if err := h.c.MkdirAll(ctx, dir, 0o755); err != nil {
			return nil, fmt.Errorf("make %s: %w", dir, err)
		}
	}
	// What an earlier run left (a copy cut short by a kill or a full
	// disk) goes before this deploy adds to it.
	if err := sweepUnit(ctx, h.c, l); err != nil {
		h.say("could not remove what an earlier run left: %v", err)
	}
	cur, _, err := ReadCurrent(ctx, h.c, l)
	if err != nil {
		return nil, err
	}
	rec := &Record{
		FormatVersion: RecordFormatVersion, Unit: u.Name, Environment: envName(req.Env), ID: id,
		Version: u.Version, DeployedAt: now, Checksum: req.Checksum, Frameworks: u.Frameworks,
		Run: u.Run,
	}
	if u.Artifact != nil {
		rec.Source = u.Artifact.Source
		if rec.Checksum == "" {
			rec.Checksum = u.Artifact.Checksum
		}
	}
	if cur != nil {
		if cur.ID == id {
			return cur, fmt.Errorf("release %s is already the current release", id)
		}
		rec.Previous = cur.ID
	}
	archDir := ""
	if a := d.Target.Archive; a != nil && a.Dir != "" {
		var err error
		if archDir, err = archiveDir(a.Dir, h.host); err != nil {
			return cur, err
		}
	}
	if err := h.checkSpace(ctx, req.ArtifactDir, req.ArchiveFile, archDir, id); err != nil {
		return cur, err
	}
	if err := h.writeJSON(ctx, l.Attempt(), attempt{FormatVersion: RecordFormatVersion, ID: id, Version: u.Version, Previous: rec.Previous, StartedAt: now}); err != nil {
		return cur, fmt.Errorf("mark the deploy: %w", err)
	}
	if req.ArchiveFile != "" {
		if err := d.archive(ctx, h, req.ArchiveFile, id); err != nil {
			h.discard(ctx, id)
			return cur, err
		}
	}
	if err := h.install(ctx, req.ArtifactDir, id); err != nil {
		h.discard(ctx, id)
		return cur, err
	}
	if strategy(u) == state.StrategyBlueGreen {
		rec.Slot = idleSlot(cur)
		rec.Port = slotPort(u, rec.Slot)
	}
	if err := h.writeRecord(ctx, rec); err != nil {
		h.discard(ctx, id)
		return cur, fmt.Errorf("write release record: %w", err)
	}
	if strategy(u) == state.StrategyBlueGreen {
		return cur, d.blueGreen(ctx, h, u, rec, cur)
	}
	if strategy(u) == state.StrategyRolling {
		return cur, d.rolling(ctx, h, u, rec, cur)
	}
	return cur, d.recreate(ctx, h, u, rec, cur)
}

func envName(e *state.Environment) string {
	if e == nil {
		return ""
	}
	return e.Name
}

// archive keeps the artifact as downloaded under archive/<id><ext> before
// the deploy changes anything that runs (tsd-import: "there always is an
// archived version of the software before deployment"). It is copied under
// a temporary name and renamed, so a file there is always complete.
func (h *hostRun) archive(ctx context.Context, file, id string) error {
	name := id + archiveExt(file)
	stage, err := os.MkdirTemp("", "gearshift-archive-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	tmp := "." + name + ".partial"
	if err := linkOrCopy(file, filepath.Join(stage, tmp)); err != nil {
		return fmt.Errorf("archive %s: %w", file, err)
	}
	if err := h.c.CopyTree(ctx, stage, h.l.Archive()); err != nil {
		return fmt.Errorf("archive %s: %w", file, err)
	}
	if err := h.c.Rename(ctx, path.Join(h.l.Archive(), tmp), path.Join(h.l.Archive(), name)); err != nil {
		return fmt.Errorf("archive %s: %w", file, err)
	}
	h.say("archived the artifact as %s", path.Join(h.l.Archive(), name))
	return nil
}

// archiveExt keeps the extension that says how to unpack an archive
// (".tar.gz", not ".gz").
func archiveExt(file string) string {
	base := filepath.Base(file)
	for _, ext := range []string{".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst"} {
		if len(base) > len(ext) && strings.EqualFold(base[len(base)-len(ext):], ext) {
			return base[len(base)-len(ext):]
		}
	}
	ext := filepath.Ext(file)
	if len(ext) > 16 || strings.ContainsAny(ext, " /\\\x00") {
		return ""
	}
	return ext
}

// linkOrCopy puts src at dst without moving the caller's file: a hard
// link when both are on one filesystem, else a copy.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// install fills releases/<id>/ with a copy of the artifact (never a move:
// the directory is the caller's), or leaves it empty for a config-only
// unit. A leftover of an interrupted attempt with the same id is removed
// first, so a release never mixes two copies.
func (h *hostRun) install(ctx context.Context, artifactDir, id string) error {
	dir := h.l.Release(id)
	if leftover, err := h.c.Exists(ctx, dir); err != nil {
		return err
	} else if leftover {
		if err := h.c.RemoveAll(ctx, dir); err != nil {
			return err
		}
	}
	if artifactDir == "" {
		if err := h.c.MkdirAll(ctx, dir, 0o755); err != nil {
			return fmt.Errorf("make release directory: %w", err)
		}
		h.say("release %s has no artifact (config only)", id)
		return nil
	}
	if err := h.c.CopyTree(ctx, artifactDir, dir); err != nil {
		return fmt.Errorf("copy the artifact to %s: %w", dir, err)
	}
	h.say("copied the artifact to %s", dir)
	return nil
}

// recreate replaces the running release: stop it, switch `current`, start
// the new one, wait for it to be healthy. When stopping or switching fails
// the old release is started again, so that only a failure of the new
// release itself is left for the caller's rollback.
func (d *Driver) recreate(ctx context.Context, h *hostRun, u *state.Unit, rec, cur *Record) error {
	svc := d.service()
	if err := svc.stopAll(ctx, h, cur); err != nil {
		d.restart(ctx, h, u, cur)
		return err
	}
	if err := h.switchCurrent(ctx, rec.ID); err != nil {
		d.restart(ctx, h, u, cur)
		return err
	}
	if err := svc.start(ctx, h, u, rec); err != nil {
		return err
	}
	return d.waitHealthy(ctx, h, u, rec)
}

// restart starts the old release again after a deploy failed before
// switching to the new one; its error only goes to the events, since the
// deploy's own error is what the caller must see.
func (d *Driver) restart(ctx context.Context, h *hostRun, u *state.Unit, cur *Record) {
	if cur == nil {
		return
	}
	if err := d.service().start(ctx, h, u, cur); err != nil {
		h.say("could not start %s again: %v", cur.ID, err)
	}
}

// eachHost runs f for every host, d.Parallelism at a time, and returns
// the errors by host.
func (d *Driver) eachHost(hosts []string, f func(host string) error) []error {
	errs := make([]error, len(hosts))
	d.parallel(len(hosts), func(i int) { errs[i] = f(hosts[i]) })
	return errs
}

// DefaultParallelism is how many hosts a driver works on at once unless
// Driver.Parallelism says otherwise.
const DefaultParallelism = 32

// parallel runs f(0) ... f(n-1), at most d.Parallelism at once, and
// waits for them. A fleet's hosts all at once would start as many SSH
// handshakes and remote processes at the same instant, which time out
// against each other (and against sshd's MaxStartups) instead of going
// faster; a bound keeps the pipeline full and the hosts' timeouts
// meaningful.
func (d *Driver) parallel(n int, f func(i int)) {
	limit := d.Parallelism
	if limit <= 0 {
		limit = DefaultParallelism
	}
	if n <= 1 {
		if n == 1 {
			f(0)
		}
		return
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}
