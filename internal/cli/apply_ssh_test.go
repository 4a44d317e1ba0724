package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver/host"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

// exporter is the release of a tsd-import-like batch service: a process
// that runs, and `--version` that reads the VERSION shipped with it (the
// story's "extract and verify that the version is as expected"). Version
// 2.0.0 fails that check on a host whose root holds a BROKEN file.
const exporter = `#!/bin/sh
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$1" = --version ]; then
  if [ -f "$here/../../../BROKEN" ] && [ "$(cat "$here/VERSION")" = 2.0.0 ]; then
    echo "exporter: cannot open its spool" >&2
    exit 1
  fi
  cat "$here/VERSION"
  exit 0
fi
exec sleep 7391
`

func exporterTarball(t *testing.T, version string) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name, body string
		mode       int64
	}{{"bin/exporter", exporter, 0o755}, {"VERSION", version + "\n", 0o644}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

// TestApplySSHRolling runs the tsd-import and Fragalysis stories end to end
// through `gearshift apply`: tarballs with checksums over HTTP, archived
// before deploy on three named hosts over real sshd (host keys verified),
// stop -> switch -> start -> verify the version, one host at a time; the
// lock and journal live on the first host. A version that breaks on the
// second host halts the roll there, is rolled back, leaves the third host
// untouched, and the run fails loudly (exit 1).
func TestApplySSHRolling(t *testing.T) {
	cluster := sshd.Start(t, 3)
	t.Cleanup(func() { stopServices(t, "7391") })
	tarballs := map[string][]byte{"1.0.0": exporterTarball(t, "1.0.0"), "2.0.0": exporterTarball(t, "2.0.0")}
	sums := map[string]string{}
	for v, b := range tarballs {
		s := sha256.Sum256(b)
		sums[v] = "sha256:" + hex.EncodeToString(s[:])
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/exporter-"), ".tar.gz")
		b, ok := tarballs[v]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()

	repo := t.TempDir()
	roots := t.TempDir()
	var hosts []string
	for _, h := range cluster.Hosts {
		hosts = append(hosts, fmt.Sprintf("%q", h.HostPort()))
	}
	write := func(name, content string) {
		t.Helper()
		if err := statetest.WriteFiles(repo, map[string]string{name: content}); err != nil {
			t.Fatal(err)
		}
	}
	write("cue.mod/module.cue", "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n")
	write("environments/prod/env.cue", fmt.Sprintf(`package gearshift

environment: {
	name: "prod"
	deployFrom: tag: "^v.*-rel$"
	policies: requireChecksum: true
	targets: tsd: host: {
		hosts: [%s]
		ssh: {user: %q, knownHosts: %q, identity: %q}
		root: %q
	}
}
`, strings.Join(hosts, ", "), cluster.User, cluster.KnownHosts, cluster.Identity, filepath.Join(roots, "{host}")))
	unit := func(version string) string {
		return fmt.Sprintf(`package gearshift

units: exporter: {
	kind:     "gear"
	version:  %q
	target:   "tsd"
	strategy: "rolling"
	artifact: {source: "%s/exporter-{version}.tar.gz", checksum: %q}
	run: command: ["./bin/exporter"]
	health: {command: ["./bin/exporter", "--version"], timeout: "3s", interval: "200ms"}
}
`, version, srv.URL, sums[version])
	}
	write("environments/prod/units.cue", unit("1.0.0"))

	env := map[string]string{"XDG_STATE_HOME": t.TempDir(), "XDG_CACHE_HOME": t.TempDir(), "NO_COLOR": "1"}
	gearshift := func(args ...string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var o, e bytes.Buffer
		code := run(ctx, append(args, "--repo", repo), &o, &e, func(k string) string { return env[k] })
		return code, o.String() + e.String()
	}
	hostVersion := func(i int) (string, *host.Record) {
		t.Helper()
		l := host.Layout{Root: filepath.Join(roots, cluster.Hosts[i].HostPort()), Unit: "exporter"}
		cur, _, err := host.ReadCurrent(context.Background(), transport.Local(), l)
		if err != nil || cur == nil {
			t.Fatalf("host %d: no current release (%v)", i, err)
		}
		b, err := os.ReadFile(filepath.Join(l.Release(cur.ID), "VERSION"))
		if err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
		if _, err := os.Stat(filepath.Join(l.Archive(), cur.ID+".tar.gz")); err != nil {
			t.Errorf("host %d: release %s was not archived before deploy: %v", i, cur.ID, err)
		}
		return strings.TrimSpace(string(b)), cur
	}

	logins := func() []int {
		var n []int
		for _, h := range cluster.Hosts {
			n = append(n, h.Logins())
		}
		return n
	}
	before := logins()
	if code, out := gearshift("apply", "prod"); code != 0 {
		t.Fatalf("first apply: exit %d\n%s", code, out)
	}
	// One pass per command: the lock (on the first host), observation,
	// the deploy and the status record share one connection per host.
	for i, n := range logins() {
		if n-before[i] != 1 {
			t.Errorf("apply dialled host %d %d times, want once", i, n-before[i])
		}
	}
	for i := range cluster.Hosts {
		if v, rec := hostVersion(i); v != "1.0.0" || rec.Checksum != sums["1.0.0"] {
			t.Errorf("host %d runs %s (record %+v), want 1.0.0 with its checksum", i, v, rec)
		}
	}
	if code, out := gearshift("plan", "prod", "--detailed-exitcode"); code != 0 {
		t.Errorf("plan after apply: exit %d, want no changes\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(roots, cluster.Hosts[0].HostPort(), ".gearshift", "prod.journal.jsonl")); err != nil {
		t.Errorf("no journal on the first host: %v", err)
	}

	// 2.0.0 breaks on the second host.
	if err := os.WriteFile(filepath.Join(roots, cluster.Hosts[1].HostPort(), "BROKEN"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	write("environments/prod/units.cue", unit("2.0.0"))
	code, out := gearshift("apply", "prod")
	if code != ExitFailure {
		t.Fatalf("apply of the broken version: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"cannot open its spool", "rolled back"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	for i := range cluster.Hosts {
		if v, _ := hostVersion(i); v != "1.0.0" {
			t.Errorf("after the rollback host %d runs %s, want 1.0.0", i, v)
		}
	}
	// The third host was never touched: only 1.0.0 was ever deployed there.
	third := host.Layout{Root: filepath.Join(roots, cluster.Hosts[2].HostPort()), Unit: "exporter"}
	names, err := os.ReadDir(third.Releases())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n.Name(), "2.0.0") {
			t.Errorf("the third host got release %s although the roll halted on the second", n.Name())
		}
	}
}
