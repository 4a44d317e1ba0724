package state

import (
	"encoding/json"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
)

// perFile enables the fast path; tests turn it off to compare.
var perFile = true

// loadPerFile is the fast path of loading an environment. Evaluating every
// unit of an environment as one large struct grows super-linearly with the
// number of units; evaluating each file of units on its own against the
// rest of the package stays near-linear. It applies when every file that
// declares units declares nothing else, and no unit is declared in two
// files. Identifiers in a unit file resolve in the rest of the package
// (frameworks, environment), but not in other unit files: a state that
// needs that, or that has any error, is loaded by the whole-package path,
// which has CUE's exact semantics and gives the diagnostics. ok is false
// whenever the fast path does not apply or does not succeed.
func loadPerFile(cctx *cue.Context, sch cue.Value, root, name string, inst *build.Instance) (*Environment, bool) {
	if !perFile {
		return nil, false
	}
	var base, unitFiles []*ast.File
	for _, f := range inst.Files {
		if unitsOnly(f) {
			unitFiles = append(unitFiles, f)
		} else {
			base = append(base, f)
		}
	}
	if len(unitFiles) == 0 {
		return nil, false
	}
	bi := *inst
	bi.Files = base
	bi.BuildFiles = nil
	bv := cctx.BuildInstance(&bi)
	if bv.Err() != nil {
		return nil, false
	}
	bu := sch.Unify(bv)
	b, err := bu.MarshalJSON()
	if err != nil {
		return nil, false
	}
	env, diags := decodeEnvironment(root, name, bu, b)
	if len(diags) > 0 {
		return nil, false
	}
	if env.Units == nil {
		env.Units = map[string]*Unit{}
	}
	unitsSchema := bu.LookupPath(cue.ParsePath("units"))
	for _, f := range unitFiles {
		fv := cctx.BuildFile(f, cue.Scope(bv))
		if fv.Err() != nil {
			return nil, false
		}
		uv := unitsSchema.Unify(fv.LookupPath(cue.ParsePath("units")))
		b, err := uv.MarshalJSON()
		if err != nil {
			return nil, false
		}
		var units map[string]*Unit
		if err := json.Unmarshal(b, &units); err != nil {
			return nil, false
		}
		for n, u := range units {
			if _, dup := env.Units[n]; dup {
				return nil, false
			}
			u.Pos = positions(root, uv.LookupPath(cue.MakePath(cue.Str(n))), unitPaths(u))
			u.Pos[""] = u.Pos["version"]
			env.Units[n] = u
		}
	}
	return env, true
}

// unitsOnly reports whether a file declares nothing but named units:
// `units: name: {...}` or `units: {a: ..., b: ...}`. A pattern constraint
// (`units: [string]: {...}`), a comprehension or an embedding under units
// applies to other files' units too, so such a file belongs to the base.
func unitsOnly(f *ast.File) bool {
	n := 0
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.Package, *ast.ImportDecl, *ast.CommentGroup, *ast.Attribute:
		case *ast.Field:
			id, ok := d.Label.(*ast.Ident)
			if !ok || id.Name != "units" || !namedFields(d.Value) {
				return false
			}
			n++
		default:
			return false
		}
	}
	return n > 0
}

// namedFields reports whether v is a struct of plainly named fields.
func namedFields(v ast.Expr) bool {
	st, ok := v.(*ast.StructLit)
	if !ok {
		return false
	}
	for _, e := range st.Elts {
		switch e := e.(type) {
		case *ast.CommentGroup, *ast.Attribute:
		case *ast.Field:
			switch l := e.Label.(type) {
			case *ast.Ident:
				if strings.HasPrefix(l.Name, "_") || strings.HasPrefix(l.Name, "#") {
					return false
				}
			case *ast.BasicLit:
			default:
				return false
			}
		default:
			return false
		}
	}
	return true
}
