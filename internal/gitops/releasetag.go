package gitops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// ErrTagExists is matched when a release tag's name is already taken by a
// tag at another commit: a release tag is never moved.
var ErrTagExists = errors.New("the tag exists at another commit (a release tag is never moved)")

// TagRepo is a repository release tags are created in: the state
// repository (the commit applied is in its checkout) or a unit's source
// (a URL). Tokens go where the rest of gearshift sends them: the state
// repository pushes with its clone's credential (or, a local checkout,
// to its origin with Auth.ForRepo), a source gets the token only when its
// host is one of Auth.Hosts.
type TagRepo struct {
	// Source is where the tags go, safe to show.
	Source string
	r      *remote
	// repo holds the commits to tag: the state's checkout, or a source's
	// fetch in memory.
	repo *git.Repository
	// local is set for a local state repository without an origin: its
	// tags are created in place.
	local bool
}

// StateTagRepo is the state repository of checkout c.
func StateTagRepo(c *Checkout, auth Auth) (*TagRepo, error) {
	if c == nil || c.repo == nil {
		return nil, errNotOpened
	}
	if c.remote != nil {
		return &TagRepo{Source: c.remote.url, r: c.remote, repo: c.repo}, nil
	}
	origin, err := c.repo.Remote("origin")
	if err != nil || len(origin.Config().URLs) == 0 {
		return &TagRepo{Source: c.Dir, repo: c.repo, local: true}, nil
	}
	r, err := newRemote(origin.Config().URLs[0], auth.ForRepo(c))
	if err != nil {
		return nil, err
	}
	return &TagRepo{Source: RedactURL(r.url), r: r, repo: c.repo}, nil
}

// SourceTagRepo is the repository at url (a unit's track.source).
func SourceTagRepo(url string, auth Auth) (*TagRepo, error) {
	r, err := newRemote(url, auth)
	if err != nil {
		return nil, err
	}
	repo, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return nil, err
	}
	return &TagRepo{Source: RedactURL(r.url), r: r, repo: repo}, nil
}

// Refs are a repository's tags and branches, each with the commit it
// names (an annotated tag's commit, not the tag object).
type Refs struct {
	Tags     map[string]string
	Branches map[string]string
}

// Refs lists the repository's tags and branches: one round trip.
func (t *TagRepo) Refs(ctx context.Context) (Refs, error) {
	out := Refs{Tags: map[string]string{}, Branches: map[string]string{}}
	var refs []*plumbing.Reference
	if t.local {
		iter, err := t.repo.References()
		if err != nil {
			return out, err
		}
		_ = iter.ForEach(func(r *plumbing.Reference) error {
			if r.Type() == plumbing.HashReference {
				refs = append(refs, r)
			}
			return nil
		})
		for _, r := range refs {
			if r.Name().IsTag() {
				if h, err := peel(t.repo, r.Hash()); err == nil {
					out.Tags[r.Name().Short()] = h.String()
				}
			} else if r.Name().IsBranch() {
				out.Branches[r.Name().Short()] = r.Hash().String()
			}
		}
		return out, nil
	}
	refs, err := t.r.list(ctx)
	if err != nil {
		return out, t.r.fail(err, "list the refs of %s", t.r.url)
	}
	peeled := map[string]string{}
	for _, r := range refs {
		name := r.Name().String()
		switch {
		case strings.HasSuffix(name, "^{}"):
			peeled[strings.TrimSuffix(strings.TrimPrefix(name, "refs/tags/"), "^{}")] = r.Hash().String()
		case r.Name().IsTag():
			out.Tags[r.Name().Short()] = r.Hash().String()
		case r.Name().IsBranch():
			out.Branches[r.Name().Short()] = r.Hash().String()
		}
	}
	for n, h := range peeled {
		out.Tags[n] = h
	}
	return out, nil
}

// CreateTag creates the annotated tag name at commit, signed by tagger
// with message, and pushes it without force: the remote refuses to move
// a tag that another run created meanwhile. from is the branch or tag of
// a source that names commit (it is fetched, one commit deep, to build
// the tag on); it is ignored for the state repository, whose checkout
// holds the commit applied.
func (t *TagRepo) CreateTag(ctx context.Context, name, commit, from, message string, tagger Author, now time.Time) error {
	tagRef := plumbing.NewTagReferenceName(name)
	if err := tagRef.Validate(); err != nil {
		return fmt.Errorf("tag %q: %w", name, err)
	}
	hash := plumbing.NewHash(commit)
	if _, err := t.repo.CommitObject(hash); err != nil && from != "" {
		if err := t.fetch(ctx, from); err != nil {
			return err
		}
	}
	if _, err := t.repo.CommitObject(hash); err != nil {
		return fmt.Errorf("tag %s: commit %s is not in %s", name, commit[:min(12, len(commit))], t.Source)
	}
	if old, err := t.repo.Storer.Reference(tagRef); err == nil {
		if h, err := peel(t.repo, old.Hash()); err != nil || h != hash {
			return fmt.Errorf("tag %s in %s: %w", name, t.Source, ErrTagExists)
		}
	}
	sig := tagger.signature(now)
	tag := &object.Tag{Name: name, Tagger: sig, Message: message, TargetType: plumbing.CommitObject, Target: hash}
	obj := t.repo.Storer.NewEncodedObject()
	if err := tag.Encode(obj); err != nil {
		return err
	}
	tagHash, err := t.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return err
	}
	if t.local {
		// Only if nobody created it meanwhile.
		if err := t.repo.Storer.CheckAndSetReference(plumbing.NewHashReference(tagRef, tagHash), nil); err != nil {
			return fmt.Errorf("tag %s in %s: %w", name, t.Source, err)
		}
		return nil
	}
	// The push sends a local ref of ours, so a checkout's own tags are
	// left alone: the new tag is pushed from a name nobody else uses.
	tmp := plumbing.ReferenceName("refs/gearshift-release/" + name)
	if err := t.repo.Storer.SetReference(plumbing.NewHashReference(tmp, tagHash)); err != nil {
		return err
	}
	defer t.repo.Storer.RemoveReference(tmp)
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	err = t.repo.PushContext(ctx, &git.PushOptions{
		RemoteName: "origin",
		RemoteURL:  t.r.url,
		RefSpecs:   []config.RefSpec{config.RefSpec(tmp.String() + ":" + tagRef.String())},
		Auth:       t.r.auth,
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case isConflict(err) || strings.Contains(err.Error(), "already exists"):
		return t.r.fail(fmt.Errorf("%w: %w", ErrTagExists, err), "push tag %s to %s", name, t.r.url)
	}
	return t.r.fail(err, "push tag %s to %s", name, t.r.url)
}

// fetch brings the commit that ref (a tag or a branch) names into memory.
func (t *TagRepo) fetch(ctx context.Context, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	if _, err := t.repo.Remote("origin"); err != nil {
		if _, err := t.repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{t.r.url}}); err != nil {
			return err
		}
	}
	var lastErr error
	for _, spec := range []string{"+refs/tags/" + ref + ":refs/gearshift-fetch/tags/" + ref, "+refs/heads/" + ref + ":refs/gearshift-fetch/heads/" + ref} {
		err := t.repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin",
			RefSpecs:   []config.RefSpec{config.RefSpec(spec)},
			Depth:      1,
			Auth:       t.r.auth,
			Tags:       git.NoTags,
		})
		if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil
		}
		lastErr = err
	}
	return t.r.fail(lastErr, "fetch %s from %s", ref, t.r.url)
}
