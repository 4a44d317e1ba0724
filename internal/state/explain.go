package state

import (
	"fmt"
	"strings"

	"cuelang.org/go/cue"
)

// explain rewrites two of CUE's messages into what the user wrote and what
// the schema wants, reading the user's own value (user: the state before
// the schema is unified with it):
//
//   - "conflicting values A and B (mismatched types ...)": CUE does not say
//     which operand is the user's, and a field with a default conflicts
//     once with the default and once with the constraint. All of a path's
//     conflicts become one "want a duration string such as 30d, got the
//     number 30".
//   - "incomplete value C" where the user wrote a type or a bound but no
//     value: "needs a concrete value", at the user's line.
//   - "incomplete value C" where the user wrote no value: the field is
//     required and missing. CUE's positions for it are the schema's (and,
//     through structure sharing, sometimes another unit's), so it is
//     reported at the closest parent the user wrote.
//   - "field not allowed": the field of the schema (sch) the name is
//     closest to, when it is a likely typo.
func explain(root string, sch, user cue.Value, ds Diagnostics) Diagnostics {
	if !user.Exists() {
		return ds
	}
	type group struct {
		idx   int
		got   string
		types []string
		alts  []string
	}
	groups := map[string]*group{}
	var out Diagnostics
	for _, d := range ds {
		switch {
		case strings.HasPrefix(d.format, "conflicting values %s and %s (mismatched types %s and %s)") && len(d.args) == 4:
			uv := user.LookupPath(makePath(splitPath(d.Path)))
			if !uv.Exists() {
				break
			}
			kind := uv.IncompleteKind().String()
			a := [4]string{}
			for i := range a {
				a[i] = fmt.Sprint(d.args[i])
			}
			got, want, wantType := a[0], a[1], a[3]
			switch kind {
			case a[2]:
			case a[3]:
				got, want, wantType = a[1], a[0], a[2]
			default:
				// The user's value is not one of the operands: leave CUE's words.
				out = append(out, d)
				continue
			}
			g, ok := groups[d.Path]
			if !ok {
				g = &group{idx: len(out), got: describeGot(kind, got)}
				groups[d.Path] = g
				out = append(out, d)
			}
			g.types = append(g.types, wantType)
			g.alts = append(g.alts, want)
			continue
		case d.Msg == "field not allowed" && d.Path != "" && sch.Exists():
			sels := splitPath(d.Path)
			d.Msg += didYouMean(sels[len(sels)-1], schemaFields(sch, sels[:len(sels)-1]))
		case strings.HasPrefix(d.format, "incomplete value") && d.Path != "":
			sels := splitPath(d.Path)
			if uv := user.LookupPath(makePath(sels)); uv.Exists() {
				// The user wrote a type or a bound, not a value (often in a
				// shared pattern): say so in the user's words.
				var alts []string
				if len(d.args) > 0 {
					alts = []string{fmt.Sprint(d.args[0])}
				}
				d.Msg = fmt.Sprintf("needs a concrete value, has only the constraint %s", uv)
				if w := describeWant([]string{uv.IncompleteKind().String()}, alts); w != "a "+fmt.Sprint(uv) {
					d.Msg += "; want " + w
				}
				d.format, d.args = "", nil
				if p := userPos(root, uv.Pos()); p.IsValid() {
					d.Pos = p
				}
				break
			}
			parent := sels[:len(sels)-1]
			d.Path = strings.Join(parent, ".")
			d.Msg = fmt.Sprintf("missing required field %q", sels[len(sels)-1])
			d.format, d.args = "", nil
			for i := len(parent); i >= 0; i-- {
				if p := writtenPos(root, user.LookupPath(makePath(parent[:i]))); p.IsValid() {
					d.Pos = p
					break
				}
			}
		}
		out = append(out, d)
	}
	for path, g := range groups {
		d := &out[g.idx]
		d.Msg = fmt.Sprintf("want %s, got %s", describeWant(g.types, g.alts), g.got)
		d.format, d.args = "", nil
		// CUE's summary of the disjunction says nothing more.
		for i := range out {
			if out[i].Path == path && strings.Contains(out[i].Msg, "errors in empty disjunction") {
				out[i].Msg = d.Msg
				out[i].Pos = d.Pos
			}
		}
	}
	return out
}

// splitPath splits a CUE path as Diagnostic.Path spells it. Labels with
// dots are rare in a state (unit names may not hold them).
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

// describeWant names what the schema accepts: the type of the operands
// that are not the user's, or a duration when one is a duration pattern.
func describeWant(types, alts []string) string {
	for _, a := range alts {
		if strings.Contains(a, "(ms|s|m|h|d|w)") {
			return "a duration string such as 30d"
		}
	}
	var words []string
	seen := map[string]bool{}
	for _, t := range types {
		w := t
		switch t {
		case "string":
			w = "a string"
		case "bool":
			w = "true or false"
		case "int":
			w = "a whole number"
		case "number", "float":
			w = "a number"
		case "list":
			w = "a list"
		case "struct":
			w = "a struct"
		}
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return strings.Join(words, " or ")
}

// describeGot names the user's value with its type.
func describeGot(kind, v string) string {
	switch kind {
	case "int", "float", "number":
		return "the number " + v
	case "string":
		return "the string " + v
	case "bool":
		return v
	case "list":
		return "a list"
	case "struct":
		return "a struct"
	}
	return v
}

// writtenPos is where the user wrote v: of the places v is written (a
// shared pattern and the unit itself), the one in the most specific file,
// so that a unit's mistake is reported at the unit and not at a pattern of
// environments/ that every unit shares.
func writtenPos(root string, v cue.Value) Pos {
	best := userPos(root, v.Pos())
	op, parts := v.Expr()
	if op != cue.AndOp {
		return best
	}
	for _, part := range parts {
		p := userPos(root, part.Pos())
		if p.IsValid() && (!best.IsValid() || strings.Count(p.File, "/") > strings.Count(best.File, "/")) {
			best = p
		}
	}
	return best
}
