// Package inert makes text from the state repository, or from what a
// target printed, harmless where gearshift shows it. A waiver reason, a
// version or a command's error message is written by whoever opened a pull
// request; shown raw, it could move a terminal's cursor, erase a line and
// print a forged "deny" (Text), or mention a team, show an image or link
// to a phishing page in a pull-request comment (Markdown).
//
// Each function returns its input unchanged when there is nothing to
// neutralise, so plain text keeps its look. The package must never be
// applied to gearshift's own markup: colour codes and the Markdown that the
// renderers write around the text are theirs to keep.
package inert

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text escapes what a terminal would act on, in the style of strconv.Quote
// without the quotes: control characters (ESC, CR, LF, TAB, BEL, DEL and
// the C1 controls) become \x1b, \r, \n, \t, ...; the bidirectional and line
// separator characters that reorder or split what is shown become \uXXXX;
// invalid UTF-8 bytes become \xNN. Printable text, backslashes included,
// is left alone.
func Text(s string) string {
	if safe(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Lines is Text for a text of several lines: each line is escaped as Text
// does, and the newlines between them are kept. It is for a renderer that
// writes whole lines of its own (a result, an error) and wants no cursor
// movement, carriage return or bidi override from what it quotes.
func Lines(s string) string {
	if safe(strings.ReplaceAll(s, "\n", " ")) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Text(l)
	}
	return strings.Join(lines, "\n")
}

// Cell is Text for one cell of a table: escaped as Text does, so that it
// stays on one line, and cut to at most max characters (runes), the last
// of them an ellipsis, so that one long message (a command's whole stderr)
// cannot widen a column past the screen. A max below 1 does not cut.
func Cell(s string, max int) string {
	s = Text(s)
	if max < 1 || utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// NewWriter returns a writer that passes each write through Lines, for a
// command that prints text lines of the state with fmt.Fprintf. A write
// must not end inside a UTF-8 sequence (fmt never splits one).
func NewWriter(w io.Writer) io.Writer { return linesWriter{w} }

type linesWriter struct{ w io.Writer }

func (l linesWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(l.w, Lines(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func safe(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return false
		case c >= 0x80:
			ascii = false
		}
	}
	if ascii {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (r < 0x100 && unicode.IsControl(r)) || unsafeRune(r) {
			return false
		}
	}
	return true
}

// unsafeRune: the bidirectional controls (the "Trojan Source" characters)
// and the Unicode line and paragraph separators.
func unsafeRune(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x2028 && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// zwsp is a zero-width space: inserted after "@" and "#", it keeps the
// text readable while GitHub no longer sees a mention or an issue
// reference.
const zwsp = "\u200b"

// wordReplacer escapes what GitHub Markdown would interpret in a word of
// text shown inline (a table cell, a list item):
//   - \ first, so that text cannot escape the escapes that follow;
//   - |, which would end a table cell;
//   - <, > and &: no raw HTML tag (<img>, <details>), no character
//     reference that decodes to "@" or "<";
//   - `, which would open a code span the renderer did not mean;
//   - [ and ], so that neither a link [click](...) nor an image ![x](...)
//     nor a reference link is formed.
var wordReplacer = strings.NewReplacer(
	`\`, `\\`,
	"|", `\|`,
	"<", "&lt;", ">", "&gt;", "&", "&amp;",
	"`", "'",
	"[", `\[`, "]", `\]`,
)

var newlines = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// Markdown makes text inert inside GitHub Markdown: it stays on one line
// (tables stay whole), forms no HTML, link or image, mentions no one
// (@user, @org/team), references no issue (#123), and autolinks nothing. A
// word that holds a URL ("://" or "www.") is shown as a code span, where
// GitHub links nothing and the URL can still be copied; an "@" or "#" that
// would mention or reference is followed by a zero-width space. Control
// characters are escaped as Text does.
func Markdown(s string) string {
	words := strings.Split(Text(newlines.Replace(s)), " ")
	for i, w := range words {
		if strings.Contains(w, "://") || strings.Contains(strings.ToLower(w), "www.") {
			// Punctuation that ends a sentence stays outside.
			url := strings.TrimRight(w, ".,:;")
			// In a table a pipe ends the cell even in a code span unless
			// an odd number of backslashes precedes it: a backslash of
			// the URL itself is written %5C, as a URL would have it.
			words[i] = "`" + urlSpanReplacer.Replace(url) + "`" + wordReplacer.Replace(w[len(url):])
			continue
		}
		words[i] = markdownWord(wordReplacer.Replace(w))
	}
	return strings.Join(words, " ")
}

// urlSpanReplacer makes a URL safe inside a code span of a table cell.
var urlSpanReplacer = strings.NewReplacer("`", "'", "|", `\|`, `\`, "%5C")

func markdownWord(w string) string {
	if !strings.ContainsAny(w, "@#") {
		return w
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		b.WriteByte(w[i])
		if i+1 == len(w) {
			break
		}
		if next := w[i+1]; w[i] == '@' || w[i] == '#' && next >= '0' && next <= '9' {
			// @user, @org/team, user@example.com; #12, owner/repo#12
			b.WriteString(zwsp)
		}
	}
	return b.String()
}
