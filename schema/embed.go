// Package schema embeds the CUE schema of a gearshift state repository, so
// that a state repository need not carry a copy of it.
package schema

import _ "embed"

// CUE is the text of schema.cue.
//
//go:embed schema.cue
var CUE []byte
