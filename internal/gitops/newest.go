package gitops

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// ErrNoOrigin is matched by OriginURL's error when a local repository has
// no remote named origin to ask for newer commits.
var ErrNoOrigin = errors.New("the repository has no origin")

// Newest is where a ref stands on a remote now: what an apply that waited
// for the lock plans from.
type Newest struct {
	// Ref is the short name of the branch or tag ("main", "v1.3.0-rel").
	Ref string
	// IsTag says whether Ref is a tag.
	IsTag bool
	// Commit is the commit it designates (annotated tags peeled).
	Commit string
}

// FullRef is the full name of the ref ("refs/heads/main",
// "refs/tags/v1.3.0-rel"), which Open resolves without ambiguity.
func (n Newest) FullRef() string {
	if n.IsTag {
		return plumbing.NewTagReferenceName(n.Ref).String()
	}
	return plumbing.NewBranchReferenceName(n.Ref).String()
}

// OriginURL is the URL of a local repository's remote origin, as Open
// takes it (a path is made a file:// URL), or ErrNoOrigin. It may hold
// credentials in its userinfo: show it only through RedactURL. It is ""
// with a nil error for a checkout of a URL (its source is that URL) and
// for a directory that is not a repository.
func (c *Checkout) OriginURL() (string, error) {
	if c == nil || c.repo == nil || c.remote != nil {
		return "", nil
	}
	origin, err := c.repo.Remote("origin")
	if err != nil || len(origin.Config().URLs) == 0 || origin.Config().URLs[0] == "" {
		return "", fmt.Errorf("%s: %w", c.Source, ErrNoOrigin)
	}
	u := origin.Config().URLs[0]
	if isURL(u) {
		return u, nil
	}
	// A clone of a directory: git keeps its path, relative to the
	// working tree when it was given so.
	if !filepath.IsAbs(u) {
		u = filepath.Join(c.Dir, u)
	}
	return "file://" + filepath.ToSlash(u), nil
}

// Contains says whether commit is the checkout's commit or one of its
// ancestors in the local repository: a remote ref there is not newer than
// what is checked out (a local commit not pushed yet). It is false when
// the commit is not in the repository (a shallow clone of an older
// commit, or a newer commit not fetched) or cannot be walked to.
func (c *Checkout) Contains(commit string) bool {
	if c == nil || c.repo == nil || c.Commit == "" {
		return false
	}
	if commit == c.Commit {
		return true
	}
	h := plumbing.NewHash(commit)
	other, err := c.repo.CommitObject(h)
	if err != nil {
		return false
	}
	head, err := c.repo.CommitObject(plumbing.NewHash(c.Commit))
	if err != nil {
		return false
	}
	ok, err := other.IsAncestor(head)
	return err == nil && ok
}

// NewestRef asks the repository at url where a ref stands now, with one
// listing of its references (nothing is fetched): branch's tip when
// branch is given, else the newest tag (in state.CompareVersions order)
// that every one of tagPatterns matches (Go regular expressions, as a
// deployFrom tag pattern is), as serve chooses the tag it deploys. The
// token of auth goes to auth.Hosts and to url's own host (url is the
// state repository's), as Open sends it.
func NewestRef(ctx context.Context, url string, auth Auth, branch string, tagPatterns []string) (Newest, error) {
	r, err := newRemote(url, auth.withHost(remoteHost(url)))
	if err != nil {
		return Newest{}, err
	}
	refs, err := r.list(ctx)
	if err != nil {
		return Newest{}, r.fail(err, "list the refs of %s", r.url)
	}
	if branch != "" {
		t, err := resolveRemote(refs, plumbing.NewBranchReferenceName(strings.TrimPrefix(branch, "refs/heads/")).String())
		if err != nil {
			return Newest{}, fmt.Errorf("%s: %w", r.url, err)
		}
		return Newest{Ref: t.short(), Commit: t.commit.String()}, nil
	}
	if len(tagPatterns) == 0 {
		return Newest{}, errors.New("newest ref: neither a branch nor a tag pattern")
	}
	res := make([]*regexp.Regexp, len(tagPatterns))
	for i, p := range tagPatterns {
		if res[i], err = regexp.Compile(p); err != nil {
			return Newest{}, fmt.Errorf("tag pattern %q: %w", p, err)
		}
	}
	best := ""
	for _, ref := range refs {
		name := ref.Name()
		if !name.IsTag() || strings.HasSuffix(name.String(), "^{}") {
			continue
		}
		tag := name.Short()
		if matchesAll(res, tag) && (best == "" || state.CompareVersions(tag, best) > 0) {
			best = tag
		}
	}
	if best == "" {
		return Newest{}, fmt.Errorf("%w: %s has no tag matching %s", ErrRefNotFound, r.url, strings.Join(tagPatterns, " and "))
	}
	t, err := resolveRemote(refs, plumbing.NewTagReferenceName(best).String())
	if err != nil {
		return Newest{}, fmt.Errorf("%s: %w", r.url, err)
	}
	return Newest{Ref: best, IsTag: true, Commit: t.commit.String()}, nil
}

func matchesAll(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if !re.MatchString(s) {
			return false
		}
	}
	return true
}

// IsURL says whether a --repo argument names a remote (a scheme, or
// scp-like git@host:path) rather than a local path, as Open decides.
func IsURL(arg string) bool { return isURL(arg) }
