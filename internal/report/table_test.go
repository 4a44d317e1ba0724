package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// TestStatusColorAligned: on a terminal, the coloured status table's
// columns line up as the plain one's do (colour codes take no room), and
// an error of several lines, or a very long one, stays in one line of its
// row, escaped and cut.
func TestStatusColorAligned(t *testing.T) {
	no := false
	s := status()
	s.Rows = append(s.Rows,
		StatusRow{Environment: "prod", Unit: "db", Desired: "3.0.0", Running: "3.0.0", DeployedAt: at.Add(-2 * time.Hour), Age: 7200, Health: "unknown", Observed: true, Drift: &no,
			Error: "status.sh: exit status 1:\nTraceback (most recent call last):\n\tFile \"status.py\", line 3"},
		StatusRow{Environment: "prod", Unit: "web", Desired: "3.0.0", Health: "unknown",
			Error: "ssh: handshake failed: " + strings.Repeat("no supported methods remain ", 10)},
	)
	var b bytes.Buffer
	if err := StatusText(&b, s, Style{Color: true}); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.color.golden", b.Bytes())
	if !sgr.MatchString(b.String()) {
		t.Fatal("coloured status has no colour")
	}

	var plain bytes.Buffer
	if err := StatusText(&plain, s, Style{}); err != nil {
		t.Fatal(err)
	}
	visible := sgr.ReplaceAllString(b.String(), "")
	if visible != plain.String() {
		t.Errorf("coloured status without its colours differs from the plain one:\n%s\nwant:\n%s", visible, plain.String())
	}

	lines := strings.Split(strings.TrimSuffix(visible, "\n"), "\n")
	if len(lines) != len(s.Rows)+1 {
		t.Fatalf("status has %d lines for %d rows and a header:\n%s", len(lines), len(s.Rows), visible)
	}
	// Each column starts, in every row, where its header does: two spaces
	// before, and the cell's first character on that column.
	header := []rune(lines[0])
	var starts []int
	for i := 1; i < len(header); i++ {
		if header[i] != ' ' && header[i-1] == ' ' {
			starts = append(starts, i)
		}
	}
	if len(starts) != 8 {
		t.Fatalf("header %q: %d column starts, want 8", lines[0], len(starts))
	}
	for _, l := range lines[1:] {
		row := []rune(l)
		for _, c := range starts {
			if len(row) <= c || row[c] == ' ' || row[c-1] != ' ' || row[c-2] != ' ' {
				t.Errorf("row %q: no cell starts at column %d, where the header's does", l, c)
			}
		}
	}
	if !strings.Contains(visible, `error: status.sh: exit status 1:\nTraceback (most recent call last):\n\tFile "status.py", line 3`) {
		t.Errorf("the multi-line error is not shown escaped on its row:\n%s", visible)
	}
	for _, l := range lines {
		if strings.Contains(l, "not observed: ssh: handshake failed") {
			cell := l[strings.Index(l, "not observed"):]
			cell = cell[:strings.Index(cell, "…")+len("…")]
			if n := utf8.RuneCountInString(cell); n != errorCell {
				t.Errorf("long error cell is %d characters, want %d cut with an ellipsis: %q", n, errorCell, cell)
			}
		}
	}
}

func TestVisibleWidth(t *testing.T) {
	st := Style{Color: true}
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"healthy", 7},
		{st.green("healthy"), 7},
		{st.red("not observed: ") + st.bold("x"), 15},
		{"ünïcödé …", 9},
		{`\x1b[2K escaped`, 15},
	}
	for _, tt := range tests {
		if got := visibleWidth(tt.in); got != tt.want {
			t.Errorf("visibleWidth(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
