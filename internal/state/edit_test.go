package state

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"
)

// TestEditLiteralsGolden applies the edits of each testdata/edit/*.txtar to
// its in.cue and compares with out.cue. UPDATE_GOLDEN=1 rewrites out.cue.
// Every result must differ from the input only inside the edited literals.
func TestEditLiteralsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/edit/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sections := map[string][]byte{}
			for _, f := range ar.Files {
				sections[f.Name] = f.Data
			}
			edits := parseEdits(t, string(sections["edits"]))
			got, err := EditLiterals("in.cue", sections["in.cue"], edits)
			if err != nil {
				t.Fatal(err)
			}
			assertOnlyLiterals(t, sections["in.cue"], got, edits)
			if os.Getenv("UPDATE_GOLDEN") != "" {
				for i := range ar.Files {
					if ar.Files[i].Name == "out.cue" {
						ar.Files[i].Data = got
					}
				}
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(string(sections["out.cue"]), string(got)); diff != "" {
				t.Errorf("out.cue differs (-want +got); UPDATE_GOLDEN=1 rewrites it:\n%s", diff)
			}
		})
	}
}

// parseEdits reads lines "LINE:COL LABEL OLD NEW".
func parseEdits(t *testing.T, s string) []LiteralEdit {
	t.Helper()
	var edits []LiteralEdit
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var pos string
		var e LiteralEdit
		if _, err := fmt.Sscan(line, &pos, &e.Label, &e.Old, &e.New); err != nil {
			t.Fatalf("edit %q: %v", line, err)
		}
		l, c, _ := strings.Cut(pos, ":")
		e.Line, _ = strconv.Atoi(l)
		e.Col, _ = strconv.Atoi(c)
		edits = append(edits, e)
	}
	return edits
}

// assertOnlyLiterals checks that got is before with exactly the literals
// at the edits' positions replaced: every byte outside them is identical.
func assertOnlyLiterals(t *testing.T, before, got []byte, edits []LiteralEdit) {
	t.Helper()
	f, err := parser.ParseFile("in.cue", before)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), before...)
	// Rebuild the expectation independently: from the last literal back.
	type span struct {
		start, end int
		text       string
	}
	var spans []span
	ast.Walk(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		for _, e := range edits {
			if lit.Pos().Line() == e.Line && lit.Pos().Column() == e.Col {
				spans = append(spans, span{lit.Pos().Offset(), lit.End().Offset(), strconv.Quote(e.New)})
			}
		}
		return true
	}, nil)
	if len(spans) != len(edits) {
		t.Fatalf("found %d of %d literals", len(spans), len(edits))
	}
	for i := len(spans) - 1; i >= 0; i-- {
		s := spans[i]
		want = append(want[:s.start:s.start], append([]byte(s.text), want[s.end:]...)...)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("bytes outside the literals changed:\n got %q\nwant %q", got, want)
	}
}

func TestEditLiteralsRefusals(t *testing.T) {
	const src = `package gearshift

_v: "1.0.0"
units: a: version: _v
units: b: version: "1.\(_n).0"
units: c: version: """
	1.0.0
	"""
units: d: version: #"1.0.0"#
units: e: version: *"1.0.0" | string
units: f: version: "1.0.0"
units: f: port: 80
_n: 2
`
	tests := []struct {
		name string
		edit LiteralEdit
		want string
	}{
		{"reference", LiteralEdit{Line: 4, Col: 20, Label: "version", New: "2"}, "x.cue:4:20: the value of version is a reference, not a string literal"},
		{"interpolation", LiteralEdit{Line: 5, Col: 20, Label: "version", New: "2"}, "x.cue:5:20: the value of version is an interpolation"},
		{"multi-line", LiteralEdit{Line: 6, Col: 20, Label: "version", New: "2"}, "x.cue:6:20: the value of version is a raw, multi-line or bytes literal"},
		{"raw", LiteralEdit{Line: 9, Col: 20, Label: "version", New: "2"}, "x.cue:9:20: the value of version is a raw"},
		{"disjunction", LiteralEdit{Line: 10, Col: 20, Label: "version", New: "2"}, "x.cue:10:20: the value of version is an expression (|)"},
		{"wrong label", LiteralEdit{Line: 11, Col: 20, Label: "latest", New: "2"}, "x.cue:11:20: the value here belongs to field version, not latest"},
		{"stale", LiteralEdit{Line: 11, Col: 20, Label: "version", Old: "0.9.0", New: "2"}, `x.cue:11:20: version is "1.0.0", not "0.9.0"`},
		{"no value", LiteralEdit{Line: 11, Col: 21, Label: "version", New: "2"}, "x.cue:11:21: no field value starts here"},
		{"not a string", LiteralEdit{Line: 12, Col: 17, Label: "port", New: "2"}, "x.cue:12:17: the value of port is a int literal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EditLiterals("x.cue", []byte(src), []LiteralEdit{tt.edit})
			if err == nil {
				t.Fatalf("EditLiterals = %q, want an error", got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
	// Two edits of one literal are refused too.
	e := LiteralEdit{Line: 11, Col: 20, Label: "version", New: "2.0.0"}
	if _, err := EditLiterals("x.cue", []byte(src), []LiteralEdit{e, e}); err == nil || !strings.Contains(err.Error(), "two edits") {
		t.Errorf("a double edit: err = %v", err)
	}
	if _, err := EditLiterals("x.cue", []byte("units: {"), []LiteralEdit{e}); err == nil || !strings.HasPrefix(err.Error(), "x.cue") {
		t.Errorf("a file that does not parse: err = %v", err)
	}
}

// TestEditLiteralsCRLF keeps Windows line endings: only the literal changes.
func TestEditLiteralsCRLF(t *testing.T) {
	src := []byte("package x\r\n\r\nunits: a: {\r\n\tversion: \"1.0.0\"\r\n}\r\n")
	got, err := EditLiterals("x.cue", src, []LiteralEdit{{Line: 4, Col: 11, Label: "version", Old: "1.0.0", New: "1.1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Replace(src, []byte(`"1.0.0"`), []byte(`"1.1.0"`), 1); !bytes.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestEditAtLoadedPositions edits at the positions Load records, so the
// loader and the editor agree on what a position names: a unit's version,
// its framework, and a framework's latest and released.
func TestEditAtLoadedPositions(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cue.mod/module.cue", "module: \"example.com/s@v0\"\nlanguage: version: \"v0.17.0\"\n")
	write("environments/frameworks.cue", "package gearshift\n\nframeworks: fw: {\n\tlatest:   \"1.0.0\"\n\treleased: \"2026-01-01\"\n}\n")
	write("environments/dev/env.cue", `package gearshift

environment: {
	name: "dev"
	deployFrom: branch: "main"
	policies: latestFramework: "bump"
	targets: t: exec: {status: ["s"], deploy: ["d"]}
}
`)
	units := "package gearshift\n\nunits: api: {\n\tkind:    \"gear\"\n\tversion: \"1.2.3\" // comment\n\tframeworks: fw: \"0.9.0\"\n\ttarget:  \"t\"\n}\n"
	write("environments/dev/units.cue", units)
	st, err := Load(context.Background(), root, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := st.Environments["dev"]
	u := env.Units["api"]
	fw := env.Frameworks["fw"]
	edit := func(pos Pos, label, old, new string) string {
		t.Helper()
		src, err := os.ReadFile(filepath.Join(root, pos.File))
		if err != nil {
			t.Fatal(err)
		}
		out, err := EditLiterals(pos.File, src, []LiteralEdit{{Line: pos.Line, Col: pos.Col, Label: label, Old: old, New: new}})
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if got, want := edit(u.Pos.Of("version"), "version", "1.2.3", "1.3.0"), strings.Replace(units, `"1.2.3"`, `"1.3.0"`, 1); got != want {
		t.Errorf("version edit:\n%s\nwant\n%s", got, want)
	}
	if got, want := edit(u.Pos.Of("frameworks.fw"), "fw", "0.9.0", "1.0.0"), strings.Replace(units, `"0.9.0"`, `"1.0.0"`, 1); got != want {
		t.Errorf("framework edit:\n%s\nwant\n%s", got, want)
	}
	if got := edit(fw.Pos.Of("latest"), "latest", "1.0.0", "1.1.0"); !strings.Contains(got, "latest:   \"1.1.0\"\n\treleased: \"2026-01-01\"") {
		t.Errorf("latest edit:\n%s", got)
	}
	if got := edit(fw.Pos["released"], "released", "2026-01-01", "2026-11-22"); !strings.Contains(got, "released: \"2026-11-22\"") {
		t.Errorf("released edit:\n%s", got)
	}
}

// FuzzEditLiterals edits each string field value of arbitrary CUE and checks
// that the editor never corrupts a file: the result parses, holds the new
// value at that place, and every byte outside the literal is unchanged.
func FuzzEditLiterals(f *testing.F) {
	f.Add([]byte("units: a: {version: \"1.0.0\", kind: \"gear\"}\n"), "2.0.0")
	f.Add([]byte("a: \"x\" // c\nb: c: \"\\u00e9\"\n"), "quote\"and\\back")
	f.Add([]byte("a: #\"raw\"#\nb: \"\"\"\n\tm\n\t\"\"\"\nc: \"1\"\n"), "\n\ttab")
	f.Add([]byte("x: \"\\(y)\"\ny: \"a\"\n"), "\x00é")
	f.Fuzz(func(t *testing.T, src []byte, value string) {
		file, err := parser.ParseFile("f.cue", src, parser.ParseComments)
		if err != nil {
			return
		}
		for key, fv := range literalIndex(file) {
			lit, ok := fv.expr.(*ast.BasicLit)
			edit := LiteralEdit{Line: key[0], Col: key[1], New: value}
			out, err := EditLiterals("f.cue", src, []LiteralEdit{edit})
			if !ok || lit.Kind != token.STRING || !plainString(lit.Value) || !utf8.ValidString(value) {
				if err == nil {
					t.Fatalf("edit of %T %v at %v accepted", fv.expr, fv.expr, key)
				}
				continue
			}
			if _, uerr := literal.Unquote(lit.Value); uerr != nil {
				continue
			}
			if err != nil {
				t.Fatalf("edit at %v: %v", key, err)
			}
			start, end := lit.Pos().Offset(), lit.End().Offset()
			if !bytes.Equal(out[:start], src[:start]) || !bytes.Equal(out[len(out)-(len(src)-end):], src[end:]) {
				t.Fatalf("bytes outside the literal changed:\n%q\n%q", src, out)
			}
			quoted := out[start : len(out)-(len(src)-end)]
			got, err := literal.Unquote(string(quoted))
			if err != nil || got != value {
				t.Fatalf("the new literal %s unquotes to %q, %v; want %q", quoted, got, err, value)
			}
			if _, err := parser.ParseFile("out.cue", out); err != nil {
				t.Fatalf("the result does not parse: %v\n%s", err, out)
			}
		}
	})
}
