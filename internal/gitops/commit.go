package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ErrNoChanges is matched by CommitBranch's error when the files are already
// as given: there is nothing to commit.
var ErrNoChanges = errors.New("no changes to commit")

var errNotOpened = errors.New("the checkout was not made by gitops.Open")

// Author is who a commit is made by. The zero value stands for gearshift.
type Author struct {
	Name  string
	Email string
}

func (a Author) signature(now time.Time) object.Signature {
	if a.Name == "" {
		a.Name = "gearshift"
	}
	if a.Email == "" {
		a.Email = "gearshift@localhost"
	}
	return object.Signature{Name: a.Name, Email: a.Email, When: now}
}

// CommitBranch commits files (slash-separated paths relative to the
// repository root -> content; a nil content deletes the file) on top of the
// checkout's commit, and points branch at the new commit, creating it or
// moving it wherever it was. The commit is built from objects: the working
// tree, the index and HEAD are left alone, so the caller may have edited
// the files in Dir or not. It returns the new commit's hash, or ErrNoChanges.
func CommitBranch(ctx context.Context, c *Checkout, branch, message string, files map[string][]byte, author Author) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if c == nil || c.repo == nil {
		return "", errNotOpened
	}
	name := plumbing.NewBranchReferenceName(branch)
	if err := name.Validate(); err != nil || branch == "" {
		return "", fmt.Errorf("branch name %q is not valid", branch)
	}
	if head, err := c.repo.Storer.Reference(plumbing.HEAD); err == nil &&
		head.Type() == plumbing.SymbolicReference && head.Target() == name {
		return "", fmt.Errorf("commit on %s: the branch is checked out in %s", branch, c.Dir)
	}
	base, err := c.repo.CommitObject(plumbing.NewHash(c.Commit))
	if err != nil {
		return "", fmt.Errorf("commit on %s: base commit %s: %w", branch, c.Commit, err)
	}
	commit, err := commitFiles(c.repo.Storer, base, files, message, author)
	if err != nil {
		return "", fmt.Errorf("commit on %s: %w", branch, err)
	}
	if same, ok := sameChange(c.repo, name, base.Hash, commit); ok {
		// The branch already holds this change on this base: keep its
		// commit, so that pushing it again sends nothing.
		return same.String(), nil
	}
	if err := c.repo.Storer.SetReference(plumbing.NewHashReference(name, commit)); err != nil {
		return "", fmt.Errorf("commit on %s: %w", branch, err)
	}
	return commit.String(), nil
}

// sameChange reports the commit branch points at when it has the same
// parent and tree as commit.
func sameChange(repo *git.Repository, branch plumbing.ReferenceName, parent, commit plumbing.Hash) (plumbing.Hash, bool) {
	ref, err := repo.Storer.Reference(branch)
	if err != nil {
		return plumbing.ZeroHash, false
	}
	old, err1 := repo.CommitObject(ref.Hash())
	cur, err2 := repo.CommitObject(commit)
	if err1 != nil || err2 != nil || len(old.ParentHashes) != 1 || old.ParentHashes[0] != parent || old.TreeHash != cur.TreeHash {
		return plumbing.ZeroHash, false
	}
	return old.Hash, true
}

// Push sends branch of the checkout to the same branch of its origin remote.
// Without force the remote branch must be an ancestor of the local one.
func Push(ctx context.Context, c *Checkout, branch string, force bool, auth Auth) error {
	return PushBranches(ctx, c, []string{branch}, force, auth)
}

// PushBranches sends several branches in one push: one round trip and one
// walk of the objects to send, however many branches there are.
//
// A checkout cloned from a URL pushes to that URL with the credential the
// clone used (a token in the URL's userinfo included); auth is not
// consulted. A local repository pushes to its origin with auth, whose
// token may go to the origin's host.
func PushBranches(ctx context.Context, c *Checkout, branches []string, force bool, auth Auth) error {
	if len(branches) == 0 {
		return nil
	}
	branch := strings.Join(branches, ", ")
	if c == nil || c.repo == nil {
		return errNotOpened
	}
	r := c.remote
	if r == nil {
		origin, err := c.repo.Remote("origin")
		if err != nil || len(origin.Config().URLs) == 0 {
			return fmt.Errorf("push %s: the repository in %s has no origin remote", branch, c.Dir)
		}
		if r, err = newRemote(origin.Config().URLs[0], auth.ForRepo(c)); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	specs := make([]config.RefSpec, 0, len(branches))
	for _, b := range branches {
		spec := "refs/heads/" + b + ":refs/heads/" + b
		if force {
			spec = "+" + spec
		}
		specs = append(specs, config.RefSpec(spec))
	}
	err := c.repo.PushContext(ctx, &git.PushOptions{
		RemoteName: "origin",
		RemoteURL:  r.url,
		RefSpecs:   specs,
		Auth:       r.auth,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case !force && errors.Is(err, plumbing.ErrObjectNotFound):
		// A shallow checkout cannot walk far enough to prove a fast-forward.
		err = errors.New("non-fast-forward update: the remote branch has commits this checkout does not have")
	}
	return r.fail(err, "push %s to %s", branch, r.url)
}

// commitFiles writes a commit whose parent is base (nil for an orphan) and
// whose tree is base's with files applied. It returns ErrNoChanges when the
// tree would not change.
func commitFiles(s storer.EncodedObjectStorer, base *object.Commit, files map[string][]byte, message string, author Author) (plumbing.Hash, error) {
	changes, err := checkPaths(files)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	var baseTree *object.Tree
	var parents []plumbing.Hash
	if base != nil {
		if baseTree, err = base.Tree(); err != nil {
			return plumbing.ZeroHash, err
		}
		parents = []plumbing.Hash{base.Hash}
	}
	tree, _, err := writeTree(s, baseTree, changes)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if baseTree != nil && tree == baseTree.Hash {
		return plumbing.ZeroHash, ErrNoChanges
	}
	sig := author.signature(time.Now())
	commit := &object.Commit{
		Author:       sig,
		Committer:    sig,
		Message:      message,
		TreeHash:     tree,
		ParentHashes: parents,
	}
	obj := s.NewEncodedObject()
	if err := commit.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// checkPaths refuses paths that could escape the repository, touch .git, or
// mean both a file and a directory.
func checkPaths(files map[string][]byte) (map[string][]byte, error) {
	for p := range files {
		if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
			return nil, fmt.Errorf("path %q is not a relative slash-separated path", p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.EqualFold(seg, ".git") {
				return nil, fmt.Errorf("path %q is not allowed in a commit", p)
			}
		}
		for dir := p; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if _, ok := files[dir]; ok {
				return nil, fmt.Errorf("path %q is both a file and a directory", dir)
			}
		}
	}
	return files, nil
}

// writeTree stores base with changes applied (path relative to this tree ->
// content, nil deletes) and returns its hash; empty is true when nothing is
// left in it. The root tree is written even when empty.
func writeTree(s storer.EncodedObjectStorer, base *object.Tree, changes map[string][]byte) (h plumbing.Hash, empty bool, err error) {
	entries := make(map[string]object.TreeEntry)
	if base != nil {
		for _, e := range base.Entries {
			entries[e.Name] = e
		}
	}
	subdirs := make(map[string]map[string][]byte)
	for p, data := range changes {
		dir, rest, nested := strings.Cut(p, "/")
		if nested {
			if subdirs[dir] == nil {
				subdirs[dir] = make(map[string][]byte)
			}
			subdirs[dir][rest] = data
			continue
		}
		if data == nil {
			delete(entries, p)
			continue
		}
		blob, err := writeBlob(s, data)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		mode := filemode.Regular
		if old, ok := entries[p]; ok && old.Mode == filemode.Executable {
			mode = old.Mode
		}
		entries[p] = object.TreeEntry{Name: p, Mode: mode, Hash: blob}
	}
	for dir, sub := range subdirs {
		var subBase *object.Tree
		if old, ok := entries[dir]; ok && old.Mode == filemode.Dir {
			if subBase, err = object.GetTree(s, old.Hash); err != nil {
				return plumbing.ZeroHash, false, err
			}
		}
		h, empty, err := writeTree(s, subBase, sub)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if empty {
			delete(entries, dir)
		} else {
			entries[dir] = object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h}
		}
	}
	tree := &object.Tree{Entries: make([]object.TreeEntry, 0, len(entries))}
	for _, e := range entries {
		tree.Entries = append(tree.Entries, e)
	}
	sort.Sort(object.TreeEntrySorter(tree.Entries))
	obj := s.NewEncodedObject()
	if err := tree.Encode(obj); err != nil {
		return plumbing.ZeroHash, false, err
	}
	h, err = s.SetEncodedObject(obj)
	return h, len(tree.Entries) == 0, err
}

func writeBlob(s storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := bytes.NewReader(data).WriteTo(w); err != nil {
		w.Close()
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// readTree returns every file of tree (path -> content).
func readTree(tree *object.Tree) (map[string][]byte, error) {
	files := make(map[string][]byte)
	err := tree.Files().ForEach(func(f *object.File) error {
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		files[f.Name] = buf.Bytes()
		return nil
	})
	return files, err
}
