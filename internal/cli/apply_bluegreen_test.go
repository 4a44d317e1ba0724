package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"github.com/gearshift-dev/gearshift/internal/testutil"
	"github.com/gearshift-dev/gearshift/internal/testutil/nginx"
)

// TestApplyBlueGreen runs the OpenPlans story end to end through `gearshift
// apply` and `gearshift rollback`, with the demo's real service and a real
// nginx: the new version starts beside the old one on the other port, is
// health-checked there, the proxy switches, the old slot keeps running, and
// rollback switches back to it. The shared service (zeo) is deployed on its
// own, in the wave before.
func TestApplyBlueGreen(t *testing.T) {
	ngx := nginx.Start(t, "planner")
	bin := filepath.Join(t.TempDir(), "demo-gear")
	build := exec.Command("go", "build", "-o", bin, "github.com/gearshift-dev/gearshift/cmd/demo-gear")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build demo-gear: %v\n%s", err, out)
	}
	gearBytes, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	// One artifact serves every version: the version is in the run command.
	repo := t.TempDir()
	var tgz bytes.Buffer
	gz := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "bin/demo-gear", Mode: 0o755, Size: int64(len(gearBytes)), Typeflag: tar.TypeReg})
	tw.Write(gearBytes)
	tw.Close()
	gz.Close()
	if err := os.WriteFile(filepath.Join(repo, "gear.tar.gz"), tgz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	blue, green, zeo := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	write := func(name, content string) {
		t.Helper()
		if err := statetest.WriteFiles(repo, map[string]string{name: content}); err != nil {
			t.Fatal(err)
		}
	}
	q := func(argv []string) string { return fmt.Sprintf("%q", argv) }
	write("cue.mod/module.cue", "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n")
	write("environments/prod/env.cue", fmt.Sprintf(`package gearshift

environment: {
	name: "prod"
	deployFrom: branch: "main"
	targets: local: host: {
		local: true
		root: %q
		allowLocalArtifacts: true
		proxy: {upstreamFile: %q, test: %s, reload: %s}
	}
}
`, root, ngx.UpstreamFile, strings.ReplaceAll(q(ngx.TestArgv), " ", ", "), strings.ReplaceAll(q(ngx.ReloadArgv), " ", ", ")))
	units := func(version string) string {
		return fmt.Sprintf(`package gearshift

units: zeo: {
	kind: "gear", version: "1.0.0", target: "local", port: %d
	artifact: source: "gear.tar.gz"
	run: command: ["./bin/demo-gear", "serve", "--addr", "127.0.0.1:{port}", "--name", "zeo", "--version", "1.0.0"]
	health: http: url: "http://127.0.0.1:{port}/healthz"
}
units: planner: {
	kind: "stack", version: %q, target: "local", strategy: "bluegreen"
	bluegreen: ports: [%d, %d]
	dependsOn: ["zeo"]
	artifact: source: "gear.tar.gz"
	run: command: ["./bin/demo-gear", "serve", "--addr", "127.0.0.1:{port}", "--name", "planner", "--version", %q]
	health: {http: url: "http://127.0.0.1:{port}/healthz", timeout: "10s", interval: "100ms"}
	// Verified on the new slot's port: {port} is the slot's.
	verify: command: [%q, "check", "http://127.0.0.1:{port}/"]
}
`, zeo, version, blue, green, version, bin)
	}
	write("environments/prod/units.cue", units("3.1.0"))
	env := map[string]string{"XDG_STATE_HOME": t.TempDir(), "XDG_CACHE_HOME": t.TempDir(), "NO_COLOR": "1"}
	gearshift := func(want int, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var o, e bytes.Buffer
		if code := run(ctx, append(args, "--repo", repo), &o, &e, func(k string) string { return env[k] }); code != want {
			t.Fatalf("gearshift %v: exit %d, want %d\n%s%s", args, code, want, o.String(), e.String())
		}
		return o.String()
	}
	t.Cleanup(func() {
		// Stop what the test started: prune both units.
		write("environments/prod/units.cue", "package gearshift\n")
		write("environments/prod/prune.cue", "package gearshift\n\nenvironment: policies: prune: true\n")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		run(ctx, []string{"apply", "prod", "--repo", repo}, io.Discard, io.Discard, func(k string) string { return env[k] })
	})
	get1 := func(url string) string {
		resp, err := http.Get(url)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	// nginx -s reload returns before the new workers take over: through
	// nginx, wait up to 3 s for the expected answer.
	get := func(url string, want ...string) string {
		var got string
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got = get1(url)
			if len(want) == 0 || got == want[0] || time.Now().After(deadline) {
				return got
			}
		}
	}

	out := gearshift(0, "apply", "prod")
	if !strings.Contains(out, "zeo") || strings.Index(out, "zeo") > strings.Index(out, "planner") {
		t.Errorf("zeo is not deployed before planner:\n%s", out)
	}
	if got := get(ngx.URL, "planner 3.1.0"); got != "planner 3.1.0" {
		t.Fatalf("through nginx after the first apply: %q", got)
	}
	write("environments/prod/units.cue", units("3.2.0"))
	gearshift(0, "apply", "prod")
	if got := get(ngx.URL, "planner 3.2.0"); got != "planner 3.2.0" {
		t.Errorf("through nginx after the upgrade: %q", got)
	}
	if got := get(fmt.Sprintf("http://127.0.0.1:%d/", blue)); got != "planner 3.1.0" {
		t.Errorf("the old slot does not run any more: %q", got)
	}
	start := time.Now()
	gearshift(0, "rollback", "prod", "planner")
	took := time.Since(start)
	if got := get(ngx.URL, "planner 3.1.0"); got != "planner 3.1.0" {
		t.Errorf("through nginx after rollback: %q", got)
	}
	t.Logf("rollback (switch back to the running old slot) took %s", took)
	// The version rolled back from is not redeployed by the next apply,
	// and prod is not as desired: the run fails, saying how to retry.
	out = gearshift(1, "apply", "prod")
	if !strings.Contains(out, "planner is not at its desired version: 3.2.0 failed at") || !strings.Contains(out, "--retry-failed") ||
		get(ngx.URL, "planner 3.1.0") != "planner 3.1.0" {
		t.Errorf("apply after rollback redeployed the failed version or did not say why:\n%s", out)
	}
}
