package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/mod/modfile"
	"cuelang.org/go/mod/module"
)

// A state repository is untrusted input: whoever opens a pull request
// writes it, and gearshift loads it with tokens in its environment. The
// loader reads only files inside the repository, and only CUE:
//
//   - No symbolic link is followed to outside the repository root (resolved
//     with EvalSymlinks) or into its .git directory, and no absolute link is
//     followed. Relative links that stay inside the repository are allowed:
//     what they reach is already in the repository, readable by whoever
//     can read the repository, and monorepos use them to share one file
//     between environments. .git is excluded because a checkout keeps its
//     remote's credential in .git/config.
//   - CUE's file embedding (@extern(embed), @embed(file=...|glob=...)) is
//     refused: it turns any file, CUE or not, into a value that ends up in
//     plans, pull-request comments and status records.
//
// checkPaths enforces the first rule with Lstat on every path the loader
// reads for an environment, before the loader runs, so the message names
// the link; repoFS enforces it again inside the loader (load.Config.FS),
// for the paths only the loader knows (imports). The second rule is
// enforced twice too: checkPaths scans the files it checks (scanEmbeds),
// and checkEmbeds scans every file the loader parsed, imports included,
// before anything is evaluated. CUE itself cannot be told to leave
// embedding out (cuecontext.New always adds it in v0.17), but it reads
// embedded files through repoFS as well.

// checkPaths checks the paths the CUE loader reads to load environment
// name of the repository at root: cue.mod/ and everything in it (the
// module file and imported packages); every entry of the root, of
// environments/ and of environments/<name> (the loader opens them all, CUE
// files or not); and those directories themselves.
func checkPaths(root, name string) (Diagnostics, error) {
	g, err := newGuard(root)
	if err != nil {
		return nil, err
	}
	var diags Diagnostics
	add := func(d *Diagnostic) {
		if d != nil {
			diags = append(diags, *d)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "cue.mod")); err == nil {
		add(g.check("cue.mod"))
		if len(diags) == 0 {
			err := filepath.WalkDir(filepath.Join(root, "cue.mod"), func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, rerr := filepath.Rel(root, p)
				if rerr != nil {
					return rerr
				}
				add(g.checkEntry(filepath.ToSlash(rel), d.Type()))
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	// The loader opens every entry of these directories, not only the
	// .cue files, so every entry is checked; the .cue files are also
	// scanned for embedding.
	envDir := EnvironmentsDir + "/" + name
	for _, dir := range []string{".", EnvironmentsDir, envDir} {
		if dir != "." {
			if d := g.check(dir); d != nil {
				add(d)
				continue
			}
		}
		entries, err := readDir(filepath.Join(root, filepath.FromSlash(dir)))
		if err != nil {
			add(unreadable(dir, "directory", err))
			continue
		}
		for _, e := range entries {
			rel := path.Join(dir, e.Name())
			if d := g.checkEntry(rel, e.Type()); d != nil {
				add(d)
				continue
			}
			if strings.HasSuffix(e.Name(), ".cue") {
				// A directory named like a CUE file is read too: the
				// loader would skip it without a word.
				ds, err := scanEmbeds(root, rel)
				if err != nil {
					add(unreadable(rel, "file", err))
					continue
				}
				diags = append(diags, ds...)
			}
		}
	}
	return diags, nil
}

// scanEmbeds reports the embedding attributes of the file rel. Only a
// file that spells "@extern" or "@embed" somewhere is parsed; one that
// does not parse is left to the loader, which reports the syntax error.
func scanEmbeds(root, rel string) (Diagnostics, error) {
	abs := filepath.Join(root, filepath.FromSlash(rel))
	src, err := readFile(abs)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(src, []byte("@extern")) && !bytes.Contains(src, []byte("@embed")) {
		return nil, nil
	}
	f, err := parser.ParseFile(abs, src)
	if err != nil {
		return nil, nil
	}
	return embedsIn(root, f), nil
}

// readDir and readFile are how checkPaths and Discover read the
// repository; tests replace them to fail as an unreadable directory or
// file does (tests run as root, whom permissions do not stop).
var (
	readDir  = os.ReadDir
	readFile = os.ReadFile
)

// unreadable is the diagnostic for a directory or file of the state that
// cannot be read: named by its path in the repository, with the cause
// ("permission denied", "is a directory") but not the absolute path.
func unreadable(rel, what string, err error) *Diagnostic {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &Diagnostic{Pos: Pos{File: rel}, Msg: fmt.Sprintf("cannot read this %s: %v", what, err)}
}

// guard checks paths relative to a state root.
type guard struct {
	root string // absolute, as given
	real string // root with every symbolic link resolved
}

func newGuard(root string) (*guard, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	return &guard{root: root, real: real}, nil
}

// check checks the path rel (slash-separated, relative to the root).
func (g *guard) check(rel string) *Diagnostic {
	fi, err := os.Lstat(filepath.Join(g.root, filepath.FromSlash(rel)))
	if err != nil {
		return nil // the loader reports what is missing
	}
	return g.checkEntry(rel, fi.Mode().Type())
}

// checkEntry checks the path rel whose type (from Lstat) is typ: a regular
// file or a directory is fine, a symbolic link only when it is relative
// and resolves inside the repository outside .git, anything else (a
// device, a FIFO, a socket) never is.
func (g *guard) checkEntry(rel string, typ fs.FileMode) *Diagnostic {
	at := func(format string, args ...any) *Diagnostic {
		return &Diagnostic{Pos: Pos{File: rel}, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case typ.IsRegular(), typ.IsDir():
		return nil
	case typ&fs.ModeSymlink == 0:
		return at("not a regular file or directory (%s): refused", typ)
	}
	abs := filepath.Join(g.root, filepath.FromSlash(rel))
	link, err := os.Readlink(abs)
	if err != nil {
		return at("unreadable symbolic link: %v", err)
	}
	target, err := filepath.EvalSymlinks(abs)
	switch {
	case err != nil:
		return at("symbolic link to %s, which does not resolve: not followed", link)
	case !within(g.real, target):
		return at("symbolic link to %s, outside the repository: not followed", link)
	case within(filepath.Join(g.real, ".git"), target):
		return at("symbolic link to %s, inside .git: not followed", link)
	case filepath.IsAbs(link):
		return at("symbolic link to %s: an absolute link is not followed (only relative links inside the repository are)", link)
	}
	fi, err := os.Stat(target)
	if err != nil {
		return at("symbolic link to %s: %v", link, err)
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		return at("symbolic link to %s, not a regular file or directory: not followed", link)
	}
	return nil
}

// within reports whether path p is dir or below it. Both are clean.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// errRefused is the loader's error for a path the guard refuses.
var errRefused = errors.New("a symbolic link that leaves the repository, or a path inside .git: refused")

// repoFS is the file system the CUE loader reads a state repository
// through (load.Config.FS). It is an os.Root, so no path, however it is
// spelt and whatever links it crosses, reaches outside the root; and it
// refuses .git, directly or through an in-repository link.
type repoFS struct {
	g    *guard
	fsys fs.FS
}

func newRepoFS(root string) (*repoFS, *os.Root, error) {
	g, err := newGuard(root)
	if err != nil {
		return nil, nil, err
	}
	r, err := os.OpenRoot(g.real)
	if err != nil {
		return nil, nil, err
	}
	return &repoFS{g: g, fsys: r.FS()}, r, nil
}

func (r *repoFS) allow(op, name string) error {
	if name == ".git" || strings.HasPrefix(name, ".git/") {
		return &fs.PathError{Op: op, Path: name, Err: errRefused}
	}
	if target, err := filepath.EvalSymlinks(filepath.Join(r.g.real, filepath.FromSlash(name))); err == nil {
		if !within(r.g.real, target) || within(filepath.Join(r.g.real, ".git"), target) {
			return &fs.PathError{Op: op, Path: name, Err: errRefused}
		}
	}
	return nil
}

func (r *repoFS) Open(name string) (fs.File, error) {
	if err := r.allow("open", name); err != nil {
		return nil, err
	}
	return r.fsys.Open(name)
}

func (r *repoFS) Stat(name string) (fs.FileInfo, error) {
	if err := r.allow("stat", name); err != nil {
		return nil, err
	}
	return fs.Stat(r.fsys, name)
}

func (r *repoFS) ReadFile(name string) ([]byte, error) {
	if err := r.allow("open", name); err != nil {
		return nil, err
	}
	return fs.ReadFile(r.fsys, name)
}

func (r *repoFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := r.allow("open", name); err != nil {
		return nil, err
	}
	return fs.ReadDir(r.fsys, name)
}

// checkEmbeds refuses file embedding in every file of inst and of the
// packages it imports: a file attribute @extern(...) (embed is the only
// extern CUE has, and any future one reads outside the CUE files too) and
// any @embed attribute, at the attribute's position.
func checkEmbeds(root string, inst *build.Instance) Diagnostics {
	var diags Diagnostics
	seen := map[*build.Instance]bool{}
	var visit func(*build.Instance)
	visit = func(in *build.Instance) {
		if in == nil || seen[in] {
			return
		}
		seen[in] = true
		for _, f := range in.Files {
			diags = append(diags, embedsIn(root, f)...)
		}
		for _, imp := range in.Imports {
			visit(imp)
		}
	}
	visit(inst)
	return diags
}

// embedsIn reports the @extern and @embed attributes of f.
func embedsIn(root string, f *ast.File) Diagnostics {
	var diags Diagnostics
	ast.Walk(f, func(n ast.Node) bool {
		a, ok := n.(*ast.Attribute)
		if !ok {
			return true
		}
		switch key, _ := a.Split(); key {
		case "extern", "embed":
			diags = append(diags, Diagnostic{Pos: userPos(root, a.Pos()),
				Msg: fmt.Sprintf("file embedding (@%s) is refused: a state is read from its CUE files only", key)})
		}
		return true
	}, nil)
	return diags
}

// noRegistry is the loader's module registry: a state repository is
// self-contained, and loading it never reaches the network, so a
// dependency in cue.mod/module.cue is an error rather than a download.
type noRegistry struct{}

var errNoRegistry = errors.New("gearshift loads no CUE module from a registry: a state repository must be self-contained")

func (noRegistry) ModFile(context.Context, module.Version) (*modfile.File, error) {
	return nil, errNoRegistry
}

func (noRegistry) Fetch(context.Context, module.Version) (module.SourceLoc, error) {
	return module.SourceLoc{}, errNoRegistry
}

func (noRegistry) ModuleVersions(context.Context, string) ([]string, error) {
	return nil, errNoRegistry
}
