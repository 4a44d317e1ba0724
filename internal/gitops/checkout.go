package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

var (
	// ErrNotRepository is matched by Open's error when a local path is not
	// the root of a git repository.
	ErrNotRepository = errors.New("not a git repository")
	// ErrRefNotFound is matched when a branch or tag does not exist.
	ErrRefNotFound = errors.New("ref not found")
	// ErrNoCommit is matched by Open's error when a local repository has
	// no commit yet (git init, files, no commit): its files can be read,
	// but there is no commit to deploy.
	ErrNoCommit = errors.New("the repository has no commit yet")
)

// Checkout is the state repo at one commit, on disk.
type Checkout struct {
	// Dir is the working tree: the local path as given (made absolute), or
	// the cache directory a URL was cloned into.
	Dir string
	// Commit is the hash of the commit checked out.
	Commit string
	// Ref is the short name of the branch or tag the commit was taken from
	// ("main", "v1.2.0-rel"), or a full name ("refs/pull/7/merge") that is
	// neither. It is empty for a detached local checkout opened without a ref.
	Ref string
	// IsTag says whether Ref is a tag.
	IsTag bool
	// Source is where the checkout came from, safe to show: the URL without
	// credentials, or the absolute local path.
	Source string

	repo *git.Repository
	// host is the state repository's host (host or host:port; empty for
	// a local repository without an origin): Open lets the token go there,
	// and Auth.ForRepo lets the rest of the run do the same.
	host string
	// remote is what a URL was cloned from, with the credential the clone
	// used (the URL's userinfo, or the token): a push goes back there
	// with the same credential. Nil for a local repository.
	remote *remote
}

// Open makes the state repo named by repoArg available on disk.
//
// A local path is used as-is: it must be the root of a git repository, and
// the checkout reports its HEAD commit and branch. When ref is given it is
// resolved in the repository and must be the commit that is checked out,
// because the files in Dir are what gearshift will deploy.
//
// A URL is cloned shallowly (depth 1, that branch or tag only) into
// cacheDir/<hash of URL>/<ref>; later runs fetch the ref and hard-reset the
// working tree to it (removing untracked files), so the directory always
// holds exactly the remote's commit. When the remote's commit is already in
// the cache nothing is fetched. A cache that cannot be updated is removed and
// cloned again. An empty ref means the remote's default branch.
//
// The token of auth goes to auth.Hosts and to the state repository's own
// host; a token in the URL's userinfo to that URL only. Neither is written
// to the cache's .git/config.
func Open(ctx context.Context, repoArg, ref, cacheDir string, auth Auth) (*Checkout, error) {
	if isURL(repoArg) {
		return openRemote(ctx, repoArg, ref, cacheDir, auth)
	}
	return openLocal(repoArg, ref)
}

func openLocal(path, ref string) (*Checkout, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("open %s: %w", abs, ErrNotRepository)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	head, err := repo.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, fmt.Errorf("open %s: %w", abs, ErrNoCommit)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: HEAD: %w", abs, err)
	}
	c := &Checkout{Dir: abs, Commit: head.Hash().String(), Source: abs, repo: repo}
	if origin, err := repo.Remote("origin"); err == nil && len(origin.Config().URLs) > 0 {
		c.host = remoteHost(origin.Config().URLs[0])
	}
	if head.Name().IsBranch() {
		c.Ref = head.Name().Short()
	}
	if ref == "" {
		return c, nil
	}
	t, err := resolveLocal(repo, ref)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	if t.commit != head.Hash() {
		return nil, fmt.Errorf("open %s: ref %s is at %s but the working tree is at %s: check %s out first",
			abs, ref, t.commit, head.Hash(), ref)
	}
	c.Ref, c.IsTag = t.short(), t.name.IsTag()
	return c, nil
}

// Uncommitted lists the files of a local repository's working tree that
// differ from the commit checked out (modified, added, deleted, or
// untracked and not ignored), as slash-separated paths relative to Dir,
// sorted. It is nil for a clone of a URL (its working tree is reset to the
// commit) and for a directory that is not a repository.
func (c *Checkout) Uncommitted() ([]string, error) {
	if c == nil || c.repo == nil || c.remote != nil {
		return nil, nil
	}
	wt, err := c.repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("%s: worktree: %w", c.Source, err)
	}
	st, err := wt.Status()
	if err != nil {
		return nil, fmt.Errorf("%s: status: %w", c.Source, err)
	}
	var paths []string
	for p, s := range st {
		if s.Worktree != git.Unmodified || s.Staging != git.Unmodified {
			paths = append(paths, filepath.ToSlash(p))
		}
	}
	sort.Strings(paths)
	return paths, nil
}

// target is a ref resolved to the commit it designates.
type target struct {
	name   plumbing.ReferenceName // refs/heads/main, refs/tags/v1.0.0
	commit plumbing.Hash          // the commit, annotated tags peeled
}

func (t target) short() string {
	if t.name.IsBranch() || t.name.IsTag() {
		return t.name.Short()
	}
	return t.name.String()
}

// candidates are the full names a short ref may stand for, branches first.
func candidates(ref string) []plumbing.ReferenceName {
	if len(ref) > 5 && ref[:5] == "refs/" {
		return []plumbing.ReferenceName{plumbing.ReferenceName(ref)}
	}
	return []plumbing.ReferenceName{plumbing.NewBranchReferenceName(ref), plumbing.NewTagReferenceName(ref)}
}

// pick chooses among the candidates that exist; a name that is both a branch
// and a tag is refused because apply's decision depends on which it is.
func pick(ref string, found []target) (target, error) {
	switch len(found) {
	case 0:
		return target{}, fmt.Errorf("%w: %s", ErrRefNotFound, ref)
	case 1:
		return found[0], nil
	}
	return target{}, fmt.Errorf("ref %s is both a branch and a tag: pass refs/heads/%s or refs/tags/%s", ref, ref, ref)
}

func resolveLocal(repo *git.Repository, ref string) (target, error) {
	var found []target
	for _, name := range candidates(ref) {
		r, err := repo.Reference(name, true)
		if errors.Is(err, plumbing.ErrReferenceNotFound) && name.IsBranch() {
			// A CI checkout may only have the remote-tracking branch.
			r, err = repo.Reference(plumbing.NewRemoteReferenceName("origin", name.Short()), true)
		}
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			continue
		}
		if err != nil {
			return target{}, err
		}
		commit, err := peel(repo, r.Hash())
		if err != nil {
			return target{}, fmt.Errorf("ref %s: %w", ref, err)
		}
		found = append(found, target{name: name, commit: commit})
	}
	return pick(ref, found)
}

// peel follows annotated tags to the commit they point at.
func peel(repo *git.Repository, h plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		tag, err := repo.TagObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return h, nil
		}
		if err != nil {
			return h, err
		}
		h = tag.Target
	}
	return h, errors.New("annotated tags nested too deeply")
}

// resolveRemote finds ref among the references a remote advertised (as
// listed with AppendPeeled). An empty ref is the remote's HEAD branch.
func resolveRemote(refs []*plumbing.Reference, ref string) (target, error) {
	byName := make(map[plumbing.ReferenceName]*plumbing.Reference, len(refs))
	for _, r := range refs {
		byName[r.Name()] = r
	}
	commitOf := func(name plumbing.ReferenceName) plumbing.Hash {
		if p, ok := byName[name+"^{}"]; ok {
			return p.Hash()
		}
		return byName[name].Hash()
	}
	if ref == "" {
		head, ok := byName[plumbing.HEAD]
		if !ok {
			return target{}, fmt.Errorf("%w: the remote has no HEAD", ErrRefNotFound)
		}
		if head.Type() == plumbing.SymbolicReference {
			if _, ok := byName[head.Target()]; ok {
				return target{name: head.Target(), commit: commitOf(head.Target())}, nil
			}
		}
		return target{}, fmt.Errorf("%w: the remote's default branch is unknown, give a ref", ErrRefNotFound)
	}
	var found []target
	for _, name := range candidates(ref) {
		if r, ok := byName[name]; ok && r.Type() == plumbing.HashReference {
			found = append(found, target{name: name, commit: commitOf(name)})
		}
	}
	return pick(ref, found)
}

// cacheLocks serialises Opens of one cache directory within the process.
var cacheLocks sync.Map // dir -> *sync.Mutex

func openRemote(ctx context.Context, rawURL, ref, cacheDir string, auth Auth) (*Checkout, error) {
	host := remoteHost(rawURL)
	r, err := newRemote(rawURL, auth.withHost(host))
	if err != nil {
		return nil, err
	}
	if cacheDir == "" {
		return nil, errors.New("open: a cache directory is needed to clone " + r.url)
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()

	refs, err := r.list(ctx)
	if err != nil {
		return nil, r.fail(err, "open %s", r.url)
	}
	t, err := resolveRemote(refs, ref)
	if err != nil {
		return nil, r.fail(err, "open %s", r.url)
	}
	dir := filepath.Join(cacheDir, cacheKey(r.url), refKey(t.name))
	mu, _ := cacheLocks.LoadOrStore(dir, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	repo, err := refreshCache(ctx, dir, r, t)
	if err != nil && !errors.Is(err, ErrAuth) && ctx.Err() == nil {
		// The cache is disposable: start again from a fresh clone.
		repo, err = cloneCache(ctx, dir, r, t)
	}
	if err != nil {
		return nil, err
	}
	head, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("open %s: HEAD: %w", r.url, err)
	}
	return &Checkout{
		Dir:    dir,
		Commit: head.Hash().String(),
		Ref:    t.short(),
		IsTag:  t.name.IsTag(),
		Source: r.url,
		repo:   repo,
		host:   host,
		remote: r,
	}, nil
}

// remoteHost is the host (with its port, if given) of an http(s) URL, the
// only kind a token is sent to; "" for anything else.
func remoteHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return ""
	}
	return u.Host
}

func cacheKey(cleanURL string) string {
	sum := sha256.Sum256([]byte(cleanURL))
	return hex.EncodeToString(sum[:8])
}

var unsafeRefChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// refKey names a ref's directory readably, with a hash so that two refs
// that sanitise alike ("a/b" and "a_b") do not share it.
func refKey(name plumbing.ReferenceName) string {
	sum := sha256.Sum256([]byte(name))
	kind := "ref"
	switch {
	case name.IsBranch():
		kind = "branch"
	case name.IsTag():
		kind = "tag"
	}
	short := unsafeRefChars.ReplaceAllString(name.Short(), "_")
	if len(short) > 64 {
		short = short[:64]
	}
	return kind + "-" + short + "-" + hex.EncodeToString(sum[:4])
}

// localName is where a fetched remote ref is kept in the cache.
func localName(name plumbing.ReferenceName) plumbing.ReferenceName {
	if name.IsBranch() {
		return plumbing.NewRemoteReferenceName("origin", name.Short())
	}
	return name
}

// refreshCache brings an existing cache to t's commit.
func refreshCache(ctx context.Context, dir string, r *remote, t target) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return nil, err
	}
	commit := t.commit
	if _, err := repo.CommitObject(commit); err != nil {
		spec := config.RefSpec("+" + t.name.String() + ":" + localName(t.name).String())
		err := repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin",
			RemoteURL:  r.url,
			RefSpecs:   []config.RefSpec{spec},
			Depth:      1,
			Auth:       r.auth,
			Tags:       git.NoTags,
			Force:      true,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, r.fail(err, "fetch %s from %s", t.short(), r.url)
		}
		// The ref may have moved since it was listed: take what was fetched.
		fetched, err := repo.Reference(localName(t.name), true)
		if err != nil {
			return nil, err
		}
		if commit, err = peel(repo, fetched.Hash()); err != nil {
			return nil, err
		}
	}
	if err := checkoutCommit(repo, t.name, commit); err != nil {
		return nil, err
	}
	return repo, nil
}

// checkoutCommit points HEAD at commit (through a local branch named like
// the remote one, or detached for a tag) and makes the working tree match
// it exactly.
func checkoutCommit(repo *git.Repository, name plumbing.ReferenceName, commit plumbing.Hash) error {
	head := plumbing.NewHashReference(plumbing.HEAD, commit)
	if name.IsBranch() {
		if err := repo.Storer.SetReference(plumbing.NewHashReference(name, commit)); err != nil {
			return err
		}
		head = plumbing.NewSymbolicReference(plumbing.HEAD, name)
	}
	if err := repo.Storer.SetReference(head); err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.Reset(&git.ResetOptions{Commit: commit, Mode: git.HardReset}); err != nil {
		return err
	}
	return wt.Clean(&git.CleanOptions{Dir: true})
}

// cloneCache clones t into dir, replacing whatever is there. The clone is
// made beside dir and renamed into place, so that an interrupted clone
// never leaves a half-made cache behind.
func cloneCache(ctx context.Context, dir string, r *remote, t target) (*git.Repository, error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, ".clone-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	_, err = git.PlainCloneContext(ctx, tmp, false, &git.CloneOptions{
		URL:           r.url,
		Auth:          r.auth,
		ReferenceName: t.name,
		SingleBranch:  true,
		Depth:         1,
		Tags:          git.NoTags,
	})
	if err != nil {
		return nil, r.fail(err, "clone %s (%s)", r.url, t.short())
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return git.PlainOpen(dir)
}
