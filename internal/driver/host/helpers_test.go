package host

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil"
)

// buildDir holds the unit server built for this test run.
var (
	buildDir  string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// unitServer builds testdata/unitserver once per test run and returns the
// binary's path.
func unitServer(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "gearshift-unitserver-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(buildDir, "unitserver"), "./testdata/unitserver")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./testdata/unitserver: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "unitserver")
}

// artifact is an unpacked artifact of the unit server at version; a
// broken one fails its health check.
func artifact(t testing.TB, version string, broken bool) string {
	t.Helper()
	dir := t.TempDir()
	bin, err := os.ReadFile(unitServer(t))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"unitserver": string(bin), "VERSION": version + "\n"}
	if broken {
		files["FAIL_HEALTH"] = ""
	}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if name == "unitserver" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// archiveFile stands in for the downloaded artifact.
func archiveFile(t testing.TB, version string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "web-"+version+".tar.gz")
	if err := os.WriteFile(p, []byte("archive of "+version), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// events records a driver's progress messages with their times.
type events struct {
	t     testing.TB
	mu    sync.Mutex
	ev    []event
	start time.Time
}

type event struct {
	at  time.Time
	msg string
}

func newEvents(t testing.TB) *events { return &events{t: t} }

func (e *events) add(msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if e.start.IsZero() {
		e.start = now
	}
	e.ev = append(e.ev, event{now, msg})
	e.t.Logf("%6.3fs %s", now.Sub(e.start).Seconds(), msg)
}

func (e *events) all() []event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]event(nil), e.ev...)
}

// index is the position of the first event containing all of subs after
// position from, -1 if none.
func (e *events) index(from int, subs ...string) int {
	for i, ev := range e.all() {
		if i < from {
			continue
		}
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(ev.msg, s)
		}
		if ok {
			return i
		}
	}
	return -1
}

func freePort(t testing.TB) int {
	t.Helper()
	return testutil.FreePort(t)
}

// get returns the status and trimmed body of GET url ("" and 0 when it
// cannot connect).
func get(url string) (int, string) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// webUnit is the unit server as a unit at version.
func webUnit(version string) *state.Unit {
	return &state.Unit{
		Name: "web", Kind: "gear", Version: version, Target: "t",
		Artifact:   &state.Artifact{Source: "https://releases.invalid/web-{version}.tar.gz"},
		Frameworks: map[string]string{"gearframe": "1.4.0"},
		Run:        &state.Command{Command: []string{"./unitserver"}, Env: map[string]string{"UNIT_PORT": "{port}"}},
		Health: &state.Health{
			HTTP:     &state.HTTPCheck{URL: "http://127.0.0.1:{port}/healthz", Status: 200, Body: "ok "},
			Timeout:  state.Duration{Duration: 2 * time.Second},
			Interval: state.Duration{Duration: 50 * time.Millisecond},
		},
	}
}

// deployReq is a deploy of u's version from a fresh artifact.
func deployReq(t testing.TB, u *state.Unit, broken bool, at time.Time, ev *events) driver.DeployRequest {
	return driver.DeployRequest{
		Env: &state.Environment{Name: "dev"}, Unit: u,
		ArtifactDir: artifact(t, u.Version, broken), ArchiveFile: archiveFile(t, u.Version),
		Checksum: "sha256:" + strings.Repeat("ab", 32), Now: at, Event: ev.add,
	}
}

// pruneAtEnd stops and removes the unit when the test ends, so that no
// unit process outlives the test even when it fails half-way.
func pruneAtEnd(t testing.TB, d *Driver, unit string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Prune(ctx, &state.Environment{Name: "dev"}, "t", unit); err != nil {
			t.Errorf("prune at the end: %v", err)
		}
	})
}

// pidOf reads a slot's pid file, 0 when there is none.
func pidOf(t testing.TB, l Layout, slot string) int {
	t.Helper()
	b, err := os.ReadFile(l.PidFile(slot))
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	return pid
}

// alive reports whether a process runs (a zombie does not count).
func alive(pid int) bool {
	_, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return err == nil
}
