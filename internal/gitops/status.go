package gitops

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// DefaultStatusBranch is the branch of the state repo the status record
// lives on.
const DefaultStatusBranch = "gearshift/status"

// statusAttempts bounds how often WriteStatus rebuilds its commit on top of
// a tip that moved while it was pushing.
const statusAttempts = 5

// errConflict marks a push refused because the branch moved meanwhile.
var errConflict = errors.New("the branch moved while pushing")

// beforeStatusPush lets a test move the branch between fetch and push.
var beforeStatusPush func()

// statusAuthor signs status commits.
var statusAuthor = Author{Name: "gearshift", Email: "gearshift@localhost"}

// WriteStatus commits files (path -> content, nil deletes; other files of
// the branch are kept) to the status branch of the repository named by
// repoArg, and pushes it. The branch (DefaultStatusBranch when empty) is
// created as an orphan when it does not exist. Nothing is committed when the
// files are already as given.
//
// repoArg is a URL, or a local repository: its origin remote is written to
// when it has one (a CI checkout), else its own branch is updated.
//
// The push is compare-and-swap: when another run moved the branch in
// between, the new tip is fetched and the commit rebuilt on top of it, up to
// five times. Runs for different environments write different files, so
// rebuilding never loses anyone's record.
func WriteStatus(ctx context.Context, repoArg, branch string, files map[string][]byte, message string, auth Auth) error {
	if branch == "" {
		branch = DefaultStatusBranch
	}
	if err := plumbing.NewBranchReferenceName(branch).Validate(); err != nil {
		return fmt.Errorf("status branch %q is not valid", branch)
	}
	if _, err := checkPaths(files); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	url, local, err := statusTarget(repoArg)
	if err != nil {
		return err
	}
	if local != nil {
		return writeLocalStatus(local, branch, files, message)
	}
	// The status branch is on the state repository: its host may have the token.
	r, err := newRemote(url, auth.withHost(remoteHost(url)))
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := writeStatusOnce(ctx, r, branch, files, message)
		if err == nil || !errors.Is(err, errConflict) || attempt == statusAttempts {
			if err != nil && errors.Is(err, errConflict) {
				return fmt.Errorf("write status to %s (gave up after %d attempts): %w", r.url, attempt, err)
			}
			return err
		}
		// Jitter so that runs that collided do not collide again.
		wait := time.Duration(attempt)*50*time.Millisecond + rand.N(50*time.Millisecond)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ReadStatus returns every file of the status branch (DefaultStatusBranch
// when empty) of the repository named by repoArg, chosen as WriteStatus
// does. A missing branch is an empty record, not an error.
func ReadStatus(ctx context.Context, repoArg, branch string, auth Auth) (map[string][]byte, error) {
	if branch == "" {
		branch = DefaultStatusBranch
	}
	url, local, err := statusTarget(repoArg)
	if err != nil {
		return nil, err
	}
	if local != nil {
		ref, err := local.Reference(plumbing.NewBranchReferenceName(branch), true)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return map[string][]byte{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read status: %w", err)
		}
		return filesAt(local, ref.Hash())
	}
	// The status branch is on the state repository: its host may have the token.
	r, err := newRemote(url, auth.withHost(remoteHost(url)))
	if err != nil {
		return nil, err
	}
	repo, tip, err := fetchStatus(ctx, r, branch)
	if err != nil {
		return nil, err
	}
	if tip == nil {
		return map[string][]byte{}, nil
	}
	return filesAt(repo, tip.Hash)
}

func filesAt(repo *git.Repository, commit plumbing.Hash) (map[string][]byte, error) {
	c, err := repo.CommitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	return readTree(tree)
}

// statusTarget decides where the status record of repoArg lives: a remote
// URL, or a local repository without an origin.
func statusTarget(repoArg string) (url string, local *git.Repository, err error) {
	if isURL(repoArg) {
		return repoArg, nil, nil
	}
	repo, err := git.PlainOpenWithOptions(repoArg, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return "", nil, fmt.Errorf("status record in %s: %w", repoArg, ErrNotRepository)
	}
	if err != nil {
		return "", nil, fmt.Errorf("status record in %s: %w", repoArg, err)
	}
	if origin, err := repo.Remote("origin"); err == nil && len(origin.Config().URLs) > 0 {
		return origin.Config().URLs[0], nil, nil
	}
	return "", repo, nil
}

// fetchStatus fetches the tip of the status branch into memory (depth 1:
// only the files are needed). tip is nil when the branch does not exist.
func fetchStatus(ctx context.Context, r *remote, branch string) (*git.Repository, *object.Commit, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	repo, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return nil, nil, err
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.url}}); err != nil {
		return nil, nil, err
	}
	tracking := plumbing.NewRemoteReferenceName("origin", branch)
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec("+refs/heads/" + branch + ":" + tracking.String())},
		Depth:      1,
		Auth:       r.auth,
		Tags:       git.NoTags,
	})
	switch {
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		return repo, nil, nil
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil, nil, r.fail(err, "fetch %s from %s", branch, r.url)
	}
	ref, err := repo.Reference(tracking, true)
	if err != nil {
		return nil, nil, err
	}
	tip, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return nil, nil, err
	}
	return repo, tip, nil
}

// writeStatusOnce fetches the tip, commits on top of it, and pushes only if
// the remote branch is still at that tip (or still absent).
func writeStatusOnce(ctx context.Context, r *remote, branch string, files map[string][]byte, message string) error {
	repo, tip, err := fetchStatus(ctx, r, branch)
	if err != nil {
		return err
	}
	commit, err := commitFiles(repo.Storer, tip, files, message, statusAuthor)
	if errors.Is(err, ErrNoChanges) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	name := plumbing.NewBranchReferenceName(branch)
	if err := repo.Storer.SetReference(plumbing.NewHashReference(name, commit)); err != nil {
		return err
	}
	opts := &git.PushOptions{RemoteName: "origin", Auth: r.auth}
	if tip == nil {
		// A plain push of a new branch is refused when it appeared meanwhile.
		opts.RefSpecs = []config.RefSpec{config.RefSpec(name + ":" + name)}
	} else {
		// A forced push guarded by the tip we built on: go-git cannot prove a
		// fast-forward through a shallow history, and the guard is stronger.
		opts.RefSpecs = []config.RefSpec{config.RefSpec("+" + name + ":" + name)}
		opts.RequireRemoteRefs = []config.RefSpec{config.RefSpec(tip.Hash.String() + ":" + name.String())}
	}
	if beforeStatusPush != nil {
		beforeStatusPush()
	}
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	err = repo.PushContext(ctx, opts)
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case isConflict(err):
		return r.fail(fmt.Errorf("%w: %w", errConflict, err), "push %s to %s", branch, r.url)
	}
	return r.fail(err, "push %s to %s", branch, r.url)
}

// isConflict recognises the ways go-git and git receive-pack report that a
// ref was not where the push expected it.
func isConflict(err error) bool {
	if errors.Is(err, git.ErrForceNeeded) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"non-fast-forward", "required to be", "command error on", "failed to update ref", "cannot lock ref", "fetch first"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// writeLocalStatus commits to the branch of a repository that has no
// remote; the reference is updated only if nobody moved it meanwhile.
func writeLocalStatus(repo *git.Repository, branch string, files map[string][]byte, message string) error {
	name := plumbing.NewBranchReferenceName(branch)
	old, err := repo.Storer.Reference(name)
	var tip *object.Commit
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		old = nil
	case err != nil:
		return fmt.Errorf("write status: %w", err)
	default:
		if tip, err = repo.CommitObject(old.Hash()); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
	}
	commit, err := commitFiles(repo.Storer, tip, files, message, statusAuthor)
	if errors.Is(err, ErrNoChanges) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if err := repo.Storer.CheckAndSetReference(plumbing.NewHashReference(name, commit), old); err != nil {
		return fmt.Errorf("write status on %s: %w", branch, err)
	}
	return nil
}
