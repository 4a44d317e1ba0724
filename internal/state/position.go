package state

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Pos is a position in a file of the state repository. File is relative to
// the state root so that messages read environments/prod/units.cue:12:14.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"column"`
}

// IsValid reports whether the position names a file.
func (p Pos) IsValid() bool { return p.File != "" }

// String formats the position as file:line:column.
func (p Pos) String() string {
	if !p.IsValid() {
		return "-"
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Positions maps CUE paths ("version", "frameworks.gearframe") to where
// their values were written.
type Positions map[string]Pos

// Of returns the position of path, or of its closest recorded parent.
func (p Positions) Of(path string) Pos {
	for {
		if pos, ok := p[path]; ok {
			return pos
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return p[""]
		}
		path = path[:i]
	}
}

// relFile makes an absolute file name relative to root when it is inside it.
func relFile(root, file string) string {
	if file == "" {
		return ""
	}
	if !filepath.IsAbs(file) {
		return filepath.ToSlash(file)
	}
	rel, err := filepath.Rel(root, file)
	if err != nil || strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(file)
	}
	return filepath.ToSlash(rel)
}
