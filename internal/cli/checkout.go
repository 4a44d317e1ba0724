package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// checkout makes the state repository named by --repo and --ref available
// on disk, once per run: a local repository as it is (it must be at --ref
// when one is given), a URL cloned into the cache. Every command reads the
// state from the returned Dir, so what is planned, validated and applied is
// exactly the checked-out commit.
//
// A local directory that is not a git repository is still a state
// repository for reading (validate, plan); commands that commit (bump,
// promote) refuse it, because the Checkout has no repository. So is a git
// repository without a commit, with a note saying so; apply and rollback
// refuse it (requireCommit). A local repository whose state files differ
// from the commit checked out is read as it is, with a warning naming the
// commit it is not.
func (e *env) checkout(ctx context.Context) (*gitops.Checkout, error) {
	if e.co != nil {
		return e.co, nil
	}
	repo := e.repo
	if repo == "." {
		// --repo not given: run from inside the repository
		// (environments/dev), use its root, as git and cue do.
		root, err := state.FindRoot(repo)
		if err != nil {
			return nil, err
		}
		repo = root
	}
	c, err := gitops.Open(ctx, repo, e.ref, e.cacheDir(), e.gitAuth())
	noCommit := errors.Is(err, gitops.ErrNoCommit)
	if (errors.Is(err, gitops.ErrNotRepository) || noCommit) && e.ref == "" {
		abs, aerr := filepath.Abs(repo)
		if aerr != nil {
			return nil, aerr
		}
		c, err = &gitops.Checkout{Dir: abs, Source: abs}, nil
		e.noCommit = noCommit
		if noCommit && e.cmdName != "apply" && e.cmdName != "rollback" {
			fmt.Fprintf(e.stderr, "gearshift: note: %s has no commit yet: reading the files as they are\n", inert.Text(abs))
		}
	}
	if err != nil {
		return nil, err
	}
	if changed, err := c.Uncommitted(); err != nil {
		e.log.Debug("state repository status", "err", err)
	} else if changed = stateFiles(changed); len(changed) > 0 {
		fmt.Fprintf(e.stderr, "gearshift: warning: the working tree has uncommitted changes (%s): %s the files as they are, not commit %s\n",
			inert.Text(listSome(changed, 3)), readingVerb(e.cmdName), shortHash(c.Commit))
	}
	e.log.Debug("state repository", "source", c.Source, "ref", c.Ref, "commit", c.Commit, "dir", c.Dir)
	e.co = c
	return c, nil
}

// requireCommit refuses to act (apply, rollback) on a local git repository
// without a commit: what is deployed is recorded as a commit of the state.
func (e *env) requireCommit(ctx context.Context, cmd string) error {
	if _, err := e.checkout(ctx); err != nil {
		return err
	}
	if e.noCommit {
		return fmt.Errorf("%s has no commit yet: %s deploys a commit of the state; commit the files first (git add, git commit)", e.co.Source, cmd)
	}
	return nil
}

// readingVerb says what cmd does with the state's files.
func readingVerb(cmd string) string {
	switch cmd {
	case "plan":
		return "planning"
	case "validate":
		return "validating"
	case "apply":
		return "applying"
	}
	return "reading"
}

// stateFiles keeps the paths gearshift reads of a state repository: its
// environments and its CUE module.
func stateFiles(paths []string) []string {
	var kept []string
	for _, p := range paths {
		if strings.HasPrefix(p, state.EnvironmentsDir+"/") || strings.HasPrefix(p, "cue.mod/") {
			kept = append(kept, p)
		}
	}
	return kept
}

// listSome joins the first n of items, then says how many more there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// cacheDir is where URLs are cloned: $XDG_CACHE_HOME/gearshift, else
// $HOME/.cache/gearshift; "" when neither is set (a URL then fails).
func (e *env) cacheDir() string {
	if d := e.getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "gearshift")
	}
	if h := e.getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "gearshift")
	}
	return ""
}

// gitAuth is the token for git remotes (GEARSHIFT_GIT_TOKEN, else
// GITHUB_TOKEN). It is handed to gitops and never formatted here. It goes
// only to GitHub's hosts, those of GEARSHIFT_GIT_TOKEN_HOSTS and, once the
// state repository is checked out, its host: never to a host that a URL in
// the state names.
func (e *env) gitAuth() gitops.Auth { return gitops.AuthFromEnv(e.getenv).ForRepo(e.co) }
