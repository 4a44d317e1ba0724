package actions

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"
)

// Level is the severity of an annotation.
type Level string

// The annotation levels GitHub shows on a file and in the run summary.
const (
	LevelError   Level = "error"
	LevelWarning Level = "warning"
	LevelNotice  Level = "notice"
)

// MaxStepSummary is the size GitHub accepts for one step's summary; a larger
// summary is dropped whole, so StepSummary truncates instead.
const MaxStepSummary = 1 << 20

// Actions is the GitHub Actions run gearshift is part of, or, outside
// Actions, a no-op.
type Actions struct {
	active bool
	getenv func(string) string
	gha    *githubactions.Action
	out    *stickyWriter
	ctx    *githubactions.GitHubContext
	// redact masks secrets in everything but add-mask commands.
	redact func(string) string

	mu sync.Mutex // serialises writes to the output and summary files
}

// FromEnv reads the run from environment variables through getenv
// (os.Getenv in production) and writes workflow commands to w, where the
// runner reads them: gearshift passes stderr, so that stdout is a command's
// output alone (the runner reads workflow commands from both streams). It is active when GITHUB_ACTIONS is "true"; then
// the event payload at GITHUB_EVENT_PATH is read, and a payload that cannot
// be read or parsed is an error.
func FromEnv(getenv func(string) string, w io.Writer) (*Actions, error) {
	a := &Actions{getenv: getenv, out: &stickyWriter{w: w}, redact: func(s string) string { return s }}
	if getenv("GITHUB_ACTIONS") != "true" {
		return a, nil
	}
	a.active = true
	a.gha = githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(a.out))
	// Context also reports unparsable numeric variables (GITHUB_RUN_ID...)
	// with a usable context: those only cost the run URL, so they are
	// tolerated; an unreadable event payload is not.
	ctx, err := a.gha.Context()
	if ctx == nil {
		return nil, fmt.Errorf("read the github actions event payload: %w", err)
	}
	a.ctx = ctx
	return a, nil
}

// SetRedactor makes every annotation, log group title, output and step
// summary pass through redact (internal/redact), which replaces the run's
// secrets by ***. The runner masks its log too, but not the step summary
// or outputs, and only the values it was told of; Mask's add-mask commands
// are not redacted, as they must name the secret. nil redacts nothing.
func (a *Actions) SetRedactor(redact func(string) string) {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	a.redact = redact
}

// Active reports whether gearshift runs inside GitHub Actions.
func (a *Actions) Active() bool { return a.active }

// Err returns the first error met writing workflow commands.
// go-githubactions panics on such an error; Actions records it instead so a
// closed stream cannot crash a run halfway through an apply.
func (a *Actions) Err() error { return a.out.err() }

// Mask tells the runner to replace secret by *** in every later log line.
// A multi-line secret is masked whole and line by line, since the runner
// matches within one line. Call it before anything could print the secret.
func (a *Actions) Mask(secret string) {
	if !a.active || strings.TrimSpace(secret) == "" {
		return
	}
	a.gha.AddMask(secret)
	if !strings.ContainsAny(secret, "\r\n") {
		return
	}
	for line := range strings.SplitSeq(strings.ReplaceAll(secret, "\r\n", "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			a.gha.AddMask(line)
		}
	}
}

var outputNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,99}$`)

// SetOutput sets the step output name to value, which may span lines and
// come from untrusted input (a plan, a PR title): it is written in the
// heredoc form with a fresh random delimiter, so no value can end the
// heredoc early and forge other outputs, which go-githubactions' fixed
// delimiter allows.
func (a *Actions) SetOutput(name, value string) error {
	if !a.active {
		return nil
	}
	if !outputNameRE.MatchString(name) {
		return fmt.Errorf("invalid step output name %q: want letters, digits, _ and -", name)
	}
	value = a.redact(value)
	delim, err := delimiter()
	if err != nil {
		return err
	}
	if strings.Contains(value, delim) {
		return fmt.Errorf("step output %s: value contains the heredoc delimiter", name)
	}
	return a.appendFile("GITHUB_OUTPUT", name+"<<"+delim+"\n"+value+"\n"+delim+"\n")
}

func delimiter() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random heredoc delimiter: %w", err)
	}
	return "ghadelimiter_" + hex.EncodeToString(b[:]), nil
}

// StepSummary appends markdown to the step summary shown on the run's page.
// What would push the summary past MaxStepSummary is cut at a line
// boundary, with a note, because GitHub drops an oversized summary whole.
func (a *Actions) StepSummary(markdown string) error {
	if !a.active {
		return nil
	}
	markdown = a.redact(markdown)
	path := a.getenv("GITHUB_STEP_SUMMARY")
	var used int64
	if path != "" {
		if fi, err := os.Stat(path); err == nil {
			used = fi.Size()
		}
	}
	if !strings.HasSuffix(markdown, "\n") {
		markdown += "\n"
	}
	if room := MaxStepSummary - int(used); len(markdown) > room {
		markdown = truncateLines(markdown, room, "\n:warning: The step summary reached GitHub's limit of 1 MiB; the rest is in the job log.\n")
	}
	return a.appendFile("GITHUB_STEP_SUMMARY", markdown)
}

// truncateLines keeps the whole lines of s that fit in limit bytes together
// with note, then note; if not even note fits, nothing.
func truncateLines(s string, limit int, note string) string {
	budget := limit - len(note)
	if budget < 0 {
		return ""
	}
	kept := s[:budget]
	if i := strings.LastIndexByte(kept, '\n'); i >= 0 {
		kept = kept[:i+1]
	} else {
		kept = ""
	}
	return kept + note
}

// appendFile appends text to the file named by the environment variable
// env, as the runner expects of its file commands.
func (a *Actions) appendFile(env, text string) error {
	path := a.getenv(env)
	if path == "" {
		return fmt.Errorf("%s is not set: is this a github actions step?", env)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", env, err)
	}
	_, err = io.WriteString(f, text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", env, err)
	}
	return nil
}

// Annotate shows msg on file at line and col (each left out when zero) in
// the pull request's diff and the run summary. An unknown level is shown
// as an error, so that a mistake is loud rather than lost. Messages and
// properties are escaped by go-githubactions, so untrusted text cannot
// start another workflow command.
func (a *Actions) Annotate(level Level, file string, line, col int, title, msg string) {
	if !a.active {
		return
	}
	file, title, msg = a.redact(file), a.redact(title), a.redact(msg)
	fields := map[string]string{}
	if file != "" {
		fields["file"] = file
		if line > 0 {
			fields["line"] = strconv.Itoa(line)
			if col > 0 {
				fields["col"] = strconv.Itoa(col)
			}
		}
	}
	if title != "" {
		fields["title"] = title
	}
	gha := a.gha.WithFieldsMap(fields)
	switch level {
	case LevelWarning:
		gha.Warningf("%s", msg)
	case LevelNotice:
		gha.Noticef("%s", msg)
	default:
		gha.Errorf("%s", msg)
	}
}

// Group starts a collapsible group of log lines, up to EndGroup.
func (a *Actions) Group(title string) {
	if a.active {
		a.gha.Group(a.redact(title))
	}
}

// EndGroup ends the group Group started.
func (a *Actions) EndGroup() {
	if a.active {
		a.gha.EndGroup()
	}
}

// EventName is the event that triggered the run (pull_request, push,
// schedule...), or "" outside Actions.
func (a *Actions) EventName() string {
	if !a.active {
		return ""
	}
	return a.ctx.EventName
}

// Repository is the "owner/repo" the run belongs to (GITHUB_REPOSITORY).
func (a *Actions) Repository() string {
	if !a.active {
		return ""
	}
	return a.ctx.Repository
}

// APIURL is the REST API of the GitHub the run belongs to: api.github.com
// or a GitHub Enterprise Server's /api/v3.
func (a *Actions) APIURL() string {
	if !a.active {
		return ""
	}
	return a.ctx.APIURL
}

// RunURL is the page of this run, where a truncated comment can send its
// reader for the full plan, or "" when it cannot be known.
func (a *Actions) RunURL() string {
	if !a.active || a.ctx.RunID == 0 || a.ctx.Repository == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s/actions/runs/%d", strings.TrimSuffix(a.ctx.ServerURL, "/"), a.ctx.Repository, a.ctx.RunID)
}

// PullRequestNumber is the number of the pull request the run is about:
// that of a pull_request or pull_request_target event, or of an
// issue_comment event on a pull request.
func (a *Actions) PullRequestNumber() (int, bool) {
	if !a.active {
		return 0, false
	}
	if pr, ok := a.ctx.Event["pull_request"].(map[string]any); ok {
		return number(pr["number"])
	}
	if issue, ok := a.ctx.Event["issue"].(map[string]any); ok {
		if _, isPR := issue["pull_request"].(map[string]any); isPR {
			return number(issue["number"])
		}
	}
	return 0, false
}

// number converts a JSON number that must be a positive integer.
func number(v any) (int, bool) {
	f, ok := v.(float64)
	if !ok || f < 1 || f > 1<<31 || f != float64(int(f)) {
		return 0, false
	}
	return int(f), true
}

// IsForkPR reports whether the run is about a pull request whose head is in
// another repository than its base. Such a run must not be given
// credentials for targets; a head repository that is gone counts as a fork.
func (a *Actions) IsForkPR() bool {
	if !a.active {
		return false
	}
	pr, ok := a.ctx.Event["pull_request"].(map[string]any)
	if !ok {
		return false
	}
	head, base := repoFullName(pr, "head"), repoFullName(pr, "base")
	return head == "" || !strings.EqualFold(head, base)
}

func repoFullName(pr map[string]any, side string) string {
	s, _ := pr[side].(map[string]any)
	repo, _ := s["repo"].(map[string]any)
	name, _ := repo["full_name"].(string)
	return name
}

// stickyWriter never fails a write, so go-githubactions never panics; it
// keeps the first error for Err.
type stickyWriter struct {
	w     io.Writer
	mu    sync.Mutex
	first error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == nil {
		if _, err := s.w.Write(p); err != nil {
			s.first = fmt.Errorf("write a workflow command: %w", err)
		}
	}
	return len(p), nil
}

func (s *stickyWriter) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first
}
