package state

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
)

// checkPackages reports the CUE files of environment name, and the shared
// files of environments/, whose package clause differs from the
// environment's package. CUE's loader leaves a shared file of another
// package out without a word (`package gearshfit` in frameworks.cue then
// reads as "unknown framework" at every unit), and reports two packages in
// one directory without a position. The environment's package is the one
// most of its own files declare (gearshift on a tie). Files are read
// through the guarded file system, like everything the loader reads.
func checkPackages(rfs *repoFS, name string) Diagnostics {
	type file struct {
		rel, pkg  string
		line, col int
	}
	var own, shared []file
	for _, dir := range []string{EnvironmentsDir + "/" + name, EnvironmentsDir} {
		entries, err := rfs.ReadDir(dir)
		if err != nil {
			// Reading the directory is the loader's to report.
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".cue") {
				continue
			}
			rel := path.Join(dir, e.Name())
			src, err := rfs.ReadFile(rel)
			if err != nil {
				continue
			}
			f, err := parser.ParseFile(rel, src, parser.PackageClauseOnly)
			if err != nil || f.PackageName() == "" {
				// Syntax errors are the loader's; a file without a package
				// clause is not part of any package.
				continue
			}
			fl := file{rel: rel, pkg: f.PackageName()}
			for _, d := range f.Decls {
				if pk, ok := d.(*ast.Package); ok && pk.Name != nil {
					fl.line, fl.col = pk.Name.Pos().Line(), pk.Name.Pos().Column()
					break
				}
			}
			if dir == EnvironmentsDir {
				shared = append(shared, fl)
			} else {
				own = append(own, fl)
			}
		}
	}
	count := map[string]int{}
	for _, f := range own {
		count[f.pkg]++
	}
	want, wantFile := "", ""
	for pkg, n := range count {
		if n > count[want] || (n == count[want] && (pkg == "gearshift" || want != "gearshift" && pkg < want)) {
			want = pkg
		}
	}
	if want == "" {
		return nil
	}
	for _, f := range own {
		if f.pkg == want {
			wantFile = f.rel
			break
		}
	}
	var diags Diagnostics
	for _, f := range own {
		if f.pkg != want {
			msg := fmt.Sprintf("package %s: want package %s, the package of %s (a file of another package is not loaded with it)", f.pkg, want, wantFile)
			diags = append(diags, Diagnostic{Pos: Pos{File: f.rel, Line: f.line, Col: f.col}, Msg: msg})
		}
	}
	for _, f := range shared {
		if f.pkg != want {
			// Worded the same for every environment, so it is reported once.
			msg := fmt.Sprintf("package %s: want package %s, the environments' package (a shared file of another package is left out of them)", f.pkg, want)
			diags = append(diags, Diagnostic{Pos: Pos{File: f.rel, Line: f.line, Col: f.col}, Msg: msg})
		}
	}
	sort.SliceStable(diags, func(i, j int) bool { return diags[i].Pos.File < diags[j].Pos.File })
	return diags
}
