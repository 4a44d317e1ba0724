package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// actionStep is the run script of the composite action's step whose name
// starts with name.
func actionStep(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../.github/actions/gearshift/action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Runs struct {
			Steps []struct {
				Name string `yaml:"name"`
				Run  string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Runs.Steps {
		if strings.HasPrefix(s.Name, name) && s.Run != "" {
			return s.Run
		}
	}
	t.Fatalf("the action has no step %q", name)
	return ""
}

func runStep(t *testing.T, script string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestActionWhichGearshift: the version input is a release tag, a full
// commit SHA, or empty with the gearshift source beside the action;
// anything else is refused.
func TestActionWhichGearshift(t *testing.T) {
	// bash is part of every Debian system (and of GitHub's runners):
	// without it the test fails rather than hide the action's logic.
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("no bash: the action's steps are bash")
	}
	script := actionStep(t, "Which gearshift")
	root, _ := filepath.Abs("../..")
	for _, tt := range []struct{ version, source, want string }{
		{"v1.2.3", root, "mode=release"},
		{"v1.2.3-rc.1", root, "mode=release"},
		{"0123456789abcdef0123456789abcdef01234567", root, "mode=commit"},
		{"", root, "mode=source"},
		{"", t.TempDir(), "error: no gearshift source"},
		{"main", root, "error: version must be"},
		{"v1.2.3; rm -rf /", root, "error: version must be"},
		{"0123456", root, "error: version must be"},
	} {
		out := filepath.Join(t.TempDir(), "output")
		stdout, err := runStep(t, script, "GEARSHIFT_VERSION="+tt.version, "SOURCE="+tt.source, "GITHUB_OUTPUT="+out)
		got, _ := os.ReadFile(out)
		switch {
		case strings.HasPrefix(tt.want, "error: "):
			if err == nil || !strings.Contains(stdout, strings.TrimPrefix(tt.want, "error: ")) {
				t.Errorf("version %q: %v, %q; want the error %q", tt.version, err, stdout, tt.want)
			}
		case err != nil || strings.TrimSpace(string(got)) != tt.want:
			t.Errorf("version %q: %v %s: output %q, want %q", tt.version, err, stdout, got, tt.want)
		}
	}
}

// TestActionDownloadVerifies runs the action's download step with a
// stand-in for `gh release download` that serves a release from a
// directory: the archive is installed only when the release's checksums
// file lists it with its checksum.
func TestActionDownloadVerifies(t *testing.T) {
	for _, c := range []string{"bash", "tar", "sha256sum", "awk", "install"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("no %s: a base system tool the action's download step uses", c)
		}
	}
	script := actionStep(t, "Download gearshift")
	const archive, sums = "gearshift_1.2.3_linux_amd64.tar.gz", "gearshift_1.2.3_checksums.txt"
	var tgz bytes.Buffer
	gz := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(gz)
	bin := []byte("#!/bin/sh\necho gearshift v1.2.3\n")
	for _, f := range []struct {
		name string
		data []byte
	}{{"LICENSE", []byte("license\n")}, {"gearshift", bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.data)
	}
	tw.Close()
	gz.Close()
	good := fmt.Sprintf("%x  %s\n%x  gearshift_1.2.3_darwin_arm64.tar.gz\n", sha256.Sum256(tgz.Bytes()), archive, sha256.Sum256(nil))

	fakebin := t.TempDir()
	gh := "#!/bin/sh\n# gh release download TAG --repo R --pattern A --pattern B\n[ \"$1 $2 $3 $4 $5\" = \"release download v1.2.3 --repo acme/gearshift\" ] || exit 9\nshift 5\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = --pattern ]; then cp \"$RELEASE/$2\" . || exit 1; shift; fi\n  shift\ndone\n"
	if err := os.WriteFile(filepath.Join(fakebin, "gh"), []byte(gh), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		archive    []byte
		sums, want string
	}{
		{"verified", tgz.Bytes(), good, ""},
		{"tampered", append(bytes.Clone(tgz.Bytes()), 0), good, "does not match its checksum"},
		{"not listed", tgz.Bytes(), strings.SplitN(good, "\n", 2)[1], "does not list " + archive},
	} {
		t.Run(tt.name, func(t *testing.T) {
			release, temp := t.TempDir(), t.TempDir()
			os.WriteFile(filepath.Join(release, archive), tt.archive, 0o644)
			os.WriteFile(filepath.Join(release, sums), []byte(tt.sums), 0o644)
			out, err := runStep(t, script, "PATH="+fakebin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"RELEASE="+release, "RUNNER_TEMP="+temp, "RUNNER_OS=Linux", "RUNNER_ARCH=X64",
				"GITHUB_SERVER_URL=https://forge.example.invalid", "GEARSHIFT_VERSION=v1.2.3",
				"RELEASE_REPOSITORY=acme/gearshift", "GH_TOKEN=t")
			installed, rerr := os.ReadFile(filepath.Join(temp, "gearshift"))
			if tt.want == "" {
				if err != nil || !bytes.Equal(installed, bin) {
					t.Fatalf("download: %v (installed %q, %v)\n%s", err, installed, rerr, out)
				}
				return
			}
			if err == nil || !strings.Contains(out, tt.want) {
				t.Errorf("download: %v, want a failure saying %q\n%s", err, tt.want, out)
			}
			if rerr == nil {
				t.Errorf("a gearshift was installed from a release that did not verify")
			}
		})
	}
}
