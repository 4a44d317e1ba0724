package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/bump"
	"github.com/gearshift-dev/gearshift/internal/bump/rebuild"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
)

// rebuildAll carries out the rebuilds bump decided, one after the other
// (each is a clone, a command and a push), and returns their results and
// how many failed. With --dry-run nothing is cloned, run or pushed: the
// results only list them.
func (e *env) rebuildAll(ctx context.Context, c *gitops.Checkout, dryRun bool, rbs []*bump.Rebuild) ([]rebuild.Result, int) {
	out := make([]rebuild.Result, 0, len(rbs))
	if dryRun {
		for _, rb := range rbs {
			out = append(out, rebuild.Result{Rebuild: rb})
		}
		return out, 0
	}
	var ghHosts []string
	if u, err := url.Parse(e.getenv("GITHUB_SERVER_URL")); err == nil && u.Hostname() != "" {
		ghHosts = append(ghHosts, u.Hostname())
	}
	footer := fmt.Sprintf("Proposed by gearshift %s (bump, from `%s` at `%s`). A later run updates this pull request; close it to decline.",
		Version, strings.ReplaceAll(c.Source, "`", "'"), shortHash(c.Commit))
	o := rebuild.Options{Auth: e.gitAuth(), Forge: e.forgeFor, Footer: footer, GitHubHosts: ghHosts}
	failed := 0
	for _, rb := range rbs {
		r := rebuild.Run(ctx, rb, o)
		if r.Error != "" {
			failed++
		}
		out = append(out, r)
	}
	return out, failed
}

// forgeFor is the GitHub forge of repository (owner/name), with the
// credentials and settings of the state repository's (githubForge).
func (e *env) forgeFor(repository string) (forge.Forge, error) {
	saved := e.githubRepo
	defer func() { e.githubRepo = saved }()
	e.githubRepo = repository
	return e.githubForge("")
}

// renderRebuilds prints what the rebuilds did, after the proposals.
func renderRebuilds(w io.Writer, dryRun bool, rs []rebuild.Result) {
	w = inert.NewWriter(w)
	for _, r := range rs {
		what := fmt.Sprintf("%s (%s) against %s %s", gitops.RedactURL(r.Repository), strings.Join(r.Units, ", "), r.Framework, r.To)
		switch {
		case dryRun:
			fmt.Fprintf(w, "would rebuild %s: %s on %s, then %s\n", what, strings.Join(r.Command, " "), r.Branch, pushVerb(r))
		case r.Error != "":
			fmt.Fprintf(w, "rebuild FAILED %s:\n    error: %s\n", what, r.Error)
		case r.Unchanged:
			fmt.Fprintf(w, "rebuild %s: %s changed nothing on %s\n", what, strings.Join(r.Command, " "), r.Branch)
		case r.PullRequest != nil:
			verb := "updated"
			if r.Created {
				verb = "opened"
			}
			fmt.Fprintf(w, "rebuild %s: %s #%d from %s (commit %s)\n    %s\n", what, verb, r.PullRequest.Number, r.Pushed, shortHash(r.Commit), r.PullRequest.URL)
		default:
			fmt.Fprintf(w, "rebuild %s: pushed %s to %s\n", what, shortHash(r.Commit), r.Pushed)
		}
	}
}

func pushVerb(r rebuild.Result) string {
	if r.Push == "branch" {
		return "push to " + r.Branch
	}
	return "a pull request from " + r.WorkBranch
}
