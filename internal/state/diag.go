package state

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Diagnostic is one mistake in the state repository, at the position of the
// user's value (never inside the embedded schema when a user position exists).
type Diagnostic struct {
	Pos Pos    `json:"pos"`
	Msg string `json:"message"`
	// Path is the CUE path of the value, when known ("units.ledger.version").
	Path string `json:"path,omitempty"`

	// format and args are CUE's message before formatting, when the
	// diagnostic came from CUE: explain reads the operands from them
	// instead of parsing the text.
	format string
	args   []any
}

func (d Diagnostic) String() string {
	if d.Path != "" {
		return fmt.Sprintf("%s: %s: %s", d.Pos, d.Path, d.Msg)
	}
	return fmt.Sprintf("%s: %s", d.Pos, d.Msg)
}

// Diagnostics is every mistake found in one run. It is the error type of
// Load, so callers can tell invalid state (exit 4) from failures to read it.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// sorted orders diagnostics by file and line and drops exact duplicates
// (CUE may report one conflict once per conjunct).
func (ds Diagnostics) sorted() Diagnostics {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := ds[:0]
	seen := map[string]bool{}
	for _, d := range ds {
		k := d.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}

// DiagnosticsFormatVersion is the format_version of Diagnostics.JSON's
// document (docs/diagnostics-json.md). It is bumped when a consumer would
// have to change: a field removed or renamed, or its meaning changed.
const DiagnosticsFormatVersion = "2"

// JSON writes the diagnostics as a versioned document for tools (editors,
// CI annotations): {"format_version", "valid", "diagnostics": [{"file",
// "line", "column", "path", "message"}]}. An empty Diagnostics is a valid
// state.
func (ds Diagnostics) JSON(w io.Writer) error {
	type item struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Path    string `json:"path,omitempty"`
		Message string `json:"message"`
	}
	doc := struct {
		FormatVersion string `json:"format_version"`
		Valid         bool   `json:"valid"`
		Diagnostics   []item `json:"diagnostics"`
	}{FormatVersion: DiagnosticsFormatVersion, Valid: len(ds) == 0, Diagnostics: make([]item, 0, len(ds))}
	for _, d := range ds {
		doc.Diagnostics = append(doc.Diagnostics, item{File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Col, Path: d.Path, Message: d.Msg})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// grouped reports a mistake that CUE finds once per unit at the same
// position (an expression in a shared pattern, `units: [Name=string]:
// {...}`, applies to every unit) once: the first unit's diagnostic, with
// "(and 999 more units)". Diagnostics group when their position and
// message are the same and their paths differ only in the unit's name.
// ds is sorted.
func (ds Diagnostics) grouped() Diagnostics {
	type key struct {
		pos      Pos
		msg, sub string
	}
	unitPath := func(p string) (sub string, ok bool) {
		rest, ok := strings.CutPrefix(p, "units.")
		if !ok {
			return "", false
		}
		_, sub, _ = strings.Cut(rest, ".")
		return sub, true
	}
	first := map[key]int{}
	more := map[int]int{}
	var out Diagnostics
	for _, d := range ds {
		sub, ok := unitPath(d.Path)
		if !ok || d.Pos.Line == 0 {
			out = append(out, d)
			continue
		}
		k := key{d.Pos, d.Msg, sub}
		if i, seen := first[k]; seen {
			more[i]++
			continue
		}
		first[k] = len(out)
		out = append(out, d)
	}
	for i, n := range more {
		noun := "units"
		if n == 1 {
			noun = "unit"
		}
		out[i].Msg += fmt.Sprintf(" (and %d more %s)", n, noun)
	}
	return out
}
