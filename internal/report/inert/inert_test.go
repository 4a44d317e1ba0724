package inert

import (
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

func TestMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"vendor fix pending | see <TICKET-12>", `vendor fix pending \| see &lt;TICKET-12&gt;`},
		{"cc @acme/owners and @alice", "cc @\u200bacme/owners and @\u200balice"},
		{"mail bob@example.com", "mail bob@\u200bexample.com"},
		{"![x](http://evil/)", `!\[x\](http:` + "\u200b" + `//evil/)`},
		{"[click](https://evil)", `\[click\](https:` + "\u200b" + `//evil)`},
		{"<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"},
		{"<https://evil>", "&lt;https:\u200b//evil&gt;"},
		{"see www.evil.example", "see www\u200b.evil.example"},
		{"fixes #12 and acme/x#3", "fixes #\u200b12 and acme/x#\u200b3"},
		{"&#64;alice &lt;b&gt;", "&amp;#\u200b64;alice &amp;lt;b&amp;gt;"},
		{`trailing\|pipe`, `trailing\\\|pipe`},
		{"code `span`", "code 'span'"},
		{"a\nb\r\nc\x1b[31m", `a b c\x1b\[31m`},
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
		for _, bad := range []string{"<", ">", "`", "\n", "\r", "://"} {
			if strings.Contains(got, bad) {
				t.Fatalf("Markdown(%q) = %q holds %q", s, got, bad)
			}
		}
		for i := 0; i < len(got); i++ {
			switch got[i] {
			case '|', '[', ']':
				// Escaped: an odd number of backslashes before it.
				n := 0
				for j := i - 1; j >= 0 && got[j] == '\\'; j-- {
					n++
				}
				if n%2 == 0 {
					t.Fatalf("Markdown(%q) = %q: unescaped %q at %d", s, got, got[i], i)
				}
			case '@':
				if i+1 < len(got) && got[i+1] != ' ' && !strings.HasPrefix(got[i+1:], "\u200b") {
					t.Fatalf("Markdown(%q) = %q: a mention at %d", s, got, i)
				}
			}
		}
	})
}
