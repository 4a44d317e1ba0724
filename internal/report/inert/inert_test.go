package inert

import (
	"fmt"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"vendor fix pending", "vendor fix pending"},
		{`C:\path\x1b stays`, `C:\path\x1b stays`},
		{"ok\x1b[2K\r[deny] latest-framework api: forged", `ok\x1b[2K\r[deny] latest-framework api: forged`},
		{"two\nlines\ttab", `two\nlines\ttab`},
		{"bell\a del\x7f c1\u009b", `bell\x07 del\x7f c1\x9b`},
		{"bidi \u202egnp.exe\u2066", `bidi \u202egnp.exe\u2066`},
		{"bad \xff utf8", `bad \xff utf8`},
		{"ünïcödé ✓", "ünïcödé ✓"},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLines(t *testing.T) {
	in := "deploy failed:\nstep 1\x1b[2K\r[deny] forged\n"
	if got, want := Lines(in), "deploy failed:\n"+`step 1\x1b[2K\r[deny] forged`+"\n"; got != want {
		t.Errorf("Lines(%q) = %q, want %q", in, got, want)
	}
	if got := Lines("plain\ntext\n"); got != "plain\ntext\n" {
		t.Errorf("Lines changed plain text: %q", got)
	}
}

func TestCell(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"connection refused", 40, "connection refused"},
		{"exit status 1:\nline two", 40, `exit status 1:\nline two`},
		{"exit status 1:\nline two", 12, "exit status…"},
		{"ünïcödé ✓ and more", 18, "ünïcödé ✓ and more"},
		{"ünïcödé ✓ and more", 9, "ünïcödé …"},
		{"\x1b[2K\rforged", 6, `\x1b[…`},
		{"no cut", 0, "no cut"},
	}
	for _, tt := range tests {
		got := Cell(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("Cell(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
		if strings.ContainsAny(got, "\n\r\t\x1b") {
			t.Errorf("Cell(%q, %d) = %q holds a control character", tt.in, tt.max, got)
		}
	}
}

func TestNewWriter(t *testing.T) {
	var b strings.Builder
	w := NewWriter(&b)
	fmt.Fprintf(w, "  %s -> %s\n", "1.0.0", "1.1.0\x1b[8m")
	if got, want := b.String(), "  1.0.0 -> 1.1.0\\x1b[8m\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"vendor fix pending | see <TICKET-12>", `vendor fix pending \| see &lt;TICKET-12&gt;`},
		{"cc @acme/owners and @alice", "cc @\u200bacme/owners and @\u200balice"},
		{"mail bob@example.com", "mail bob@\u200bexample.com"},
		{"![x](http://evil/)", "`![x](http://evil/)`"},
		{"see [click](https://evil) now", "see `[click](https://evil)` now"},
		{"[click] (x)", `\[click\] (x)`},
		{"<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"},
		{"<https://evil>", "`<https://evil>`"},
		{"see www.evil.example", "see `www.evil.example`"},
		{"GET http://127.0.0.1:1/h|x`y: 500", "GET `http://127.0.0.1:1/h\\|x'y`: 500"},
		// A backslash before the pipe would unescape it in a table.
		{"www.\\|", "`www.%5C\\|`"},
		{"fixes #12 and acme/x#3", "fixes #\u200b12 and acme/x#\u200b3"},
		{"&#64;alice &lt;b&gt;", "&amp;#\u200b64;alice &amp;lt;b&amp;gt;"},
		{`trailing\|pipe`, `trailing\\\|pipe`},
		{"code `span`", "code 'span'"},
		{"a\nb\r\nc\x1b[31m", `a b c\\x1b\[31m`},
		{"1.2.3", "1.2.3"},
	}
	for _, tt := range tests {
		if got := Markdown(tt.in); got != tt.want {
			t.Errorf("Markdown(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzMarkdown: whatever the input, the result opens no tag, no link, no
// image, no code span, breaks no table row, and carries no mention.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{"@alice", "![x](http://e/)", "<img>", "a|b", "\\|", "www.x.y", "#1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Markdown(s)
		if strings.ContainsAny(got, "\n\r") {
			t.Fatalf("Markdown(%q) = %q spans lines", s, got)
		}
		// Outside the code spans it made, nothing is markup.
		parts := strings.Split(got, "`")
		if len(parts)%2 == 0 {
			t.Fatalf("Markdown(%q) = %q: unbalanced backticks", s, got)
		}
		for i, p := range parts {
			if i%2 == 1 {
				checkEscaped(t, s, got, p, "|")
				continue
			}
			for _, bad := range []string{"<", ">", "://"} {
				if strings.Contains(p, bad) {
					t.Fatalf("Markdown(%q) = %q holds %q", s, got, bad)
				}
			}
			checkEscaped(t, s, got, p, "|[]")
			for j := 0; j+1 < len(p); j++ {
				if p[j] == '@' && p[j+1] != ' ' && !strings.HasPrefix(p[j+1:], "\u200b") {
					t.Fatalf("Markdown(%q) = %q: a mention", s, got)
				}
			}
		}
	})
}

// checkEscaped fails unless every character of chars in p has an odd
// number of backslashes before it.
func checkEscaped(t *testing.T, in, got, p, chars string) {
	t.Helper()
	for i := 0; i < len(p); i++ {
		if !strings.ContainsRune(chars, rune(p[i])) {
			continue
		}
		n := 0
		for j := i - 1; j >= 0 && p[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			t.Fatalf("Markdown(%q) = %q: unescaped %q", in, got, p[i])
		}
	}
}
