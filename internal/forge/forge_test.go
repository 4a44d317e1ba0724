package forge

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseRepository(t *testing.T) {
	tests := []struct {
		in          string
		owner, repo string
		wantErr     bool
	}{
		{in: "gearshift-dev/gearshift", owner: "gearshift-dev", repo: "gearshift"},
		{in: "o/r.js", owner: "o", repo: "r.js"},
		{in: " o/r_1 ", owner: "o", repo: "r_1"},
		{in: "", wantErr: true},
		{in: "gearshift", wantErr: true},
		{in: "/repo", wantErr: true},
		{in: "owner/", wantErr: true},
		{in: "a/b/c", wantErr: true},
		{in: "owner/..", wantErr: true},
		{in: "owner/repo.git", wantErr: true},
		{in: "-owner/repo", wantErr: true},
		{in: "own er/repo", wantErr: true},
		{in: "owner/re po", wantErr: true},
		{in: "https://github.com/o/r", wantErr: true},
	}
	for _, tt := range tests {
		owner, repo, err := ParseRepository(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseRepository(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if owner != tt.owner || repo != tt.repo {
			t.Errorf("ParseRepository(%q) = %q, %q, want %q, %q", tt.in, owner, repo, tt.owner, tt.repo)
		}
	}
}

func FuzzParseRepository(f *testing.F) {
	for _, s := range []string{"o/r", "a/b/c", "", "x/..", "o/r.git", "o/r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		owner, repo, err := ParseRepository(s)
		if err != nil {
			return
		}
		if owner == "" || repo == "" || strings.ContainsAny(owner+repo, "/:\\ \n\t?#%") {
			t.Errorf("ParseRepository(%q) = %q, %q: accepted a malformed part", s, owner, repo)
		}
		o2, r2, err := ParseRepository(owner + "/" + repo)
		if err != nil || o2 != owner || r2 != repo {
			t.Errorf("ParseRepository does not round-trip %q: %q, %q, %v", s, o2, r2, err)
		}
	})
}

func TestMarkerComment(t *testing.T) {
	got, err := MarkerComment("plan:prod")
	if err != nil || got != "<!-- gearshift:plan:prod -->" {
		t.Errorf("MarkerComment(plan:prod) = %q, %v, want <!-- gearshift:plan:prod -->", got, err)
	}
	for _, bad := range []string{"", "a -->", "a--!>", "x>y", "line\nbreak", strings.Repeat("m", 201)} {
		if got, err := MarkerComment(bad); err == nil {
			t.Errorf("MarkerComment(%q) = %q, want an error", bad, got)
		}
	}
}

func TestTruncate(t *testing.T) {
	lines := func(n int, line string) string {
		return strings.TrimSuffix(strings.Repeat(line+"\n", n), "\n")
	}
	tests := []struct {
		name      string
		body      string
		limit     int
		hint      string
		wantSame  bool
		wantStart string
		wantHas   []string
		wantNot   []string
	}{
		{name: "fits", body: "short\nbody", limit: 100, wantSame: true},
		{name: "exactly at limit", body: strings.Repeat("x", 50), limit: 50, wantSame: true},
		{
			name: "cut at a line", body: lines(1000, "0123456789"), limit: 600, hint: "Full plan: https://example.test/run/1",
			wantStart: "0123456789\n0123456789",
			wantHas:   []string{"**Truncated**", "of 1000 lines shown", "Full plan: https://example.test/run/1"},
		},
		{
			name: "closes an open fence", body: "# Plan\n```diff\n" + lines(500, "+ unit v2"), limit: 500,
			wantHas: []string{"\n```\n\n---\n"},
		},
		{
			name: "closes a tilde fence with tildes", body: "~~~~\n" + lines(500, "x"), limit: 300,
			wantHas: []string{"\n~~~~\n\n---\n"}, wantNot: []string{"```"},
		},
		{
			name: "closed fence stays closed", body: "```\ncode\n```\n" + lines(500, "text"), limit: 400,
			wantNot: []string{"text\n```"},
		},
		{
			name: "one long line is cut on a rune", body: strings.Repeat("é", 1000), limit: 400,
			wantHas: []string{"1 of 1 lines shown"},
		},
		{name: "limit below the note", body: strings.Repeat("abc\n", 100), limit: 10, wantStart: "abc\nabc\nab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Truncate(tt.body, tt.limit, tt.hint)
			if len(got) > tt.limit {
				t.Errorf("len(Truncate) = %d, want <= %d", len(got), tt.limit)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Truncate returned invalid UTF-8")
			}
			if tt.wantSame {
				if got != tt.body {
					t.Errorf("Truncate changed a body that fits: got %q", got)
				}
				return
			}
			if !strings.HasPrefix(got, tt.wantStart) {
				t.Errorf("Truncate = %.60q..., want it to start with %q", got, tt.wantStart)
			}
			for _, s := range tt.wantHas {
				if !strings.Contains(got, s) {
					t.Errorf("Truncate = %q, want it to contain %q", got, s)
				}
			}
			for _, s := range tt.wantNot {
				if strings.Contains(got, s) {
					t.Errorf("Truncate = %q, want it not to contain %q", got, s)
				}
			}
		})
	}
}

func TestTruncateKeepsWholeLines(t *testing.T) {
	var b strings.Builder
	for i := range 20000 {
		b.WriteString(strings.Repeat("y", i%70))
		b.WriteString("\n")
	}
	body := b.String()
	got := Truncate(body, MaxBodyLength, "")
	kept, _, ok := strings.Cut(got, "\n\n---\n:warning:")
	if !ok {
		t.Fatalf("Truncate(%d bytes) has no note", len(body))
	}
	if !strings.HasPrefix(body, kept+"\n") {
		t.Errorf("Truncate kept a partial line: the kept text is not a prefix of whole lines")
	}
	if len(got) > MaxBodyLength || len(got) < MaxBodyLength-200 {
		t.Errorf("len(Truncate) = %d, want just under %d", len(got), MaxBodyLength)
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("a\nb\nc", 3, "")
	f.Add("```\n"+strings.Repeat("line\n", 100), 200, "see run")
	f.Add(strings.Repeat("ü", 300), 150, "")
	f.Fuzz(func(t *testing.T, body string, limit int, hint string) {
		if limit < 0 || limit > 1<<20 || !utf8.ValidString(body) || !utf8.ValidString(hint) {
			t.Skip()
		}
		got := Truncate(body, limit, hint)
		if len(got) > limit {
			t.Fatalf("len(Truncate) = %d, want <= %d", len(got), limit)
		}
		if len(body) <= limit && got != body {
			t.Fatalf("Truncate changed a body that fits")
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Truncate returned invalid UTF-8: %q", got)
		}
	})
}

func TestSameHostRedirect(t *testing.T) {
	req := func(u string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	origin := []*http.Request{req("https://ghe.example.test/api/v3/repos/o/r/pulls")}
	if err := sameHostRedirect(req("https://ghe.example.test/api/v3/repositories/1/pulls"), origin); err != nil {
		t.Errorf("redirect on the same host refused: %v", err)
	}
	for _, u := range []string{"https://evil.example.test/steal", "http://ghe.example.test/api/v3/x"} {
		if err := sameHostRedirect(req(u), origin); err == nil {
			t.Errorf("redirect to %s followed, want it refused", u)
		}
	}
}
