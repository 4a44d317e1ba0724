package transport

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// quoteCases are argv lists a remote shell must see exactly; the
// conformance suite sends them over SSH too.
var quoteCases = []struct {
	name string
	argv []string
	want string
}{
	{"plain", []string{"ls", "-la", "/srv/app"}, `ls -la /srv/app`},
	{"empty string", []string{"printf", `%s\n`, ""}, `printf '%s\n' ''`},
	{"spaces", []string{"echo", "a b", "  lead", "trail  "}, `echo 'a b' '  lead' 'trail  '`},
	{"single quotes", []string{"echo", "it's", "'", "''"}, `echo 'it'\''s' ''\''' ''\'''\'''`},
	{"double quotes", []string{"echo", `say "hi"`}, `echo 'say "hi"'`},
	{"dollar", []string{"echo", "$HOME", "${PATH}", "$(id)", "$((1+1))"}, `echo '$HOME' '${PATH}' '$(id)' '$((1+1))'`},
	{"backticks", []string{"echo", "`id`"}, "echo '`id`'"},
	{"newlines", []string{"echo", "a\nb", "\n"}, "echo 'a\nb' '\n'"},
	{"tab and cr", []string{"echo", "a\tb\r"}, "echo 'a\tb\r'"},
	{"backslashes", []string{"echo", `a\b`, `\`, `\n`}, `echo 'a\b' '\' '\n'`},
	{"globs", []string{"echo", "*", "?", "[a]", "{a,b}"}, `echo '*' '?' '[a]' '{a,b}'`},
	{"operators", []string{"echo", ";", "&&", "|", ">", "<", "&", "(x)", "#c"}, `echo ';' '&&' '|' '>' '<' '&' '(x)' '#c'`},
	{"tilde and assignment", []string{"A=b", "~", "~root", "x=~"}, `'A=b' '~' '~root' 'x=~'`},
	{"unicode", []string{"echo", "héllo wörld", "日本語", "emoji 🚀", "\u00a0nbsp"}, "echo 'héllo wörld' '日本語' 'emoji 🚀' '\u00a0nbsp'"},
	{"invalid utf8", []string{"echo", "\xff\xfe"}, "echo '\xff\xfe'"},
	{"dashes", []string{"rm", "-rf", "--", "-x"}, `rm -rf -- -x`},
	{"safe punctuation", []string{"echo", "a@b%c+d:e,f.g/h-i_j"}, `echo a@b%c+d:e,f.g/h-i_j`},
}

func TestQuote(t *testing.T) {
	for _, tc := range quoteCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Quote(tc.argv); got != tc.want {
				t.Errorf("Quote(%q)\ngot  %s\nwant %s", tc.argv, got, tc.want)
			}
		})
	}
}

// TestQuoteRoundTrip hands Quote's output to real shells as command text,
// the way the remote side of SSH does, and checks that the command they
// run receives exactly argv.
func TestQuoteRoundTrip(t *testing.T) {
	shells := availableShells(t)
	for _, tc := range quoteCases {
		for _, sh := range shells {
			t.Run(tc.name+"/"+sh, func(t *testing.T) {
				if diff := cmp.Diff(shellArgs(t, sh, tc.argv), tc.argv); diff != "" {
					t.Errorf("%s saw a different argv (-got +want):\n%s", sh, diff)
				}
			})
		}
	}
}

// FuzzQuote checks the round trip for arbitrary words; NUL cannot be in an
// argv at all.
func FuzzQuote(f *testing.F) {
	for _, tc := range quoteCases {
		f.Add(strings.Join(tc.argv, "\x01"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			t.Skip()
		}
		argv := append([]string{"x"}, strings.Split(s, "\x01")...)
		if diff := cmp.Diff(shellArgs(t, "sh", argv), argv); diff != "" {
			t.Errorf("sh saw a different argv for %q (-got +want):\n%s", s, diff)
		}
	})
}

func availableShells(t *testing.T) []string {
	var shells []string
	for _, sh := range []string{"sh", "bash", "dash"} {
		if _, err := exec.LookPath(sh); err == nil {
			shells = append(shells, sh)
		}
	}
	if len(shells) == 0 {
		t.Skip("no shell to check quoting against")
	}
	return shells
}

// shellArgs runs `sh -c 'printf "%s\0" <Quote(argv)>'` and splits the
// output at NUL bytes, so that words with newlines come back intact.
func shellArgs(t *testing.T, sh string, argv []string) []string {
	t.Helper()
	out, err := exec.Command(sh, "-c", `printf '%s\0' `+Quote(argv)).Output()
	if err != nil {
		t.Fatalf("%s: %v", sh, err)
	}
	got := strings.Split(string(bytes.TrimSuffix(out, []byte{0})), "\x00")
	return got
}

func TestPidFilter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		pid    int
		rest   string
	}{
		{"marker only", []string{"gearshift-pid:42\n"}, 42, ""},
		{"split marker", []string{"gears", "hift-pid:4", "2\nerr 1\n", "err 2"}, 42, "err 1\nerr 2"},
		{"noise before", []string{"motd line\ngearshift-pid:7\nboom\n"}, 7, "motd line\nboom\n"},
		{"no marker", []string{"cd: no such dir\n", "partial"}, 0, "cd: no such dir\npartial"},
		{"marker later in output is kept", []string{"gearshift-pid:1\ngearshift-pid:2\n"}, 1, "gearshift-pid:2\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &pidFilter{}
			for _, w := range tc.writes {
				if n, err := f.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := f.pid(); got != tc.pid {
				t.Errorf("pid: got %d, want %d", got, tc.pid)
			}
			if got := string(f.Bytes()); got != tc.rest {
				t.Errorf("stderr: got %q, want %q", got, tc.rest)
			}
		})
	}
}

func TestRemoteCommand(t *testing.T) {
	got := remoteCommand([]string{"my app", "--flag=$x"}, "-dir", map[string]string{"B": "it's", "A": "1"}, []string{"HOME", "PATH"})
	want := `cd ./-dir || exit 126; ` +
		`command -v 'my app' >/dev/null || { printf '%s: command not found\n' 'my app' >&2; exit 127; }; ` +
		`printf 'gearshift-pid:%s\n' "$$" >&2; ` +
		`exec env -i -- ${HOME+"HOME=$HOME"} ${PATH+"PATH=$PATH"} ${PWD+"PWD=$PWD"} 'A=1' 'B=it'\''s' 'my app' '--flag=$x'`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// An argv[0] with "=" goes through an inner sh, or env would take it
	// for an assignment.
	got = remoteCommand([]string{"a=b", "x"}, "", nil, []string{"PATH"})
	want = `command -v 'a=b' >/dev/null || { printf '%s: command not found\n' 'a=b' >&2; exit 127; }; ` +
		`printf 'gearshift-pid:%s\n' "$$" >&2; ` +
		`exec env -i ${PATH+"PATH=$PATH"} sh -c 'exec "$@"' sh 'a=b' x`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestRemoteCommandEnvironment runs the remote prelude in real shells
// whose environment holds what an sshd session may give (SSH_CONNECTION, a
// SetEnv'd secret): the command sees the inherited names the shell has,
// the given variables, PWD, and nothing else; its argv arrives exact, an
// argv[0] with "=" included.
func TestRemoteCommandEnvironment(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "a=b")
	if err := os.WriteFile(odd, []byte("#!/bin/sh\nexec env\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	inherit := []string{"HOME", "LANG", "LC_ALL", "PATH"}
	for _, sh := range availableShells(t) {
		for _, argv := range [][]string{{"env"}, {odd}} {
			cmd := exec.Command(sh, "-c", remoteCommand(argv, dir, map[string]string{"DECLARED": "it's $HOME", "LANG": "de_DE.UTF-8"}, inherit))
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/remote", "LANG=C.UTF-8", "SSH_CONNECTION=127.0.0.1 1 127.0.0.1 22", "SSHD_SECRET=leak", "USER=remote"}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", sh, err)
			}
			got := strings.Split(strings.TrimSpace(string(out)), "\n")
			slices.Sort(got)
			want := []string{"DECLARED=it's $HOME", "HOME=/home/remote", "LANG=de_DE.UTF-8", "PATH=" + os.Getenv("PATH"), "PWD=" + dir}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("%s running %s: environment (-got +want):\n%s", sh, argv[0], diff)
			}
		}
	}
}
