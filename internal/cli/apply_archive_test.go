package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// tsdEnvCUE is tsd-import's NSC site: one local host target whose units
// archive every tarball into the site's archive directory, keeping two of
// each unit, while the release directories keep one (and the one before).
func tsdEnvCUE(root, archive string, keep int) string {
	return fmt.Sprintf(`package gearshift

environment: {
	name: "nsc"
	deployFrom: branch: "main"
	targets: nsc: host: {
		local: true
		root: %q
		allowLocalArtifacts: true
		keepReleases: 1
		archive: {dir: %q, keep: %d}
	}
}
`, root, archive, keep)
}

func tsdUnitsCUE(art, marker string, versions map[string]string) string {
	var b strings.Builder
	b.WriteString("package gearshift\n\n")
	for _, u := range []string{"lims-exporter-api", "nsc-exporter"} {
		fmt.Fprintf(&b, "units: %q: {kind: \"stack\", version: %q, target: \"nsc\"\n", u, versions[u])
		fmt.Fprintf(&b, "\tartifact: source: %q\n", filepath.Join(art, "tsd-import-{version}.tar.gz"))
		fmt.Fprintf(&b, "\trun: command: [\"sleep\", %q]\n}\n", marker)
	}
	return b.String()
}

// TestApplySharedArchive: apply archives each deployed component's
// tarball in the target's archive directory before it is extracted, one
// directory for the site; only changed components are deployed (and
// archived); the archive keeps its own count, whatever keepReleases does.
func TestApplySharedArchive(t *testing.T) {
	marker := strconv.Itoa(3600 + os.Getpid()%1000) // sleep's argument names this test's services
	t.Cleanup(func() { stopServices(t, marker) })
	art, root := t.TempDir(), t.TempDir()
	archive := filepath.Join(t.TempDir(), "transfer", "sw", "archive")
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		writeTarball(t, filepath.Join(art, "tsd-import-"+v+".tar.gz"), v)
	}
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":         "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/nsc/env.cue":   tsdEnvCUE(root, archive, 2),
		"environments/nsc/units.cue": tsdUnitsCUE(art, marker, map[string]string{"lims-exporter-api": "1.0.0", "nsc-exporter": "1.0.0"}),
	})
	url := h.git.URL("state")
	h.mustRun(0, "apply", "nsc", "--repo", url, "--ref", "main")
	for _, v := range []string{"1.1.0", "1.2.0"} {
		h.git.Commit("state", "main", "lims-exporter-api "+v, map[string]string{
			"environments/nsc/units.cue": tsdUnitsCUE(art, marker, map[string]string{"lims-exporter-api": v, "nsc-exporter": "1.0.0"}),
		})
		out := h.mustRun(0, "apply", "nsc", "--repo", url, "--ref", "main")
		if strings.Contains(out, "nsc-exporter") && !strings.Contains(out, "lims-exporter-api") {
			t.Errorf("apply of lims-exporter-api %s:\n%s", v, out)
		}
	}
	// What the site archive holds: lims-exporter-api's two newest, and
	// nsc-exporter's one (deployed once: it never changed).
	es, err := os.ReadDir(archive)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		unit, id, _ := strings.Cut(e.Name(), "_")
		version := id[:strings.LastIndexByte(id, '-')]
		got = append(got, unit+" "+version+" "+filepath.Ext(e.Name()))
		if !strings.HasSuffix(e.Name(), ".tar.gz") {
			t.Errorf("archive %s lost its extension", e.Name())
		}
	}
	sort.Strings(got)
	want := []string{"lims-exporter-api 1.1.0 .gz", "lims-exporter-api 1.2.0 .gz", "nsc-exporter 1.0.0 .gz"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("site archive %s holds\n%s\nwant\n%s", archive, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The units' own archive directories stay empty.
	for _, u := range []string{"lims-exporter-api", "nsc-exporter"} {
		if es, _ := os.ReadDir(filepath.Join(root, u, "archive")); len(es) > 0 {
			t.Errorf("%s/archive is not empty: %d files", u, len(es))
		}
	}
}

// TestValidateArchive: a relative archive directory and a keep below one
// are refused at their file:line:column.
func TestValidateArchive(t *testing.T) {
	h := newHarness(t, nil)
	dir := t.TempDir()
	files := map[string]string{
		"cue.mod/module.cue":         "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/nsc/env.cue":   strings.Replace(tsdEnvCUE("/srv/sw", "/transfer/sw/archive", 0), `"/transfer/sw/archive"`, `"sw/archive"`, 1),
		"environments/nsc/units.cue": tsdUnitsCUE("/srv/art", "1", map[string]string{"lims-exporter-api": "1.0.0", "nsc-exporter": "1.0.0"}),
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr := h.run("validate", "--repo", dir)
	all := out + stderr
	if code != ExitInvalid {
		t.Fatalf("validate: exit %d, want %d\n%s", code, ExitInvalid, all)
	}
	want := `environments/nsc/env.cue:11:18: environment.targets.nsc.host.archive.dir: invalid value "sw/archive" (out of bound =~"^/")
environments/nsc/env.cue:11:38: environment.targets.nsc.host.archive.keep: invalid value 0 (out of bound >=1)
gearshift: the state is invalid: 2 mistakes
`
	if all != want {
		t.Errorf("validate said:\n%s\nwant:\n%s", all, want)
	}
}
