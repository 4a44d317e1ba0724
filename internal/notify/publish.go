package notify

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/release"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Run is what an apply (or a rollback, which tags no release) publishes, in the order a reader of GitHub
// expects: deployments in_progress when an environment's plan is carried
// out (Started); then, when it is done (Finished), the release tags (and
// GitHub releases), the deployments' final states and the notifications.
// Its two methods are apply.Options.Started and Finished.
type Run struct {
	Getenv   func(string) string
	Redactor *redact.Redactor
	// Checkout is the state repository's current checkout (apply may
	// open it again, --lock-wait).
	Checkout func() *gitops.Checkout
	Auth     gitops.Auth
	Now      func() time.Time
	// GitHub is the forge of owner/repo ("": GITHUB_REPOSITORY); an error
	// without a token.
	GitHub func(repo string) (*forge.GitHub, error)
	// Stderr receives a line for each thing that failed.
	Stderr io.Writer

	deployments *Deployments
	sender      *Sender
}

// RunURL is the GitHub Actions run's page, from GITHUB_SERVER_URL,
// GITHUB_REPOSITORY and GITHUB_RUN_ID, or "" outside a run.
func RunURL(getenv func(string) string) string {
	server, repo, id := strings.TrimSuffix(getenv("GITHUB_SERVER_URL"), "/"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || id == "" || strings.ContainsAny(id+repo, "?#@ ") {
		return ""
	}
	return server + "/" + repo + "/actions/runs/" + id
}

func (p *Run) init() {
	if p.sender != nil {
		return
	}
	p.sender = &Sender{Getenv: p.Getenv, Redactor: p.Redactor}
	p.deployments = &Deployments{LogURL: RunURL(p.Getenv), Redact: p.Redactor.String}
	if g, err := p.GitHub(""); err == nil {
		p.sender.GitHub = g
		p.deployments.API = g
	}
}

// Started records the GitHub deployments of env's plan, in_progress.
func (p *Run) Started(ctx context.Context, env *state.Environment, pe *plan.Environment) {
	p.init()
	if c := p.Checkout(); c != nil {
		p.deployments.Ref = c.Commit
	}
	p.deployments.Start(ctx, env, pe)
}

// Finished publishes what env declares after its run, appends the
// reports to res.Published and says on stderr what failed. A release tag
// that could not be created fails the run (res.Errors): the step the
// state asked for did not happen, and a re-run, which has nothing to
// deploy, creates it. Nothing else fails it.
func (p *Run) Finished(ctx context.Context, env *state.Environment, res *apply.EnvResult) {
	p.init()
	c := p.Checkout()
	commit, ref := "", ""
	if c != nil {
		commit, ref = c.Commit, c.Ref
	}
	logURL := RunURL(p.Getenv)
	var gh func(string) (release.Publisher, error)
	if p.GitHub != nil {
		gh = func(repo string) (release.Publisher, error) { return p.GitHub(repo) }
	}
	command := "apply"
	if res.Command == CommandRollback {
		// A rollback leaves the environment off its desired state: it
		// tags no release.
		command = CommandRollback
	} else {
		rels := release.Publish(ctx, release.Input{Env: env, Result: res, Checkout: c, Auth: p.Auth, Now: p.Now(), GitHub: gh, LogURL: logURL})
		for _, r := range rels {
			if r.Outcome == release.Failed && r.Kind == release.KindTag {
				res.Errors = append(res.Errors, fmt.Sprintf("release tag %s: %s", r.Name, r.Error))
			}
		}
		res.Published = append(res.Published, rels...)
	}
	res.Published = append(res.Published, p.deployments.Finish(ctx, env, res)...)
	if len(env.Notifications) > 0 {
		ev := NewEvent(res, commit, ref, logURL, p.Redactor.String)
		ev.Seconds = p.Now().Sub(res.Started).Seconds()
		res.Published = append(res.Published, p.sender.Send(ctx, env.Notifications, ev)...)
	}
	for i, r := range res.Published {
		res.Published[i].Error = p.Redactor.String(r.Error)
		res.Published[i].Detail = p.Redactor.String(r.Detail)
		if r.Outcome == Failed && p.Stderr != nil {
			fmt.Fprintf(p.Stderr, "gearshift %s: %s: %s %s failed: %s\n", command, env.Name, r.Kind, r.Name, res.Published[i].Error)
		}
	}
}
