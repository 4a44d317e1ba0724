package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

// TestApplySSHHostsJSON rolls a version that breaks on the second of three
// hosts (real sshd, host keys verified) with `apply -o json`: the document
// says for each host what it runs (rolled back on the first two, the
// second with its own health failure, the third untouched), so that CI
// need not parse the error string; and the rollback reports its progress
// host by host on stderr, as the deploy does.
func TestApplySSHHostsJSON(t *testing.T) {
	cluster := sshd.Start(t, 3)
	t.Cleanup(func() { stopServices(t, "7391") })
	tarballs := map[string][]byte{"1.0.0": exporterTarball(t, "1.0.0"), "2.0.0": exporterTarball(t, "2.0.0")}
	sums := map[string]string{}
	for v, b := range tarballs {
		s := sha256.Sum256(b)
		sums[v] = "sha256:" + hex.EncodeToString(s[:])
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := tarballs[strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/exporter-"), ".tar.gz")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()

	repo, roots := t.TempDir(), t.TempDir()
	var hosts, quoted []string
	for _, h := range cluster.Hosts {
		hosts = append(hosts, h.HostPort())
		quoted = append(quoted, fmt.Sprintf("%q", h.HostPort()))
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
	targets: tsd: host: {
		hosts: [%s]
		ssh: {user: %q, knownHosts: %q, identity: %q}
		root: %q
	}
}
`, strings.Join(quoted, ", "), cluster.User, cluster.KnownHosts, cluster.Identity, filepath.Join(roots, "{host}")))
	unit := func(version string) string {
		return fmt.Sprintf(`package gearshift

units: exporter: {
	kind: "gear", version: %q, target: "tsd", strategy: "rolling"
	artifact: {source: "%s/exporter-{version}.tar.gz", checksum: %q}
	run: command: ["./bin/exporter"]
	health: {command: ["./bin/exporter", "--version"], timeout: "2s", interval: "200ms"}
}
`, version, srv.URL, sums[version])
	}
	env := map[string]string{"XDG_STATE_HOME": t.TempDir(), "XDG_CACHE_HOME": t.TempDir(), "NO_COLOR": "1"}
	gearshift := func(args ...string) (int, string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var o, e bytes.Buffer
		code := run(ctx, append(args, "--repo", repo, "--no-status"), &o, &e, func(k string) string { return env[k] })
		return code, o.String(), e.String()
	}

	write("environments/prod/units.cue", unit("1.0.0"))
	if code, out, errOut := gearshift("apply", "prod"); code != 0 {
		t.Fatalf("first apply: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.WriteFile(filepath.Join(roots, hosts[1], "BROKEN"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	write("environments/prod/units.cue", unit("2.0.0"))
	code, out, errOut := gearshift("apply", "prod", "-o", "json")
	if code != ExitFailure {
		t.Fatalf("apply of the broken version: exit %d, want 1\n%s%s", code, out, errOut)
	}
	var doc apply.Result
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("apply -o json: %v\n%s", err, out)
	}
	if doc.FormatVersion != "2" || len(doc.Environments) != 1 || len(doc.Environments[0].Units) != 1 {
		t.Fatalf("apply -o json: %s", out)
	}
	u := doc.Environments[0].Units[0]
	var got []string
	for _, h := range u.Hosts {
		got = append(got, fmt.Sprintf("%s %s %s %t", h.Host, h.Outcome, h.Version, strings.Contains(h.Error, "cannot open its spool")))
	}
	want := []string{
		hosts[0] + " rolled-back 1.0.0 false",
		hosts[1] + " rolled-back 1.0.0 true",
		hosts[2] + " untouched 1.0.0 false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("unit %s (%s) hosts:\n%s\nwant:\n%s", u.Unit, u.Outcome, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The rollback, like the deploy, says what it does on each host.
	for _, h := range hosts[:2] {
		if !strings.Contains(errOut, "exporter: "+h+": rolling back from 2.0.0-") {
			t.Errorf("stderr has no rollback progress for host %s:\n%s", h, errOut)
		}
	}
}
