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

// zwsp is a zero-width space: inserted after "@", before "://" and the
// like, it keeps the text readable while GitHub no longer recognises a
// mention, an autolink or an issue reference.
const zwsp = "\u200b"

// markdownReplacer escapes what GitHub Markdown would interpret in text
// shown inline (a table cell, a list item):
//   - \ first, so that text cannot escape the escapes that follow;
//   - | and newlines, which would break a table row;
//   - <, > and &: no raw HTML tag (<img>, <details>), no autolink
//     <http://...>, no character reference that decodes to "@" or "<";
//   - `, which would open a code span the renderer did not mean;
//   - [ and ], so that neither a link [click](http://evil) nor an image
//     ![x](http://evil/) nor a reference link is formed.
var markdownReplacer = strings.NewReplacer(
	`\`, `\\`,
	"|", `\|`,
	"\r\n", " ", "\n", " ", "\r", " ",
	"<", "&lt;", ">", "&gt;", "&", "&amp;",
	"`", "'",
	"[", `\[`, "]", `\]`,
)

// Markdown makes text inert inside GitHub Markdown: no markup (tables stay
// whole; no HTML, links or images), no @user or @org/team mention, no
// #123 issue reference, no autolinked URL (http://, www.) or e-mail
// address. What remains reads the same, with a zero-width space where a
// mention or a link was broken. Control characters are escaped as Text
// does.
func Markdown(s string) string {
	s = markdownReplacer.Replace(s)
	s = Text(s)
	if !strings.ContainsAny(s, "@#:wW") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		b.WriteByte(c)
		next := byte(0)
		if i+1 < len(s) {
			next = s[i+1]
		}
		switch {
		case c == '@' && next != 0 && next != ' ':
			// @user, @org/team, user@example.com
			b.WriteString(zwsp)
		case c == '#' && next >= '0' && next <= '9':
			b.WriteString(zwsp)
		case c == ':' && strings.HasPrefix(s[i+1:], "//"):
			// http://, https://, ftp://: the scheme no longer joins
			b.WriteString(zwsp)
		case (c == 'w' || c == 'W') && i+3 < len(s) && strings.EqualFold(s[i:i+4], "www.") && (i == 0 || !isWord(s[i-1])):
			b.WriteString(s[i+1 : i+3])
			b.WriteString(zwsp)
			i += 2
		}
	}
	return b.String()
}

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
