package gitops

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// list asks the remote for its references: one round trip, nothing cloned.
// Annotated tags appear twice, the second time as "<name>^{}" with the
// commit they point at.
func (r *remote) list(ctx context.Context) ([]*plumbing.Reference, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{r.url}})
	return rem.ListContext(ctx, &git.ListOptions{Auth: r.auth, PeelingOption: git.AppendPeeled})
}

// ListTags lists the tag names of the repository at url (without
// "refs/tags/"), sorted, without cloning it.
func ListTags(ctx context.Context, url string, auth Auth) ([]string, error) {
	r, err := newRemote(url, auth)
	if err != nil {
		return nil, err
	}
	refs, err := r.list(ctx)
	if err != nil {
		return nil, r.fail(err, "list tags of %s", r.url)
	}
	var tags []string
	for _, ref := range refs {
		name := ref.Name()
		if name.IsTag() && !strings.HasSuffix(name.String(), "^{}") {
			tags = append(tags, name.Short())
		}
	}
	sort.Strings(tags)
	return tags, nil
}

// TagLister lists the tags of remote repositories at most once per URL, so
// that a bump over many units sharing a few sources costs one round trip per
// source. It is safe for concurrent use; concurrent requests for one URL
// wait for a single listing. Errors are remembered too: a source that failed
// once fails for the rest of the run.
type TagLister struct {
	auth Auth
	mu   sync.Mutex
	memo map[string]*tagListing
}

type tagListing struct {
	done chan struct{}
	tags []string
	err  error
}

// NewTagLister returns a TagLister that authenticates with auth.
func NewTagLister(auth Auth) *TagLister {
	return &TagLister{auth: auth, memo: make(map[string]*tagListing)}
}

// Tags is ListTags, memoised by URL. The returned slice is shared: do not
// modify it.
func (l *TagLister) Tags(ctx context.Context, url string) ([]string, error) {
	l.mu.Lock()
	e, ok := l.memo[url]
	if !ok {
		e = &tagListing{done: make(chan struct{})}
		l.memo[url] = e
	}
	l.mu.Unlock()
	if !ok {
		e.tags, e.err = ListTags(ctx, url, l.auth)
		close(e.done)
	}
	select {
	case <-e.done:
		return e.tags, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Bump levels: how far from the current version LatestVersion may go.
const (
	LevelNone  = "none"  // never propose a new version
	LevelPatch = "patch" // same major.minor
	LevelMinor = "minor" // same major
	LevelMajor = "major" // any newer version
)

// Releases says which tags of a release source are releases, and how a
// release is written as a version (a unit's track, a framework's
// tagPrefix).
type Releases struct {
	// Prefix is removed from each tag; tags without it are not releases.
	Prefix string
	// Pattern, when set, must match the rest of the tag as a whole; its
	// version group orders the releases and the rest of the tag is the
	// version, written as it is. Without it, the rest of the tag must be
	// a semantic version, written with or without "v" like the current
	// one.
	Pattern *state.TagPattern
}

// LatestVersion picks the newest release among tags for a unit now at
// current, in state.CompareVersions order. level (patch, minor, major,
// none; empty means minor, anything else proposes nothing) limits how far
// from current the result may be: patch and minor need semantic versions,
// major takes any newer release. Prereleases are skipped unless current is
// one. ok is true only when the result is newer than current.
//
// Without a pattern, tags that are not strict semantic versions are
// ignored and the result is written like current (with or without the
// leading "v"). With one, current's version group decides: a semantic
// version keeps the semantic rules above, anything else is ordered by the
// numeric-aware order and only level major (or none) proposes. Releases
// whose version groups compare equal are told apart by the whole tag (a
// later date after the commit hash wins).
//
// An empty current accepts any stable version; a current that is not a
// version (or does not match the pattern) gets no proposal.
func LatestVersion(tags []string, r Releases, current, level string) (version string, ok bool) {
	if level == LevelNone {
		return current, false
	}
	// cur is current's semantic version, nil when it has none; curPart
	// is what orders it.
	var cur *semver.Version
	curPart := current
	if current != "" {
		if r.Pattern != nil {
			part, ok := r.Pattern.Version(current)
			if !ok {
				return current, false
			}
			curPart = part
			cur, _ = state.ParseVersion(part)
		} else {
			var err error
			if cur, err = semver.NewVersion(current); err != nil {
				return current, false
			}
		}
		if cur == nil && level != LevelMajor {
			return current, false // patch and minor need a semantic version
		}
	}
	semantic := cur != nil || current == "" && r.Pattern == nil
	best, bestPart := "", ""
	for _, tag := range tags {
		text, found := strings.CutPrefix(tag, r.Prefix)
		if !found || text == "" {
			continue
		}
		part := text
		if r.Pattern != nil {
			if part, found = r.Pattern.Version(text); !found {
				continue
			}
		}
		v, err := state.ParseVersion(part)
		switch {
		case semantic && err != nil:
			continue
		case err == nil && v.Prerelease() != "" && (cur == nil || cur.Prerelease() == ""):
			continue
		case cur != nil && !withinLevel(cur, v, level):
			continue
		}
		if best != "" && r.compare(part, text, bestPart, best) <= 0 {
			continue
		}
		best, bestPart = text, part
	}
	if best == "" || current != "" && r.compare(bestPart, best, curPart, current) <= 0 {
		return current, false
	}
	// Without a pattern the tag is the version, and current may be a
	// partial one ("1.1", read leniently as 1.1.0): then only semantic
	// precedence says what is newer, never the text. (With a pattern, a
	// later tag of the same version is newer: its whole text decides.)
	if bv, err := state.ParseVersion(bestPart); r.Pattern == nil && cur != nil && err == nil && bv.Compare(cur) <= 0 {
		return current, false
	}
	if r.Pattern != nil {
		return best, true
	}
	return styleLike(best, current), true
}

// compare orders two releases, each given by the part that orders it and
// its whole text: by the parts, and with a pattern, two equal parts by the
// whole texts (one version tagged twice: the later date wins).
func (r Releases) compare(aPart, a, bPart, b string) int {
	c := state.CompareVersions(aPart, bPart)
	if c == 0 && r.Pattern != nil {
		c = state.CompareVersions(a, b)
	}
	return c
}

func withinLevel(cur, v *semver.Version, level string) bool {
	switch level {
	case LevelPatch:
		return v.Major() == cur.Major() && v.Minor() == cur.Minor()
	case LevelMinor, "":
		return v.Major() == cur.Major()
	case LevelMajor:
		return true
	}
	return false // an unknown level proposes nothing
}

// styleLike writes version with a leading "v" exactly when current has one,
// so that a bump does not change how the state repo writes versions.
func styleLike(version, current string) string {
	version = strings.TrimPrefix(version, "v")
	if strings.HasPrefix(current, "v") {
		return "v" + version
	}
	return version
}
