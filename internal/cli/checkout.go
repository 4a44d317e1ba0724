package cli

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/gearshift-dev/gearshift/internal/gitops"
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
// promote) refuse it, because the Checkout has no repository.
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
	if errors.Is(err, gitops.ErrNotRepository) && e.ref == "" {
		abs, aerr := filepath.Abs(repo)
		if aerr != nil {
			return nil, aerr
		}
		c, err = &gitops.Checkout{Dir: abs, Source: abs}, nil
	}
	if err != nil {
		return nil, err
	}
	e.log.Debug("state repository", "source", c.Source, "ref", c.Ref, "commit", c.Commit, "dir", c.Dir)
	e.co = c
	return c, nil
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
