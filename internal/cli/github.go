package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/actions"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/report"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// secretVars are the environment variables whose values are masked in the
// log of a GitHub Actions run before anything is printed, and redacted from
// everything gearshift writes (runSecrets).
var secretVars = []string{"GITHUB_TOKEN", "GEARSHIFT_GIT_TOKEN", "GH_TOKEN",
	"ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GEARSHIFT_WEBHOOK_SECRET"}

// secretName matches the names of variables that hold a secret by
// convention (AWS_SECRET_ACCESS_KEY, VAULT_TOKEN, DB_PASSWORD...).
var secretName = regexp.MustCompile(`(?i)(TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|CREDENTIAL|PRIVATE|_KEY$|^KEY$|AUTH)`)

// runSecrets is the run's Redactor: the values of secretVars, and of the
// variables GEARSHIFT_PASS_ENV gives the state's commands (internal/proc)
// whose names say they are secrets.
func runSecrets(getenv func(string) string) *redact.Redactor {
	r := redact.New()
	for _, v := range secretVars {
		r.Add(strings.TrimSpace(getenv(v)))
	}
	for v := range strings.SplitSeq(getenv("GEARSHIFT_PASS_ENV"), ",") {
		if v = strings.TrimSpace(v); secretName.MatchString(v) {
			r.Add(getenv(v))
		}
	}
	return r
}

// actions is the GitHub Actions run gearshift is part of (inactive outside
// Actions), read once per run.
func (e *env) actions() (*actions.Actions, error) {
	if e.gha != nil {
		return e.gha, nil
	}
	// Workflow commands go to stderr, never stdout, so that stdout is the
	// command's output alone (plan -o json is a JSON document); the runner
	// reads workflow commands from both streams. It reads add-mask
	// commands, which carry the secret, from the stream before redaction;
	// Actions redacts the rest itself.
	out := e.rawStderr
	if out == nil {
		out = e.stderr
	}
	a, err := actions.FromEnv(e.getenv, out)
	if err != nil {
		return nil, err
	}
	a.SetRedactor(e.redact.Func())
	e.gha = a
	return a, nil
}

// maskSecrets tells the runner to hide every token gearshift may be given,
// before any command prints a line.
func (e *env) maskSecrets() error {
	a, err := e.actions()
	if err != nil {
		return err
	}
	for _, v := range secretVars {
		a.Mask(e.getenv(v))
	}
	return a.Err()
}

// untrusted prints what write writes to stdout; inside Actions it is
// framed by ::stop-commands:: with a random token, so that a unit name, a
// driver's message or a tag can never be taken for a workflow command. The
// framing goes on stdout with the text it protects: the runner reads
// stdout and stderr as two streams, in no order between them, so a frame
// on stderr could be read after the text it was to disarm. (JSON output is
// never framed: every line of it starts with a bracket, a quote or
// white space.)
func (e *env) untrusted(write func(w io.Writer) error) error {
	a, err := e.actions()
	if err != nil || !a.Active() {
		return write(e.stdout)
	}
	token, err := stopToken()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	werr := write(&b)
	fmt.Fprintf(&b, "::%s::\n", token)
	_, err = fmt.Fprintf(e.stdout, "::stop-commands::%s\n%s", token, b.Bytes())
	if werr != nil {
		return werr
	}
	return err
}

// framed is untrusted for any writer (stderr): error messages quote files,
// tags and servers' answers.
func (e *env) framed(w io.Writer, write func(w io.Writer)) {
	a, err := e.actions()
	if err != nil || !a.Active() {
		write(w)
		return
	}
	token, err := stopToken()
	if err != nil {
		write(w)
		return
	}
	fmt.Fprintf(w, "::stop-commands::%s\n", token)
	write(w)
	fmt.Fprintf(w, "::%s::\n", token)
}

func stopToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "gearshift-" + hex.EncodeToString(b[:]), nil
}

// githubForge is the forge of --github-repo or GITHUB_REPOSITORY, with
// GITHUB_TOKEN and GITHUB_API_URL (GitHub Enterprise, or a test server).
func (e *env) githubForge(hint string) (forge.Forge, error) {
	repo := e.githubRepo
	if repo == "" {
		repo = e.getenv("GITHUB_REPOSITORY")
	}
	if repo == "" {
		return nil, fmt.Errorf("no GitHub repository to open pull requests in: pass --github-repo owner/repo or set GITHUB_REPOSITORY")
	}
	owner, name, err := forge.ParseRepository(repo)
	if err != nil {
		return nil, err
	}
	token := e.getenv("GITHUB_TOKEN")
	if token == "" {
		return nil, fmt.Errorf("GITHUB_TOKEN is not set: a token with contents: write and pull-requests: write is needed for %s", repo)
	}
	// Request bodies (comments, pull requests) are redacted on their way.
	opts := []forge.Option{forge.WithLogger(e.log), forge.WithTruncationHint(hint),
		forge.WithHTTPClient(&http.Client{Transport: e.redact.Transport(nil)})}
	if api := e.getenv("GITHUB_API_URL"); api != "" {
		opts = append(opts, forge.WithBaseURL(strings.TrimSuffix(api, "/")+"/"))
	}
	// Only comments written by gearshift's own identity are edited (see
	// forge.GitHub.Identity): the token's user, or GEARSHIFT_BOT_LOGIN for a
	// GitHub App's installation token, or in Actions GITHUB_TOKEN's bot.
	if login := e.getenv("GEARSHIFT_BOT_LOGIN"); login != "" {
		opts = append(opts, forge.WithLogin(login))
	}
	if e.getenv("GITHUB_ACTIONS") == "true" {
		opts = append(opts, forge.WithFallbackLogin("github-actions[bot]"))
	}
	return forge.NewGitHub(owner, name, token, opts...)
}

// commentMarker names the sticky comment of a plan of these environments:
// one comment per pull request for each set (each job of a matrix).
func commentMarker(names []string) string {
	if len(names) == 0 {
		return "plan"
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return "plan:" + strings.Join(sorted, "+")
}

// publishPlan is plan's part of a GitHub Actions run: annotations on the
// CUE lines of violations, the step summary, the sticky pull request
// comment and the step outputs. A comment that cannot be posted (a fork's
// read-only token) is a warning: the plan itself is the check's result.
func (e *env) publishPlan(ctx context.Context, a *actions.Actions, p *plan.Plan, names []string, jsonPath string) error {
	for _, pe := range p.Environments {
		for _, v := range pe.Violations {
			level := actions.LevelWarning
			switch {
			case v.Blocking():
				level = actions.LevelError
			case v.Waived != nil || v.Severity == plan.Bump:
				level = actions.LevelNotice
			}
			file, line, col := e.annotationPos(v.Pos)
			a.Annotate(level, file, line, col, fmt.Sprintf("gearshift %s: %s/%s", v.Rule, pe.Name, v.Unit), v.Message)
		}
		if pe.Unrecorded() {
			// One warning for the environment, not one per unit.
			a.Annotate(actions.LevelWarning, "", 0, 0, "gearshift: "+pe.Name+" not observed",
				fmt.Sprintf("no status record of %s on %s yet: its %s not observed", pe.Name, pe.StatusRecord.Branch, plural(len(pe.NotObserved), "unit was", "units were")))
			continue
		}
		for _, ue := range pe.Errors {
			a.Annotate(actions.LevelWarning, "", 0, 0, "gearshift: "+pe.Name+"/"+ue.Unit+" not observed", ue.Error)
		}
	}
	md := report.Markdown(p, report.MarkdownOptions{Footer: e.planFooter()})
	if err := a.StepSummary(md); err != nil {
		e.log.Warn("step summary", "err", err)
	}
	e.comment(ctx, a, commentMarker(names), func(limit int) string {
		return report.Markdown(p, report.MarkdownOptions{Footer: e.planFooter(), Limit: limit})
	})
	s := p.Summarize()
	outputs := map[string]string{
		"has_changes": strconv.FormatBool(s.HasChanges()),
		"denied":      strconv.FormatBool(s.Blocking > 0),
		"plan_json":   jsonPath,
	}
	for _, k := range []string{"has_changes", "denied", "plan_json"} {
		if err := a.SetOutput(k, outputs[k]); err != nil {
			return err
		}
	}
	return a.Err()
}

// publishInvalid is the Actions part of a plan of an invalid state: each
// mistake annotated on its line, and the comment says the state is invalid.
func (e *env) publishInvalid(ctx context.Context, a *actions.Actions, diags state.Diagnostics, names []string) {
	e.annotateInvalid(a, diags)
	var b strings.Builder
	fmt.Fprintf(&b, "## ⛔ gearshift plan\n\n**The state is invalid: %s.** Nothing was planned.\n\n", plural(len(diags), "mistake", "mistakes"))
	for _, d := range diags {
		fmt.Fprintf(&b, "- `%s`: %s\n", strings.ReplaceAll(d.Pos.String(), "`", "'"), mdText(d.Path, d.Msg))
	}
	if f := e.planFooter(); f != "" {
		b.WriteString("\n" + f + "\n")
	}
	md := b.String()
	if err := a.StepSummary(md); err != nil {
		e.log.Warn("step summary", "err", err)
	}
	e.comment(ctx, a, commentMarker(names), func(int) string { return md })
	for _, k := range [][2]string{{"has_changes", "false"}, {"denied", "false"}, {"plan_json", ""}} {
		if err := a.SetOutput(k[0], k[1]); err != nil {
			e.log.Warn("step output", "name", k[0], "err", err)
		}
	}
}

// annotateInvalid annotates each mistake of an invalid state at its
// file:line:column (validate and plan in Actions).
func (e *env) annotateInvalid(a *actions.Actions, diags state.Diagnostics) {
	for _, d := range diags {
		file, line, col := e.annotationPos(d.Pos)
		msg := d.Msg
		if d.Path != "" {
			msg = d.Path + ": " + msg
		}
		a.Annotate(actions.LevelError, file, line, col, "gearshift: invalid state", msg)
	}
}

// comment keeps the sticky comment of marker on the run's pull request up
// to date, when the run is about one.
func (e *env) comment(ctx context.Context, a *actions.Actions, marker string, render func(limit int) string) {
	number, ok := a.PullRequestNumber()
	if !ok {
		return
	}
	head, err := forge.MarkerComment(marker)
	if err != nil {
		e.log.Warn("pull request comment", "err", err)
		return
	}
	limit := forge.MaxBodyLength - len(head) - 1
	body := forge.Truncate(render(limit), limit, a.RunURL())
	f, err := e.githubForge(runHint(a))
	if err == nil {
		err = f.UpsertComment(ctx, number, marker, body)
	}
	if err != nil {
		a.Annotate(actions.LevelWarning, "", 0, 0, "gearshift: no plan comment", err.Error())
		fmt.Fprintf(e.stderr, "gearshift plan: the plan comment on #%d was not updated: %v\n", number, err)
	}
}

func runHint(a *actions.Actions) string {
	if u := a.RunURL(); u != "" {
		return "The full plan is in the run: " + u
	}
	return ""
}

// planFooter says which commit of the state repository a plan is of.
func (e *env) planFooter() string {
	if e.co == nil || e.co.Commit == "" {
		return ""
	}
	return fmt.Sprintf("<sub>gearshift %s · state at `%s`</sub>", Version, shortHash(e.co.Commit))
}

// annotationPos turns a position relative to the state root into one
// relative to the workspace the workflow checked out, where GitHub expects
// annotation files to be.
func (e *env) annotationPos(p state.Pos) (string, int, int) {
	if !p.IsValid() {
		return "", 0, 0
	}
	file := p.File
	if ws := e.getenv("GITHUB_WORKSPACE"); ws != "" && e.co != nil && !filepath.IsAbs(file) {
		if rel, err := filepath.Rel(ws, e.co.Dir); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			file = filepath.ToSlash(filepath.Join(rel, file))
		}
	}
	return file, p.Line, p.Col
}

// planJSONPath is where the plan JSON goes for the plan_json output: the
// --json-out file, or a new file in the runner's temporary directory.
func (e *env) planJSONPath(jsonOut string) (string, error) {
	if jsonOut != "" {
		return jsonOut, nil
	}
	f, err := os.CreateTemp(e.getenv("RUNNER_TEMP"), "gearshift-plan-*.json")
	if err != nil {
		return "", err
	}
	name := f.Name()
	return name, f.Close()
}

func mdText(path, msg string) string {
	if path != "" {
		msg = path + ": " + msg
	}
	return inert.Markdown(msg)
}
