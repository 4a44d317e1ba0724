package apply

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	execdrv "github.com/gearshift-dev/gearshift/internal/driver/exec"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// The executor is tested with the real exec driver and tiny scripts that
// keep the targets' state in files: no fake Deployer.

const statusScript = `#!/bin/sh
f=targets/$GEARSHIFT_UNIT
if [ ! -f "$f" ]; then echo '{"format_version":"1","deployed":false}'; exit 0; fi
echo "{\"format_version\":\"1\",\"deployed\":true,\"version\":\"$(cat $f)\",\"health\":\"healthy\"}"
`

// deployScript records how many deploys run at once, and takes a while.
const deployScript = `#!/bin/sh
set -e
mkdir -p targets running
touch running/$GEARSHIFT_UNIT
ls running | wc -l >> counts
sleep ${DEPLOY_SLEEP:-0.2}
rm running/$GEARSHIFT_UNIT
echo "$GEARSHIFT_VERSION" > targets/$GEARSHIFT_UNIT
`

type fixture struct {
	dir  string
	env  *state.Environment
	lock *Lock
}

func newFixture(t *testing.T, units ...*state.Unit) *fixture {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"status.sh": statusScript, "deploy.sh": deployScript} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := &state.Environment{
		Name:    "dev",
		Targets: map[string]state.Target{"scripts": {Exec: &state.ExecTarget{Status: []string{"./status.sh"}, Deploy: []string{"./deploy.sh"}}}},
		Units:   map[string]*state.Unit{},
	}
	for _, u := range units {
		u.Target, u.Kind = "scripts", "gear"
		env.Units[u.Name] = u
	}
	lock, err := Acquire(context.Background(), LocalDir(filepath.Join(dir, ".state")), "dev", NewLockInfo("run1", nil, time.Now()), LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Release(context.Background()) })
	return &fixture{dir: dir, env: env, lock: lock}
}

func (f *fixture) resolve(env *state.Environment, target string) (driver.Deployer, error) {
	return &execdrv.Driver{Target: env.Targets[target].Exec, Dir: f.dir}, nil
}

// apply carries out exactly the given actions.
func (f *fixture) apply(ctx context.Context, o Options, actions ...*plan.Action) (*EnvResult, error) {
	return applyPlan(ctx, f.env, f.dir, f.lock, f.resolve, o, actions...)
}

func deploy(unit string, wave int) *plan.Action {
	return &plan.Action{Unit: unit, Type: plan.Deploy, Target: "scripts", To: "1.0.0", Wave: wave, Applyable: true}
}

// TestParallelismBound runs nine deploys of one wave with a bound of
// three: they overlap, and never more than three at once.
func TestParallelismBound(t *testing.T) {
	var units []*state.Unit
	var actions []*plan.Action
	for i := range 9 {
		name := "u" + strconv.Itoa(i)
		units = append(units, &state.Unit{Name: name, Version: "1.0.0"})
		actions = append(actions, deploy(name, 0))
	}
	f := newFixture(t, units...)
	start := time.Now()
	res, err := f.apply(context.Background(), Options{Parallelism: 3, CacheDir: t.TempDir()}, actions...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Deployed != 9 || res.Failed() {
		t.Fatalf("got %+v, want 9 deployed", res.Counts)
	}
	b, err := os.ReadFile(filepath.Join(f.dir, "counts"))
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	for _, l := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(l)
		most = max(most, n)
	}
	if most > 3 || most < 2 {
		t.Errorf("at most %d deploys ran at once, want 2 or 3", most)
	}
	// That deploys overlapped is shown by the counts above, not by the
	// clock: a slow machine must not fail this test.
	t.Logf("9 deploys of 0.2 s at parallelism 3 took %s", time.Since(start))
}

// TestInterrupt cancels a run while its first wave runs: the started
// action finishes (a deploy is never cut in half), the next wave is
// skipped, and the journal says the run was interrupted.
func TestInterrupt(t *testing.T) {
	f := newFixture(t, &state.Unit{Name: "a", Version: "1.0.0"}, &state.Unit{Name: "b", Version: "1.0.0", DependsOn: []string{"a"}})
	// Declared in the target: commands do not inherit gearshift's environment.
	f.env.Targets["scripts"].Exec.Env = map[string]string{"DEPLOY_SLEEP": "0.5"}
	ctx, cancel := context.WithCancel(context.Background())
	progress := progressFunc(func(e Event) {
		if e.Kind == "start" {
			cancel()
		}
	})
	res, err := f.apply(ctx, Options{Progress: progress, CacheDir: t.TempDir()}, deploy("a", 0), deploy("b", 1))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Outcome{}
	for _, u := range res.Units {
		got[u.Unit] = u.Outcome
	}
	if got["a"] != Deployed || got["b"] != Skipped || !res.Interrupted {
		t.Errorf("got %v, interrupted %v; want a deployed, b skipped, interrupted", got, res.Interrupted)
	}
	b, _ := os.ReadFile(filepath.Join(f.dir, ".state", JournalFile("dev")))
	if !strings.Contains(string(b), `"event":"run-end","result":"interrupted"`) {
		t.Errorf("journal does not end the run as interrupted:\n%s", b)
	}
}

type progressFunc func(Event)

func (p progressFunc) Event(e Event) { p(e) }

// TestArtifacts fetches an artifact over HTTP, verifies it and hands the
// unpacked tree to the deploy command; a missing checksum under
// requireChecksum and a local path on a target that does not allow them
// fail before anything is deployed.
func TestArtifacts(t *testing.T) {
	tarball := tarGz(t, map[string]string{"VERSION": "greeter 1.3.0\n"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tarball) }))
	defer srv.Close()
	sum := sha256.Sum256(tarball)
	checksum := "sha256:" + hex.EncodeToString(sum[:])
	f := newFixture(t,
		&state.Unit{Name: "good", Version: "1.3.0", Artifact: &state.Artifact{Source: srv.URL + "/greeter-{version}.tar.gz", Checksum: checksum}},
		&state.Unit{Name: "nosum", Version: "1.3.0", Artifact: &state.Artifact{Source: srv.URL + "/greeter-{version}.tar.gz"}},
		&state.Unit{Name: "local", Version: "1.3.0", Artifact: &state.Artifact{Source: "dist/greeter-{version}.tar.gz", Checksum: checksum}},
	)
	f.env.Policies.RequireChecksum = true
	// The deploy command copies what it was given, to show it was there.
	script := "#!/bin/sh\nset -e\nmkdir -p targets\ncp \"$GEARSHIFT_ARTIFACT_DIR/VERSION\" got-$GEARSHIFT_UNIT\necho \"$GEARSHIFT_CHECKSUM\" >> got-$GEARSHIFT_UNIT\necho \"$GEARSHIFT_VERSION\" > targets/$GEARSHIFT_UNIT\n"
	if err := os.WriteFile(filepath.Join(f.dir, "deploy.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	res, err := f.apply(context.Background(), Options{CacheDir: cache}, deploy("good", 0), deploy("nosum", 0), deploy("local", 0))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]UnitResult{}
	for _, u := range res.Units {
		got[u.Unit] = u
	}
	if got["good"].Outcome != Deployed {
		t.Errorf("good: got %+v, want deployed", got["good"])
	}
	if b, _ := os.ReadFile(filepath.Join(f.dir, "got-good")); string(b) != "greeter 1.3.0\n"+checksum+"\n" {
		t.Errorf("the deploy command got %q", b)
	}
	if u := got["nosum"]; u.Outcome != Failed || !strings.Contains(u.Error, "a sha256 checksum is required") {
		t.Errorf("nosum: got %+v, want failed for want of a checksum", u)
	}
	if u := got["local"]; u.Outcome != Failed || !strings.Contains(u.Error, "target scripts does not set allowLocalArtifacts") {
		t.Errorf("local: got %+v, want failed: local paths not allowed", u)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "targets", "nosum")); err == nil {
		t.Error("nosum was deployed")
	}
	// The archive is cached by its checksum; the run's scratch is gone.
	if _, err := os.Stat(filepath.Join(cache, "artifacts", "sha256", hex.EncodeToString(sum[:]))); err != nil {
		t.Errorf("the archive is not in the cache: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "work", "*")); len(left) != 0 {
		t.Errorf("scratch left behind: %v", left)
	}
}

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
