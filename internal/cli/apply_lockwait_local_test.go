package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// blockingDeploy deploys like deployScript, logs every deploy to
// $GS_TEST_STATE/deploys, and holds a version for which
// $GS_TEST_STATE/block-<version> exists until $GS_TEST_STATE/go exists:
// the run deploying it holds the environment's lock as long as the test
// wants.
const blockingDeploy = `if [ -f "$GS_TEST_STATE/block-$GEARSHIFT_VERSION" ]; then
  touch "$GS_TEST_STATE/started"
  while [ ! -f "$GS_TEST_STATE/go" ]; do sleep 0.05; done
fi
echo "$GEARSHIFT_VERSION" >> "$GS_TEST_STATE/deploys"
echo "$GEARSHIFT_VERSION" > "$GS_TEST_STATE/$GEARSHIFT_ENVIRONMENT-$GEARSHIFT_UNIT"
`

// lockWaitRig is a state repository on the git server whose dev deploys
// through blockingDeploy, and the directory the scripts write to.
type lockWaitRig struct {
	t     *testing.T
	h     *harness
	state string // GS_TEST_STATE
}

func newLockWaitRig(t *testing.T, deployFrom, version string) *lockWaitRig {
	st := t.TempDir()
	t.Setenv("GS_TEST_STATE", st)
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir() // one lock directory for every run
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":       "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":                statusScript,
		"deploy.sh":                blockingDeploy,
		"environments/dev/env.cue": lockWaitEnv(deployFrom, version),
	})
	return &lockWaitRig{t: t, h: h, state: st}
}

func lockWaitEnv(deployFrom, version string) string {
	return strings.Replace(gitopsEnvCUE("dev", deployFrom), `"1.2.0"`, `"`+version+`"`, 1)
}

// commit pushes a commit of main that sets api's version.
func (r *lockWaitRig) commit(deployFrom, version string) string {
	return r.h.git.Commit("state", "main", "api "+version, map[string]string{"environments/dev/env.cue": lockWaitEnv(deployFrom, version)})
}

// block makes the deploy of version hold the lock until release.
func (r *lockWaitRig) block(version string) {
	if err := os.WriteFile(filepath.Join(r.state, "block-"+version), nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *lockWaitRig) release() {
	if err := os.WriteFile(filepath.Join(r.state, "go"), nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *lockWaitRig) waitStarted() {
	waitFor(r.t, "the first apply to start its deploy", func() bool {
		_, err := os.Stat(filepath.Join(r.state, "started"))
		return err == nil
	})
}

// deploys are the versions deployed, in order.
func (r *lockWaitRig) deploys() string {
	b, _ := os.ReadFile(filepath.Join(r.state, "deploys"))
	return strings.Join(strings.Fields(string(b)), " ")
}

// clone is what actions/checkout makes: a shallow clone of the server's
// repository at ref's tip, the credential given for the clone only
// (persist-credentials: false), origin the server's URL. ref "" is main;
// a tag is checked out detached.
func (r *lockWaitRig) clone(ref string) string {
	r.t.Helper()
	dir := filepath.Join(r.t.TempDir(), "state")
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + gitToken))
	args := []string{"-c", "http.extraHeader=Authorization: Basic " + basic, "clone", "--quiet", "--depth", "1"}
	if ref != "" {
		args = append(args, "--branch", ref)
	}
	r.git("", append(args, r.h.git.URL("state"), dir)...)
	return dir
}

// git runs the git command line with a hermetic configuration.
func (r *lockWaitRig) git(dir string, args ...string) string {
	r.t.Helper()
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = []string{"HOME=" + r.t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0", "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// startApply runs gearshift in the background, as a CI job of its own
// (its own clone cache), and returns how to wait for its end and its
// stderr as it is written.
func startApply(t *testing.T, h *harness, args ...string) (wait func() (int, string, string), stderr *watchedBuffer) {
	env := map[string]string{}
	for k, v := range h.env {
		env[k] = v
	}
	env["XDG_CACHE_HOME"] = t.TempDir()
	stderr = &watchedBuffer{}
	var stdout bytes.Buffer
	done := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		done <- run(ctx, args, &stdout, stderr, func(k string) string { return env[k] })
	}()
	return func() (int, string, string) {
		code := <-done
		h.seen = append(h.seen, stdout.String(), stderr.String())
		return code, stdout.String(), stderr.String()
	}, stderr
}

func waitForWaiting(t *testing.T, stderr *watchedBuffer) {
	waitFor(t, "the second apply to wait for the lock", func() bool {
		return strings.Contains(stderr.String(), "waiting up to 2m0s for the lock held by")
	})
}

// untouched fails unless the clone is still at commit, with a clean
// working tree: the reload reads the newest commit elsewhere.
func (r *lockWaitRig) untouched(dir, commit string) {
	r.t.Helper()
	if got := r.git(dir, "rev-parse", "HEAD"); got != commit {
		r.t.Errorf("the clone's HEAD is %s after the apply, want %s (the user's checkout must not move)", got, commit)
	}
	if st := r.git(dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		r.t.Errorf("the clone's working tree changed:\n%s", st)
	}
}

// TestApplyLockWaitLocalClone is Fragalysis's burst in GitHub Actions: each
// job runs in its own shallow checkout of main as it was when the job
// started. The second job checked out commit A; while it waits, commit B
// (api 2.0.0) is pushed. Once it holds the lock it asks origin where main
// is, reads B from a clone in the cache and deploys 2.0.0; its own
// checkout is left at A.
func TestApplyLockWaitLocalClone(t *testing.T) {
	r := newLockWaitRig(t, `branch: "main"`, "1.0.0")
	a := r.h.git.Head("state", "main")
	r.block("1.0.0")
	first, _ := startApply(t, r.h, "apply", "dev", "--repo", r.clone("main"), "--ref", "main")
	r.waitStarted()

	clone := r.clone("main")
	second, secondErr := startApply(t, r.h, "apply", "dev", "--repo", clone, "--ref", "main", "--lock-wait", "2m")
	waitForWaiting(t, secondErr)
	b := r.commit(`branch: "main"`, "2.0.0")
	// An edit left in the job's working tree is not what origin holds.
	if err := os.WriteFile(filepath.Join(clone, "environments/dev/extra.cue"), []byte("package gearshift\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.release()

	if code, out, errOut := first(); code != 0 {
		t.Errorf("first apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut := second()
	if code != 0 {
		t.Fatalf("second apply (--lock-wait): exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	want := "the lock was held: planning from the newest state, commit " + b[:12] + " (branch main of " + r.h.git.URL("state") + "; loaded before the wait: " + a[:12] + ")"
	if !strings.Contains(errOut, want) {
		t.Errorf("second apply's stderr:\n%s\nwant the note %q", errOut, want)
	}
	wantNote := "the lock was held: the uncommitted changes of " + clone + " (environments/dev/extra.cue) are not deployed: planning from branch main of " + r.h.git.URL("state")
	if !strings.Contains(errOut, wantNote) {
		t.Errorf("second apply's stderr:\n%s\nwant the note %q", errOut, wantNote)
	}
	if !strings.Contains(out, "1.0.0 -> 2.0.0") {
		t.Errorf("second apply's plan is not 1.0.0 -> 2.0.0:\n%s", out)
	}
	if got := r.deploys(); got != "1.0.0 2.0.0" {
		t.Errorf("deployed %q, want %q", got, "1.0.0 2.0.0")
	}
	if err := os.Remove(filepath.Join(clone, "environments/dev/extra.cue")); err != nil {
		t.Error(err)
	}
	r.untouched(clone, a)
}

// TestApplyLockWaitOlderJob is the reverse order, the regression the
// reload prevents: the job of the newer commit B holds the lock and
// deploys 2.0.0; the job of the older commit A (started earlier, slower)
// waits behind it. After the wait it plans from B, which already runs:
// nothing is deployed, and 1.0.0 never replaces 2.0.0.
func TestApplyLockWaitOlderJob(t *testing.T) {
	r := newLockWaitRig(t, `branch: "main"`, "1.0.0")
	a := r.h.git.Head("state", "main")
	older := r.clone("main")
	b := r.commit(`branch: "main"`, "2.0.0")
	newer := r.clone("main")

	r.block("2.0.0")
	newerJob, _ := startApply(t, r.h, "apply", "dev", "--repo", newer, "--ref", "main")
	r.waitStarted()
	olderJob, olderErr := startApply(t, r.h, "apply", "dev", "--repo", older, "--ref", "main", "--lock-wait", "2m")
	waitForWaiting(t, olderErr)
	r.release()

	if code, out, errOut := newerJob(); code != 0 {
		t.Errorf("the newer job: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut := olderJob()
	if code != 0 {
		t.Fatalf("the older job (--lock-wait): exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	want := "planning from the newest state, commit " + b[:12] + " (branch main of " + r.h.git.URL("state") + "; loaded before the wait: " + a[:12] + ")"
	if !strings.Contains(errOut, want) {
		t.Errorf("the older job's stderr:\n%s\nwant the note %q", errOut, want)
	}
	if got := r.deploys(); got != "2.0.0" {
		t.Errorf("deployed %q, want only the newer job's 2.0.0", got)
	}
	b2, err := os.ReadFile(filepath.Join(r.state, "dev-api"))
	if err != nil || strings.TrimSpace(string(b2)) != "2.0.0" {
		t.Errorf("dev runs %q (%v), want 2.0.0", b2, err)
	}
	if strings.Contains(out, "-> 1.0.0") {
		t.Errorf("the older job planned 1.0.0:\n%s", out)
	}
	r.untouched(older, a)
}

// TestApplyLockWaitTag: prod deploys release tags. The job started at
// v1.0.0-rel (a local checkout detached at the tag, as the reconcile
// workflow's prod job makes, or --repo URL --ref v1.0.0-rel); while it
// waits, v1.1.0-rel is pushed (annotated), and tags the pattern refuses.
// After the wait it deploys the newest matching tag, v1.1.0-rel.
func TestApplyLockWaitTag(t *testing.T) {
	for _, local := range []bool{true, false} {
		name := "URL"
		if local {
			name = "local checkout"
		}
		t.Run(name, func(t *testing.T) {
			const prodFrom = `tag: "^v[0-9]+\\.[0-9]+\\.[0-9]+-rel$"`
			r := newLockWaitRig(t, prodFrom, "1.0.0")
			r.h.git.Tag("state", "v1.0.0-rel", "main")
			a := r.h.git.Head("state", "main")
			repo := func() string {
				if local {
					return r.clone("v1.0.0-rel")
				}
				return r.h.git.URL("state")
			}
			r.block("1.0.0")
			first, _ := startApply(t, r.h, "apply", "dev", "--repo", repo(), "--ref", "v1.0.0-rel")
			r.waitStarted()

			second := repo()
			wait, secondErr := startApply(t, r.h, "apply", "dev", "--repo", second, "--ref", "v1.0.0-rel", "--lock-wait", "2m")
			waitForWaiting(t, secondErr)
			b := r.commit(prodFrom, "2.0.0")
			r.h.git.AnnotatedTag("state", "v1.1.0-rel", b, "release 1.1.0")
			r.commit(prodFrom, "3.0.0")
			r.h.git.Tag("state", "v9.0.0", "main")
			r.h.git.Tag("state", "v1.1.0-rc.1-rel", "main")
			r.release()

			if code, out, errOut := first(); code != 0 {
				t.Errorf("first apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			code, out, errOut := wait()
			if code != 0 {
				t.Fatalf("second apply (--lock-wait): exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			want := "planning from the newest state, commit " + b[:12] + " (tag v1.1.0-rel of " + r.h.git.URL("state") + "; loaded before the wait: " + a[:12] + ")"
			if !strings.Contains(errOut, want) {
				t.Errorf("second apply's stderr:\n%s\nwant the note %q", errOut, want)
			}
			if got := r.deploys(); got != "1.0.0 2.0.0" {
				t.Errorf("deployed %q, want %q", got, "1.0.0 2.0.0")
			}
			if local {
				r.untouched(second, a)
			}
		})
	}
}

// TestApplyLockWaitLocalAhead: a local commit not pushed yet (someone
// applying from their own clone) is newer than origin's main, which it
// contains: after the wait the local commit is planned from, not origin's.
func TestApplyLockWaitLocalAhead(t *testing.T) {
	r := newLockWaitRig(t, `branch: "main"`, "1.0.0")
	r.block("1.0.0")
	first, _ := startApply(t, r.h, "apply", "dev", "--repo", r.clone("main"), "--ref", "main")
	r.waitStarted()

	clone := r.clone("main")
	if err := os.WriteFile(filepath.Join(clone, "environments/dev/env.cue"), []byte(lockWaitEnv(`branch: "main"`, "1.5.0")), 0o644); err != nil {
		t.Fatal(err)
	}
	r.git(clone, "-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "--quiet", "--all", "-m", "api 1.5.0")
	local := r.git(clone, "rev-parse", "HEAD")
	second, secondErr := startApply(t, r.h, "apply", "dev", "--repo", clone, "--ref", "main", "--lock-wait", "2m")
	waitForWaiting(t, secondErr)
	r.release()

	if code, out, errOut := first(); code != 0 {
		t.Errorf("first apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut := second()
	if code != 0 {
		t.Fatalf("second apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	a := r.h.git.Head("state", "main")
	for _, want := range []string{
		"branch main of " + r.h.git.URL("state") + " is at " + a[:12] + ", which the local commit " + local[:12] + " contains: planning from the local commit",
		"the state was loaded again (commit " + local[:12] + ", unchanged)",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("second apply's stderr:\n%s\nwant %q", errOut, want)
		}
	}
	if got := r.deploys(); got != "1.0.0 1.5.0" {
		t.Errorf("deployed %q, want %q", got, "1.0.0 1.5.0")
	}
}

// TestApplyLockWaitUnreachable: after the wait the origin cannot be
// reached. The apply fails (exit 1) and deploys nothing rather than the
// commit it loaded before the wait, which may be older than what runs.
func TestApplyLockWaitUnreachable(t *testing.T) {
	r := newLockWaitRig(t, `branch: "main"`, "1.0.0")
	r.block("1.0.0")
	first, _ := startApply(t, r.h, "apply", "dev", "--repo", r.clone("main"), "--ref", "main")
	r.waitStarted()

	clone := r.clone("main")
	r.commit(`branch: "main"`, "2.0.0")
	r.git(clone, "remote", "set-url", "origin", "http://"+closedAddr(t)+"/state.git")
	second, secondErr := startApply(t, r.h, "apply", "dev", "--repo", clone, "--ref", "main", "--lock-wait", "2m")
	waitForWaiting(t, secondErr)
	r.release()

	if code, out, errOut := first(); code != 0 {
		t.Errorf("first apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut := second()
	if code != ExitFailure || !strings.Contains(errOut, "after waiting for the lock: the newest state cannot be fetched, so nothing is deployed") {
		t.Errorf("second apply: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d and why nothing was deployed", code, out, errOut, ExitFailure)
	}
	if got := r.deploys(); got != "1.0.0" {
		t.Errorf("deployed %q, want only the first apply's 1.0.0", got)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestApplyLockWaitNoOrigin: a local repository without a remote has no
// newer commit to ask for: after the wait it is read again as it is (a
// commit made meanwhile is deployed), and the note says it may be older.
func TestApplyLockWaitNoOrigin(t *testing.T) {
	r := newLockWaitRig(t, `branch: "main"`, "1.0.0")
	r.block("1.0.0")
	first, _ := startApply(t, r.h, "apply", "dev", "--repo", r.clone("main"), "--ref", "main")
	r.waitStarted()

	clone := r.clone("main")
	r.git(clone, "remote", "remove", "origin")
	second, secondErr := startApply(t, r.h, "apply", "dev", "--repo", clone, "--ref", "main", "--lock-wait", "2m")
	waitForWaiting(t, secondErr)
	if err := os.WriteFile(filepath.Join(clone, "environments/dev/env.cue"), []byte(lockWaitEnv(`branch: "main"`, "1.5.0")), 0o644); err != nil {
		t.Fatal(err)
	}
	r.git(clone, "-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "--quiet", "--all", "-m", "api 1.5.0")
	c := r.git(clone, "rev-parse", "HEAD")
	r.release()

	if code, out, errOut := first(); code != 0 {
		t.Errorf("first apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut := second()
	if code != 0 {
		t.Fatalf("second apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"has no origin to fetch the newest state from: the local repository is read again as it is",
		"planning from the newest state, commit " + c[:12] + " (branch main of " + clone,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("second apply's stderr:\n%s\nwant %q", errOut, want)
		}
	}
	if got := r.deploys(); got != "1.0.0 1.5.0" {
		t.Errorf("deployed %q, want %q", got, "1.0.0 1.5.0")
	}
}
