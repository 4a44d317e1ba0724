package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/forge/githubtest"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
)

// Tokens are long and recognisable, so that a leak anywhere is found by a
// plain search.
const (
	gitToken = "glpat_GEARSHIFTgitTOKEN0123456789secret"
	ghToken  = "ghp_GEARSHIFTgithubTOKEN9876543210secret"
)

// harness runs gearshift in-process against a real git server and the
// GitHub API fake, and checks after the test that no token was ever
// printed, committed, sent in a pull request or comment, or written to the
// clone cache.
type harness struct {
	t     testing.TB
	git   *gitserver.Server
	gh    *githubtest.Server
	env   map[string]string
	cache string
	seen  []string // every stdout and stderr
}

func newHarness(t testing.TB, files map[string]string) *harness {
	t.Helper()
	h := &harness{t: t, git: gitserver.New(t, gitToken), gh: githubtest.New(t, "acme", "state", ghToken)}
	h.cache = t.TempDir()
	h.env = map[string]string{
		"GEARSHIFT_GIT_TOKEN": gitToken,
		"GITHUB_TOKEN":        ghToken,
		"GITHUB_REPOSITORY":   "acme/state",
		"GITHUB_API_URL":      h.gh.URL,
		"XDG_CACHE_HOME":      h.cache,
		"GEARSHIFT_NOW":       "2026-11-22T12:00:00Z",
		"NO_COLOR":            "1",
	}
	if files != nil {
		h.git.CreateRepo("state", "main", files)
	}
	t.Cleanup(h.assertNoLeak)
	return h
}

// run runs gearshift with args and the harness's environment.
func (h *harness) run(args ...string) (code int, stdout, stderr string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	code = run(ctx, args, &o, &e, func(k string) string { return h.env[k] })
	h.seen = append(h.seen, o.String(), e.String())
	return code, o.String(), e.String()
}

// mustRun fails the test unless gearshift exits with want.
func (h *harness) mustRun(want int, args ...string) string {
	h.t.Helper()
	code, out, errOut := h.run(args...)
	if code != want {
		h.t.Fatalf("gearshift %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}

// testEnv is an env for calling cli functions directly (writeStatus,
// openVersionPR) as a command would.
func (h *harness) testEnv(repo string) *env {
	return &env{
		stdout: io.Discard, stderr: io.Discard,
		getenv:       func(k string) string { return h.env[k] },
		now:          func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) },
		log:          slog.New(slog.DiscardHandler),
		repo:         repo,
		statusBranch: gitops.DefaultStatusBranch,
		output:       "text",
	}
}

// checkout opens the state repository of the git server as a command does.
func (h *harness) checkout(e *env) *gitops.Checkout {
	h.t.Helper()
	c, err := e.checkout(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// assertNoLeak searches everything a token could have reached.
func (h *harness) assertNoLeak() {
	t := h.t
	check := func(what, s string) {
		for _, tok := range []string{gitToken, ghToken, gitToken[6:24], ghToken[4:24]} {
			for _, line := range strings.Split(s, "\n") {
				// The runner needs the secret itself to mask it.
				if strings.HasPrefix(line, "::add-mask::") {
					continue
				}
				if strings.Contains(line, tok) {
					t.Errorf("a token leaked into %s: %q", what, line)
				}
			}
		}
	}
	for i, s := range h.seen {
		check(fmt.Sprintf("output %d", i), s)
	}
	for _, pr := range h.gh.PullRequests() {
		check("pull request #"+fmt.Sprint(pr.Number), pr.Title+"\n"+pr.Body+"\n"+pr.Head)
		for _, c := range h.gh.Comments(pr.Number) {
			check("a comment", c.Body)
		}
	}
	for n := 1; n < 50; n++ {
		for _, c := range h.gh.Comments(n) {
			check("a comment", c.Body)
		}
	}
	for _, r := range h.gh.Requests() {
		check("an API request", r.Path+"?"+r.Query)
	}
	if _, err := os.Stat(h.git.Path("state")); err == nil {
		out, err := exec.Command("git", "-C", h.git.Path("state"), "log", "--all", "--format=%B%n%an <%ae>").CombinedOutput()
		if err != nil {
			t.Errorf("git log: %v: %s", err, out)
		}
		check("a commit", string(out))
	}
	// The cache: .git/config above all, but no file may hold a token.
	_ = filepath.WalkDir(h.cache, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			check("the cache file "+p, string(b))
		}
		return nil
	})
}

// stateRepo is a state repository whose framework and tracked unit release
// on the git server: dev bumps, staging warns, prod denies and is promoted
// from staging after a day.
func stateRepo(h *harness) map[string]string {
	h.git.CreateRepo("fw", "main", map[string]string{"README": "the framework\n"})
	h.git.Tags("fw", "main", "v1.3.0", "v1.4.0", "v1.5.0", "v2.0.0-rc.1")
	h.git.CreateRepo("api", "main", map[string]string{"README": "the api\n"})
	h.git.Tags("api", "main", "v1.0.0", "v1.1.0", "v1.2.0", "v2.0.0")
	unit := func(name, version, fw, extra string) string {
		return fmt.Sprintf("\nunits: %s: {\n\tkind:    \"gear\"\n\tversion: %q\n\tframeworks: fw: %q\n\ttarget:  \"t\"\n%s}\n", name, version, fw, extra)
	}
	track := fmt.Sprintf("\ttrack: source: %q\n", h.git.URL("api"))
	return map[string]string{
		"cue.mod/module.cue": "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"README.md":          "the state\n",
		"environments/frameworks.cue": fmt.Sprintf(`package gearshift

// The framework every gear is built against.
frameworks: fw: {
	latest:   "1.4.0"
	releases: %q
	released: "2026-10-01"
	grace:    "7d"
}
`, h.git.URL("fw")),
		"environments/dev/env.cue":       envCUE("dev", "bump", ""),
		"environments/dev/units.cue":     "package gearshift\n" + unit("api", "1.0.0", "1.3.0", track) + unit("web", "2.0.0", "1.4.0", ""),
		"environments/staging/env.cue":   envCUE("staging", "warn", ""),
		"environments/staging/units.cue": "package gearshift\n" + unit("api", "1.1.0", "1.4.0", "") + unit("web", "2.1.0", "1.4.0", ""),
		"environments/prod/env.cue": envCUE("prod", "deny", `promotion: {from: "staging", soak: "24h"}
	policies: versionPattern: "^[0-9]+\\.[0-9]+\\.[0-9]+$"`),
		"environments/prod/units.cue": "package gearshift\n" + unit("api", "1.0.0", "1.3.0", track) + unit("web", "2.0.0", "1.4.0", "") +
			unit("db", "3.0.0", "1.4.0", ""),
	}
}

func envCUE(name, policy, extra string) string {
	return fmt.Sprintf(`package gearshift

environment: {
	name: %q
	deployFrom: branch: "main"
	policies: latestFramework: %q
	targets: t: exec: {status: ["./status.sh"], deploy: ["./deploy.sh"]}
	%s
}
`, name, policy, extra)
}
