package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestProgressTerminal: on a terminal each update rewrites the line in
// place (carriage return, erase line) and Clear erases it, leaving no
// trace once the cursor is back at the start of the line.
func TestProgressTerminal(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, true)
	cb := p.Observing("dev")
	if cb == nil {
		t.Fatal("no callback on a terminal")
	}
	cb(0, 40)
	cb(12, 40)
	cb(40, 40)
	p.Clear()
	want := "\r\x1b[Kobserving dev: 0/40 units" +
		"\r\x1b[Kobserving dev: 12/40 units" +
		"\r\x1b[Kobserving dev: 40/40 units" +
		"\r\x1b[K"
	if got := b.String(); got != want {
		t.Errorf("terminal output:\n%q\nwant\n%q", got, want)
	}
	// Cleared twice: nothing more.
	p.Clear()
	if b.String() != want {
		t.Errorf("a second Clear wrote %q", strings.TrimPrefix(b.String(), want))
	}
}

// TestProgressEscapesName: an environment's name is the state's text; an
// escape sequence in it is shown escaped, not obeyed.
func TestProgressEscapesName(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, true)
	p.Observing("d\x1b[2Jev")(1, 1)
	if got := b.String(); strings.Contains(got, "\x1b[2J") || !strings.HasSuffix(got, ": 1/1 unit") {
		t.Errorf("hostile name written as %q", got)
	}
}

// TestProgressNotTerminal: off a terminal nothing is written and the
// observation gets no callback.
func TestProgressNotTerminal(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, false)
	if p.Observing("dev") != nil {
		t.Error("a callback off a terminal")
	}
	p.Update("observing dev", 1, 2)
	p.Clear()
	if b.Len() != 0 {
		t.Errorf("wrote %q off a terminal", b.String())
	}
	var nilp *Progress
	nilp.Update("x", 1, 1)
	nilp.Clear()
}
