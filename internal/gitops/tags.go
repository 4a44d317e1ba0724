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

// LatestVersion picks the newest release among tags for a unit now at
// current. prefix is removed from each tag first (tags without it are
// ignored); a leading "v" is accepted either way. Tags that are not strict
// semantic versions are ignored, and so are prereleases unless current is
// one. level (patch, minor, major, none; empty means minor, anything else
// proposes nothing) limits how far from current the result may be. The
// result is written like current (with or without the leading "v"); ok is
// true only when it is newer than current.
// An empty current accepts any stable version; a current that is not a
// version gets no proposal.
func LatestVersion(tags []string, prefix, current, level string) (version string, ok bool) {
	if level == LevelNone {
		return current, false
	}
	var cur *semver.Version
	if current != "" {
		var err error
		if cur, err = semver.NewVersion(current); err != nil {
			return current, false
		}
	}
	var best *semver.Version
	bestText := ""
	for _, tag := range tags {
		text, found := strings.CutPrefix(tag, prefix)
		if !found || text == "" {
			continue
		}
		v, err := semver.StrictNewVersion(strings.TrimPrefix(text, "v"))
		if err != nil {
			continue
		}
		if v.Prerelease() != "" && (cur == nil || cur.Prerelease() == "") {
			continue
		}
		if cur != nil && !withinLevel(cur, v, level) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best, bestText = v, text
		}
	}
	if best == nil || (cur != nil && !best.GreaterThan(cur)) {
		return current, false
	}
	return styleLike(bestText, current), true
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
