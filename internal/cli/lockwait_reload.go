package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// reloadNewest is apply's Request.Reload: after waiting for the lock, the
// state is loaded from where the environments' ref stands now, not from
// the commit this run started at. In GitHub Actions every job runs in its
// own checkout of the commit that triggered it (Fragalysis: two jobs a few
// seconds apart); a job that waited behind a newer commit's job must not
// deploy its older commit over the newer one.
//
// The ref is the one the run was checked against (checkRef): a branch's
// tip, or, for a tag, the newest tag that every environment's tag pattern
// matches (in gearshift's order of versions, as serve picks it). It is
// asked of the state repository's URL (--repo URL), or of a local
// repository's origin, with the token rules of every other remote call
// (gitops.Auth: the token goes only to the allowed hosts).
//
//   - --repo URL: that ref is fetched into the cache again and read there.
//   - A local repository with an origin: when origin's ref is at the local
//     commit, or at one the local commit contains (a local commit not
//     pushed yet), or is an older tag than the local one, the local
//     repository is read again as it is; otherwise origin's commit is
//     cloned into the cache (as --repo URL is) and the state read there.
//     The user's working tree is never touched.
//   - A local repository without an origin: read again as it is (the note
//     says it may be older than what the other run deployed).
//
// When the ref cannot be learnt or fetched (the remote unreachable, the
// token refused), the run fails (exit 1) rather than deploy a commit that
// may be older than the one the run that held the lock deployed.
func (e *env) reloadNewest(ctx context.Context, old *state.State, names []string, note func(string)) (*state.State, *gitops.Checkout, error) {
	before := e.co
	branch, patterns := refToFollow(before, old, names)
	url := ""
	switch {
	case before == nil || before.Commit == "" || (branch == "" && len(patterns) == 0):
		// Nothing to ask a remote about: read the state again.
	case gitops.IsURL(e.repo):
		url = e.repo
	default:
		var err error
		url, err = before.OriginURL()
		if errors.Is(err, gitops.ErrNoOrigin) {
			note(fmt.Sprintf("the lock was held: %s has no origin to fetch the newest state from: the local repository is read again as it is, which may be older than what the run that held the lock deployed",
				inert.Text(before.Source)))
			url, err = "", nil
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if url == "" {
		return e.reloadAsItIs(ctx, names)
	}
	shown := gitops.RedactURL(url)
	newest, err := gitops.NewestRef(ctx, url, e.gitAuth(), branch, patterns)
	if err != nil {
		return nil, nil, notNewest(before, err)
	}
	if !gitops.IsURL(e.repo) {
		local := describeCheckout(before)
		switch {
		case newest.Commit == before.Commit:
			return e.reloadAsItIs(ctx, names)
		case before.Contains(newest.Commit):
			note(fmt.Sprintf("the lock was held: %s of %s is at %s, which the local commit %s contains: planning from the local commit",
				describeNewest(newest), inert.Text(shown), shortHash(newest.Commit), shortHash(before.Commit)))
			return e.reloadAsItIs(ctx, names)
		case newest.IsTag && before.IsTag && state.CompareVersions(before.Ref, newest.Ref) > 0:
			note(fmt.Sprintf("the lock was held: the newest matching tag of %s is %s, older than the local %s: planning from the local commit",
				inert.Text(shown), inert.Text(newest.Ref), local))
			return e.reloadAsItIs(ctx, names)
		}
	}
	c, err := gitops.Open(ctx, url, newest.FullRef(), e.cacheDir(), e.gitAuth())
	if err != nil {
		return nil, nil, notNewest(before, err)
	}
	if changed, err := before.Uncommitted(); err == nil && len(stateFiles(changed)) > 0 {
		note(fmt.Sprintf("the lock was held: the uncommitted changes of %s (%s) are not deployed: planning from %s of %s",
			inert.Text(before.Source), inert.Text(listSome(stateFiles(changed), 3)), describeNewest(newest), inert.Text(shown)))
	}
	e.co = c
	st, err := e.loadAll(ctx, names...)
	if err != nil {
		return nil, nil, err
	}
	return st, c, nil
}

// reloadAsItIs is today's reload: the checkout is opened again (a URL is
// fetched again, a local repository read as it is now).
func (e *env) reloadAsItIs(ctx context.Context, names []string) (*state.State, *gitops.Checkout, error) {
	e.co = nil
	st, err := e.loadAll(ctx, names...)
	if err != nil {
		return nil, nil, err
	}
	c, err := e.checkout(ctx)
	if err != nil {
		return nil, nil, err
	}
	return st, c, nil
}

// refToFollow is what the run deploys from, as checkRef accepted it: the
// checkout's branch, or, when it is on a tag, the tag patterns of every
// environment (a tag must match them all).
func refToFollow(c *gitops.Checkout, st *state.State, names []string) (branch string, patterns []string) {
	if c == nil || c.Ref == "" {
		return "", nil
	}
	if !c.IsTag {
		return c.Ref, nil
	}
	for _, n := range names {
		if env := st.Environments[n]; env != nil && env.DeployFrom.Tag != "" {
			patterns = append(patterns, env.DeployFrom.Tag)
		}
	}
	return "", patterns
}

// notNewest is the error of a reload that could not learn or fetch the
// newest commit.
func notNewest(before *gitops.Checkout, err error) error {
	return fmt.Errorf("after waiting for the lock: the newest state cannot be fetched, so nothing is deployed (commit %s, loaded before the wait, may be older than what the run that held the lock deployed): %w",
		shortHash(before.Commit), err)
}

func describeNewest(n gitops.Newest) string {
	if n.IsTag {
		return "tag " + inert.Text(n.Ref)
	}
	return "branch " + inert.Text(n.Ref)
}

func describeCheckout(c *gitops.Checkout) string {
	if c.IsTag {
		return "tag " + inert.Text(c.Ref)
	}
	return "branch " + inert.Text(c.Ref)
}
