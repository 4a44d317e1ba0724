package report

import (
	"io"
	"strings"
	"unicode/utf8"
)

// table lays out rows of cells in columns two spaces apart, the last column
// unpadded, as text/tabwriter does. Unlike tabwriter, which counts every
// byte of a cell, it measures a cell by what a terminal shows: the colour
// codes that Style adds take no room on the screen, so a coloured cell is
// padded like a plain one. Cells must be one line of text already made
// inert (inert.Text, inert.Cell): the only escape sequences left in them
// are Style's own.
type table struct{ rows [][]string }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

// write writes the table to w.
func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], visibleWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-visibleWidth(c)+2))
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// visibleWidth is the number of characters of s a terminal shows: its runes
// outside the CSI escape sequences (ESC [ parameters final-byte) that Style
// writes.
func visibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			i += 2
			for i < len(s) && (s[i] < 0x40 || s[i] > 0x7e) {
				i++
			}
			i++ // the final byte
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return n
}
