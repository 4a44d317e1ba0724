package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// gearTarball is a gear release whose mix.lock pins antikythera at fw.
func gearTarball(t *testing.T, file, fw string) {
	t.Helper()
	files := map[string]string{
		"VERSION":  "1.0.0\n",
		"mix.lock": fmt.Sprintf("%%{\n  \"antikythera\": {:git, \"https://github.com/access-company/antikythera.git\", \"6b1b2c3d4e5f6071\", [tag: %q]},\n  \"croma\": {:hex, :croma, \"0.11.3\", \"0ac1\", [:mix], [], \"hexpm\", \"f0e1\"},\n}\n", fw),
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		body := []byte(files[name])
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	zw.Close()
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// frameworkState is antikythera's dev (bump) and prod (deny) with gears
// whose artifacts record what they were built against in mix.lock. Each
// gear's test command touches tested/<gear>: nothing runs it when the
// artifact is refused.
func frameworkState(root, art, tested, marker string) map[string]string {
	env := func(name, policy string) string {
		return fmt.Sprintf(`package gearshift

environment: {
	name: %q
	deployFrom: branch: "main"
	policies: latestFramework: %q
	targets: t: host: {local: true, root: %q, allowLocalArtifacts: true}
}
`, name, policy, filepath.Join(root, name))
	}
	gear := func(name, label, artifact string) string {
		s := fmt.Sprintf("units: %q: {\n\tkind: \"gear\", version: \"1.0.0\", target: \"t\"\n", name)
		if label != "" {
			s += fmt.Sprintf("\tframeworks: antikythera: %q\n", label)
		}
		s += fmt.Sprintf("\tartifact: source: %q\n", filepath.Join(art, artifact))
		s += "\tbuiltAgainst: file: \"mix.lock\"\n"
		s += fmt.Sprintf("\ttest: command: [\"touch\", %q]\n", filepath.Join(tested, name))
		s += fmt.Sprintf("\trun: command: [\"sleep\", %q]\n}\n", marker)
		return s
	}
	return map[string]string{
		"cue.mod/module.cue":          "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/frameworks.cue": "package gearshift\n\nframeworks: antikythera: latest: \"1.2.0\"\n",
		"environments/prod/env.cue":   env("prod", "deny"),
		"environments/prod/units.cue": "package gearshift\n\n" +
			gear("contradicts", "1.2.0", "built-1.1.0.tar.gz") +
			gear("outdated", "", "built-1.1.0.tar.gz") +
			gear("current", "1.2.0", "built-1.2.0.tar.gz"),
		"environments/dev/env.cue":   env("dev", "bump"),
		"environments/dev/units.cue": "package gearshift\n\n" + gear("outdated", "", "built-1.1.0.tar.gz"),
	}
}

// TestApplyFrameworkTruth is antikythera's rule on the framework a gear
// was really built against (its mix.lock, read from the artifact after the
// download and before anything starts): prod refuses an artifact whose
// mix.lock contradicts the declared label, and one whose mix.lock is
// outdated even without a label, naming the unit, the file, what was
// declared and what was found; nothing of them is tested or started, and
// the apply exits 1. A gear built against the latest version deploys.
// dev (bump) deploys the outdated one with a note. plan judges the label
// and says so.
func TestApplyFrameworkTruth(t *testing.T) {
	marker := strconv.Itoa(5000 + os.Getpid()%1000)
	t.Cleanup(func() { stopServices(t, marker) })
	root, art, tested := t.TempDir(), t.TempDir(), t.TempDir()
	gearTarball(t, filepath.Join(art, "built-1.1.0.tar.gz"), "1.1.0")
	gearTarball(t, filepath.Join(art, "built-1.2.0.tar.gz"), "1.2.0")
	h := newHarness(t, frameworkState(root, art, tested, marker))
	h.env["XDG_STATE_HOME"] = t.TempDir()
	url := h.git.URL("state")

	code, out, stderr := h.run("apply", "prod", "--repo", url, "--ref", "main", "-o", "json")
	if code != ExitFailure {
		t.Fatalf("apply prod: exit %d, want %d\n%s\n%s", code, ExitFailure, out, stderr)
	}
	var res struct {
		Environments []struct {
			Units []struct {
				Unit, Outcome, Error string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Environments) != 1 {
		t.Fatalf("apply prod -o json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, u := range res.Environments[0].Units {
		got[u.Unit] = u.Outcome + ": " + u.Error
	}
	want := map[string]string{
		"contradicts": "failed: unit contradicts 1.0.0: the artifact contradicts its declared frameworks: mix.lock says antikythera 1.1.0, declared 1.2.0 (environments/prod/units.cue:5:27); nothing was started",
		"outdated":    "failed: unit outdated 1.0.0: denied by latest-framework: built against antikythera 1.1.0, latest is 1.2.0: prod rejects this version (from mix.lock in the artifact); nothing was started",
		"current":     "deployed: ",
	}
	for u, w := range want {
		if got[u] != w {
			t.Errorf("prod %s:\n got %s\nwant %s", u, got[u], w)
		}
	}
	for _, u := range []string{"contradicts", "outdated"} {
		if _, err := os.Stat(filepath.Join(tested, u)); err == nil {
			t.Errorf("prod %s: its test ran, though the artifact was refused", u)
		}
		if _, err := os.Lstat(filepath.Join(root, "prod", u, "current")); err == nil {
			t.Errorf("prod %s: a release was installed, though the artifact was refused", u)
		}
	}
	if _, err := os.Stat(filepath.Join(tested, "current")); err != nil {
		t.Errorf("prod current: its test did not run: %v", err)
	}
	if !strings.Contains(stderr, "built against antikythera 1.2.0 (mix.lock)") {
		t.Errorf("apply prod does not say what current was built against:\n%s", stderr)
	}

	// dev's policy is bump: the outdated build deploys, with a note.
	code, out, stderr = h.run("apply", "dev", "--repo", url, "--ref", "main")
	if code != 0 {
		t.Fatalf("apply dev: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "outdated: [bump] latest-framework: built against antikythera 1.1.0, latest is 1.2.0: needs a bump pull request (gearshift bump) (from mix.lock in the artifact)") {
		t.Errorf("apply dev gives no note on the outdated build:\n%s", stderr)
	}

	// plan judges the label, and says that apply will read the artifact.
	h.git.Commit("state", "main", "label", map[string]string{
		"environments/dev/units.cue": strings.Replace(frameworkState(root, art, tested, marker)["environments/dev/units.cue"],
			"target: \"t\"\n", "target: \"t\"\n\tframeworks: antikythera: \"1.1.0\"\n", 1),
	})
	out = h.mustRun(0, "plan", "dev", "--repo", url, "--ref", "main")
	if !strings.Contains(out, "built against antikythera 1.1.0, latest is 1.2.0: needs a bump pull request (gearshift bump) (the declared label; apply judges what mix.lock in the artifact says)") {
		t.Errorf("plan dev does not say it judged the label:\n%s", out)
	}
}
