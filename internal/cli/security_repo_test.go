package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepoURLSymlinkOut: a state repository cloned from a URL (the real git
// http-backend) whose commit holds links out of the repository, a .cue file
// and an environment directory, is refused like a local checkout: exit 4,
// a diagnostic naming each link, and nothing of what they point at.
func TestRepoURLSymlinkOut(t *testing.T) {
	outside := t.TempDir()
	leak := "package gearshift\n\nunits: leak: {kind: \"gear\", version: \"9.9.9-LEAKED\", target: \"t\"}\n"
	if err := os.WriteFile(filepath.Join(outside, "leak.cue"), []byte(leak), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(outside, "evil"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "evil", "env.cue"), []byte(gitopsEnvCUE("evil", `branch: "main"`)), 0o644); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t, map[string]string{
		"cue.mod/module.cue":       "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/dev/env.cue": gitopsEnvCUE("dev", `branch: "main"`),
	})
	url := h.git.URL("state")
	h.mustRun(0, "validate", "--repo", url)

	// Someone pushes the links (the git server's helpers write regular
	// files only, so this commit is made with git itself). They are
	// relative, with enough ".." to reach / from wherever the clone is: the
	// clone rewrites an absolute link to stay inside its work tree.
	up := strings.Repeat("../", 30) + strings.TrimPrefix(outside, "/")
	work := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=attacker", "-c", "user.email=a@example.com"}, args...)...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	git("clone", "--quiet", h.git.Path("state"), ".")
	for link, target := range map[string]string{
		"environments/dev/leak.cue": up + "/leak.cue",
		"environments/evil":         up + "/evil",
	} {
		if err := os.Symlink(target, filepath.Join(work, link)); err != nil {
			t.Fatal(err)
		}
	}
	git("add", "--all")
	git("commit", "--quiet", "-m", "links out")
	git("push", "--quiet", "origin", "HEAD:refs/heads/main")

	for _, args := range [][]string{
		{"validate", "--repo", url},
		{"validate", "dev", "--repo", url, "--ref", "main"},
		{"plan", "-o", "json", "--repo", url},
		{"list", "--repo", url},
	} {
		code, stdout, stderr := h.run(args...)
		if code != ExitInvalid {
			t.Errorf("gearshift %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, ExitInvalid, stdout, stderr)
		}
		want := "environments/evil: symbolic link to " + up + "/evil, outside the repository: not followed\n"
		if !strings.Contains(stderr, want) {
			t.Errorf("gearshift %s: stderr\n%s\nwant the line\n%s", strings.Join(args, " "), stderr, want)
		}
		if strings.Contains(stdout+stderr, "LEAKED") {
			t.Errorf("gearshift %s: printed what a link out of the repository points at:\n%s%s", strings.Join(args, " "), stdout, stderr)
		}
	}

	// Without the environment link, the .cue file link is what is refused.
	git("rm", "--quiet", "environments/evil")
	git("commit", "--quiet", "-m", "one link less")
	git("push", "--quiet", "origin", "HEAD:refs/heads/main")
	code, stdout, stderr := h.run("validate", "--repo", url)
	want := "environments/dev/leak.cue: symbolic link to " + up + "/leak.cue, outside the repository: not followed\ngearshift: the state is invalid: 1 mistake\n"
	if code != ExitInvalid || stdout != "" || stderr != want {
		t.Errorf("gearshift validate: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d and stderr\n%s", code, stdout, stderr, ExitInvalid, want)
	}
}
