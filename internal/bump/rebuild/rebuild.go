package rebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/bump"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/proc"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Options tune Run.
type Options struct {
	// Auth is the git token and the hosts it may go to; the repository's
	// host gets it only when it is one of them.
	Auth gitops.Auth
	// Forge opens pull requests in a repository ("owner/name").
	Forge func(repository string) (forge.Forge, error)
	// WorkDir is where the fresh clone is made (and removed after);
	// empty is the system's temporary directory.
	WorkDir string
	Author  gitops.Author
	// Footer ends a pull request's body.
	Footer string
	// GitHubHosts are the hosts whose repository URLs name a GitHub
	// repository as /owner/name (github.com, and GITHUB_SERVER_URL's).
	GitHubHosts []string
}

// Result is what a rebuild did.
type Result struct {
	*bump.Rebuild
	// Commit is the commit made ("" when the command changed nothing).
	Commit string `json:"commit,omitempty"`
	// Pushed is the branch the commit was pushed to.
	Pushed string `json:"pushed,omitempty"`
	// Unchanged says that the command left the checkout as it was: the
	// repository already uses the release.
	Unchanged   bool               `json:"unchanged,omitempty"`
	PullRequest *forge.PullRequest `json:"pull_request,omitempty"`
	Created     bool               `json:"created,omitempty"`
	Error       string             `json:"error,omitempty"`
}

// maxTreeBytes bounds the checkout read to find what the command changed.
const maxTreeBytes = 512 << 20

// Run carries out rb: clone -> command -> commit -> push (-> pull request).
func Run(ctx context.Context, rb *bump.Rebuild, o Options) Result {
	res := Result{Rebuild: rb}
	if err := run(ctx, rb, o, &res); err != nil {
		res.Error = err.Error()
	}
	return res
}

func run(ctx context.Context, rb *bump.Rebuild, o Options, res *Result) error {
	if err := proc.Check(rb.Command); err != nil {
		return fmt.Errorf("rebuild command: %w", err)
	}
	if err := proc.CheckVars(rb.Env); err != nil {
		return fmt.Errorf("rebuild env: %w", err)
	}
	var gh forge.Forge
	if rb.Push == state.RebuildPullRequest {
		repo, err := githubRepository(rb, o.GitHubHosts)
		if err != nil {
			return err
		}
		if o.Forge == nil {
			return errors.New("no forge to open the pull request with")
		}
		if gh, err = o.Forge(repo); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp(o.WorkDir, "gearshift-rebuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	c, err := gitops.Open(ctx, rb.Repository, rb.Branch, work, authFor(rb.Repository, o.Auth))
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	// The clone's HEAD is the branch itself: detach it at the same commit,
	// so that the branch can be committed onto (gitops.CommitBranch never
	// moves a checked-out branch). The clone is this run's alone.
	if err := os.WriteFile(filepath.Join(c.Dir, ".git", "HEAD"), []byte(c.Commit+"\n"), 0o644); err != nil {
		return err
	}
	before, err := snapshot(c.Dir)
	if err != nil {
		return err
	}
	r, err := proc.Run(ctx, proc.Cmd{Argv: rb.Command, Dir: c.Dir, Env: rb.Env, Timeout: rb.Timeout})
	if err == nil {
		err = r.Err()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(rb.Command, " "), err)
	}
	after, err := snapshot(c.Dir)
	if err != nil {
		return err
	}
	files := changes(before, after)
	if len(files) == 0 {
		res.Unchanged = true
		return nil
	}
	branch := rb.Branch
	if rb.Push == state.RebuildPullRequest {
		branch = rb.WorkBranch
	}
	if res.Commit, err = gitops.CommitBranch(ctx, c, branch, rb.Message, files, o.Author); err != nil {
		return err
	}
	// The branch an environment deploys from is only ever fast-forwarded;
	// the work branch of a pull request is gearshift's own.
	if err := gitops.Push(ctx, c, branch, branch != rb.Branch, authFor(rb.Repository, o.Auth)); err != nil {
		return err
	}
	res.Pushed = branch
	if gh == nil {
		return nil
	}
	body := rb.Body
	if o.Footer != "" {
		body += "\n" + o.Footer + "\n"
	}
	pr, created, err := gh.EnsurePullRequest(ctx, forge.PullRequest{Branch: rb.WorkBranch, Base: rb.Branch, Title: rb.Title, Body: body})
	if err != nil {
		return err
	}
	res.PullRequest, res.Created = &pr, created
	return nil
}

// authFor is a with its token only when repository's host is one the
// token may go to (gitops.Auth.For): the repository URL comes from the
// state.
func authFor(repository string, a gitops.Auth) gitops.Auth { return a.For(repository) }

// githubRepository is the owner/name pull requests of rb go to: rebuild's
// github, else the path of a repository URL on a GitHub host.
func githubRepository(rb *bump.Rebuild, hosts []string) (string, error) {
	if rb.GitHub != "" {
		return rb.GitHub, nil
	}
	u, err := url.Parse(rb.Repository)
	if err == nil {
		for _, h := range append([]string{"github.com"}, hosts...) {
			if strings.EqualFold(u.Hostname(), h) {
				p := strings.Trim(strings.TrimSuffix(u.Path, ".git"), "/")
				if owner, name, ok := strings.Cut(p, "/"); ok && owner != "" && name != "" && !strings.Contains(name, "/") {
					return owner + "/" + name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no GitHub repository for the pull request of %s: set rebuild.github (owner/name)", gitops.RedactURL(rb.Repository))
}

// snapshot reads every file of the working tree in dir but .git: path
// (slash-separated) -> content.
func snapshot(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // links and the like are not what an update changes
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if total += int64(len(b)); total > maxTreeBytes {
			return fmt.Errorf("the checkout holds more than %d bytes", maxTreeBytes)
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	return files, err
}

// changes are the tracked files that the command changed (nil content:
// deleted). A fresh clone holds exactly the tracked files, so before is
// them; a file the command created (fetched dependencies, build output)
// is not committed: an update edits the lock file it owns.
func changes(before, after map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for p, old := range before {
		b, ok := after[p]
		switch {
		case !ok:
			out[p] = nil
		case !bytes.Equal(old, b):
			out[p] = b
		}
	}
	return out
}
