package state

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// LiteralEdit replaces one string literal of a CUE file: the value of the
// field Label written at Line:Col (as recorded by Load in Positions). Old,
// when not empty, is the value the literal must hold, so that an edit made
// from a stale load, or a position that names another literal, is refused
// rather than applied to the wrong bytes.
type LiteralEdit struct {
	Line, Col int
	// Label is the field the literal is the value of ("version", "latest",
	// "gearframe"); empty accepts any field.
	Label string
	Old   string
	New   string
}

// EditLiterals returns src (the content of the CUE file name) with each
// edit's string literal replaced by New, quoted, and every other byte left
// as it was. Formatting the file with cue/format would re-align unrelated
// fields; a bump pull request must show a one-line diff.
//
// An edit is refused, with an error naming name:line:col, when the value
// there is not a plain double-quoted string literal (a reference, an
// interpolation, a multi-line or raw string, a disjunction), when it is not
// the value of the field Label, or when it does not hold Old. Edits are
// applied from the end of the file backwards so that the offsets of the
// earlier ones stay valid; two edits of one literal are refused.
func EditLiterals(name string, src []byte, edits []LiteralEdit) ([]byte, error) {
	if len(edits) == 0 {
		return src, nil
	}
	f, err := parser.ParseFile(name, src, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	index := literalIndex(f)
	type span struct {
		start, end int
		text       string
	}
	spans := make([]span, 0, len(edits))
	for _, ed := range edits {
		at := fmt.Sprintf("%s:%d:%d", name, ed.Line, ed.Col)
		if !utf8.ValidString(ed.New) {
			return nil, fmt.Errorf("%s: the new value %q is not valid UTF-8", at, ed.New)
		}
		hit, ok := index[[2]int{ed.Line, ed.Col}]
		if !ok {
			return nil, fmt.Errorf("%s: no field value starts here: gearshift only edits values written as string literals", at)
		}
		if ed.Label != "" && hit.label != ed.Label {
			if hit.label == "" {
				return nil, fmt.Errorf("%s: the value here is not the value of field %s", at, ed.Label)
			}
			return nil, fmt.Errorf("%s: the value here belongs to field %s, not %s", at, hit.label, ed.Label)
		}
		lit, ok := hit.expr.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return nil, fmt.Errorf("%s: the value of %s is %s, not a string literal: change it by hand", at, hit.label, describe(hit.expr))
		}
		if !plainString(lit.Value) {
			return nil, fmt.Errorf("%s: the value of %s is a raw, multi-line or bytes literal: change it by hand", at, hit.label)
		}
		old, err := literal.Unquote(lit.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if ed.Old != "" && old != ed.Old {
			return nil, fmt.Errorf("%s: %s is %q, not %q: the file changed since it was read", at, hit.label, old, ed.Old)
		}
		spans = append(spans, span{start: lit.Pos().Offset(), end: lit.End().Offset(), text: literal.String.Quote(ed.New)})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start > spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].end > spans[i-1].start {
			return nil, fmt.Errorf("%s: two edits of the literal at offset %d", name, spans[i].start)
		}
	}
	out := append([]byte(nil), src...)
	for _, s := range spans {
		if s.start < 0 || s.end > len(out) || s.start > s.end {
			return nil, fmt.Errorf("%s: literal at offset %d is out of the file", name, s.start)
		}
		out = append(out[:s.start:s.start], append([]byte(s.text), out[s.end:]...)...)
	}
	// The result must still be CUE; anything else is a defect here.
	if _, err := parser.ParseFile(name, out, parser.ParseComments); err != nil {
		return nil, fmt.Errorf("%s: the edit would not parse: %w", name, err)
	}
	return out, nil
}

// fieldValue is the value expression of a field, by the position it starts at.
type fieldValue struct {
	label string
	expr  ast.Expr
}

// literalIndex maps line:col to the field value that starts there. Only
// values of regular fields are indexed: a literal inside a list, a
// comprehension or an expression has no position Load would record for a
// field, and a field's value is the only thing an edit should touch.
func literalIndex(f *ast.File) map[[2]int]fieldValue {
	index := map[[2]int]fieldValue{}
	ast.Walk(f, func(n ast.Node) bool {
		fd, ok := n.(*ast.Field)
		if !ok || fd.Value == nil {
			return true
		}
		p := fd.Value.Pos()
		if p.IsValid() {
			index[[2]int{p.Line(), p.Column()}] = fieldValue{label: labelName(fd.Label), expr: fd.Value}
		}
		return true
	}, nil)
	return index
}

func labelName(l ast.Label) string {
	switch l := l.(type) {
	case *ast.Ident:
		return l.Name
	case *ast.BasicLit:
		if s, err := literal.Unquote(l.Value); err == nil {
			return s
		}
	}
	return ""
}

// plainString reports whether v is a single-line "..." literal without a #
// delimiter: the one form whose replacement by a quoted string is exact.
func plainString(v string) bool {
	return len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && !strings.HasPrefix(v, `"""`)
}

func describe(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident, *ast.SelectorExpr, *ast.IndexExpr:
		return "a reference"
	case *ast.Interpolation:
		return "an interpolation"
	case *ast.BinaryExpr:
		return "an expression (" + e.Op.String() + ")"
	case *ast.StructLit:
		return "a struct"
	case *ast.ListLit:
		return "a list"
	case *ast.BasicLit:
		return "a " + strings.ToLower(e.Kind.String()) + " literal"
	}
	return "not a literal"
}
