package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/rogpeppe/go-internal/txtar"
)

const (
	tutorialDoc    = "../../docs/tutorial.md"
	tutorialScript = "testdata/tutorial/tutorial.txtar"
)

// TestTutorial runs docs/tutorial.md's commands (testdata/tutorial/
// tutorial.txtar) for real on this machine: init, validate, plan, apply,
// a new version, status, rollback, bump --dry-run against a local git
// repository, and a prune. Every process the applies started is stopped
// at the end, whether the script passed or not.
func TestTutorial(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/tutorial",
		Setup: func(e *testscript.Env) error {
			e.Setenv("NO_COLOR", "1")
			work := e.WorkDir
			e.Defer(func() { stopProcessesUnder(work) })
			return nil
		},
	})
}

// stopProcessesUnder kills every process of this user whose working
// directory is under dir: the units the tutorial's applies started run in
// their release directories there.
func stopProcessesUnder(dir string) {
	cwds, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, c := range cwds {
		wd, err := os.Readlink(c)
		if err != nil || (wd != dir && !strings.HasPrefix(wd, dir+"/")) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(c))); err == nil && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestTutorialInScript fails when docs/tutorial.md and tutorial.txtar
// part: every command of a ```sh block of the tutorial must be a command
// of the script, in the same order (with exec, or a builtin such as cd),
// and every ```cue block whose first line names a file ("// file: P") must
// be a file of the script's archive ending in P's base name, byte for byte.
func TestTutorialInScript(t *testing.T) {
	doc, err := os.ReadFile(tutorialDoc)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := txtar.ParseFile(tutorialScript)
	if err != nil {
		t.Fatal(err)
	}
	cmds := map[string]bool{}
	var order []string
	for _, line := range strings.Split(string(ar.Comment), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "! ")
		line = strings.TrimPrefix(line, "exec ")
		cmds[line] = true
		order = append(order, line)
	}
	files := map[string]string{}
	for _, f := range ar.Files {
		files[filepath.Base(f.Name)] = string(f.Data)
	}
	shCmds, cueFiles, next := 0, 0, 0
	for _, b := range fencedBlocks(string(doc)) {
		switch b.lang {
		case "sh":
			for _, line := range strings.Split(b.text, "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				shCmds++
				if !cmds[line] {
					t.Errorf("docs/tutorial.md:%d: command %q is not run by %s", b.line, line, tutorialScript)
					continue
				}
				// In the tutorial's order: the next such command of the script.
				i := slices.Index(order[next:], line)
				if i < 0 {
					t.Errorf("docs/tutorial.md:%d: command %q is run by %s, but not after the commands before it", b.line, line, tutorialScript)
					continue
				}
				next += i + 1
			}
		case "cue":
			m := regexp.MustCompile(`^// file: (\S+)\n`).FindStringSubmatch(b.text)
			if m == nil {
				continue
			}
			cueFiles++
			body := strings.TrimPrefix(b.text, m[0])
			got, ok := files[filepath.Base(m[1])]
			if !ok {
				t.Errorf("docs/tutorial.md:%d: file %s is not in %s", b.line, m[1], tutorialScript)
			} else if got != body {
				t.Errorf("docs/tutorial.md:%d: file %s differs from %s's:\n%s\nwant\n%s", b.line, m[1], tutorialScript, body, got)
			}
		}
	}
	// The tutorial is not empty: it has the commands from init to bump.
	for _, want := range []string{"gearshift init my-state", "gearshift validate", "gearshift plan", "gearshift apply dev", "gearshift status dev", "gearshift rollback dev hello", "gearshift bump --dry-run"} {
		if !cmds[want] {
			t.Errorf("%s does not run %q", tutorialScript, want)
		}
	}
	if shCmds < 20 || cueFiles < 1 {
		t.Errorf("docs/tutorial.md has %d commands and %d files: the check found too little", shCmds, cueFiles)
	}
}

type fenced struct {
	lang, text string
	line       int
}

// fencedBlocks returns the ``` blocks of a Markdown text with their
// language and the line they start at.
func fencedBlocks(md string) []fenced {
	var out []fenced
	var cur *fenced
	var body []string
	sc := bufio.NewScanner(strings.NewReader(md))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &fenced{lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: n}
			body = nil
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.text = strings.Join(body, "\n") + "\n"
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, line)
		}
	}
	return out
}
