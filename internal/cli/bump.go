package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gearshift-dev/gearshift/internal/bump"
	"github.com/gearshift-dev/gearshift/internal/bump/rebuild"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// prFlags are shared by the commands that open pull requests.
type prFlags struct {
	dryRun bool
	base   string
}

func (f *prFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.dryRun, "dry-run", false, "only show the pull requests that would be opened: no commit, push or pull request")
	fs.StringVar(&f.base, "base", "", "the branch pull requests merge into (default: the branch of the state repository checked out)")
}

func bumpCmd() *command {
	var pf prFlags
	var envs []string
	return &command{
		acts:     true,
		name:     "bump",
		usage:    "bump [--env ENV]... [--dry-run]",
		summary:  "Open a pull request for each new framework release and each tracked unit's new release (from git tags).",
		example:  "  gearshift bump --dry-run\n  gearshift bump --env staging --base main",
		envFlags: []string{"env"},
		flags: func(fs *pflag.FlagSet) {
			pf.add(fs)
			fs.StringSliceVar(&envs, "env", nil, "only bump the units of this environment (repeatable); a framework's own fields are shared and always bumped")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected arguments %q: name environments with --env", args)
			}
			// discover: load desired -> list release tags -> proposals
			c, err := e.checkout(ctx)
			if err != nil {
				return err
			}
			if err := checkEnvironments(c.Dir, envs...); err != nil {
				return err
			}
			st, err := state.Load(ctx, c.Dir, nil, state.Options{Now: e.now, Limits: e.loadLimits})
			if err != nil {
				return err
			}
			res, err := bump.Discover(ctx, st, bump.Options{Tags: gitops.NewTagLister(e.gitAuth()), Now: e.now(), Envs: envs})
			if err != nil {
				return err
			}
			// propose: edit -> commit -> push -> pull request, each
			out := proposalsOut{Command: "bump", DryRun: pf.dryRun, Skipped: res.Skipped, Errors: res.Errors}
			failed := e.proposeAll(ctx, c, pf, res.Proposals, nil, &out)
			// rebuild: units' own repositories (bump_rebuild.go)
			rebuilt, rfailed := e.rebuildAll(ctx, c, pf.dryRun, res.Rebuilds)
			out.Rebuilds, failed = rebuilt, failed+rfailed
			if err := e.renderProposals(out); err != nil {
				return err
			}
			if failed > 0 || len(res.Errors) > 0 {
				return withCode(ExitFailure, nil)
			}
			return nil
		},
	}
}

// proposalsOut is the result of bump and promote, as JSON.
// It is printed as proposalsDoc.
type proposalsOut struct {
	Command   string
	DryRun    bool
	Proposals []proposalOut
	Skipped   []bump.Skipped
	Errors    []bump.SourceError

	// Rebuilds are bump's updates of units' own repositories.
	Rebuilds []rebuild.Result
}

type proposalOut struct {
	*bump.Proposal
	PullRequest *prOut
	Error       string
}

type prOut struct {
	Number  int    `json:"number"`
	URL     string `json:"url"`
	Created bool   `json:"created"`
}

// proposalsFormatVersion is the version of the bump and promote JSON
// document (docs/json.md). 2: a change's env/old/new are
// environment/from/to, as in the plan; so is a skipped unit's and an
// evidence's env.
const proposalsFormatVersion = "2"

// proposalsDoc is proposalsOut as printed by -o json: the plan's words
// for the same things (environment, unit, from, to, version).
type proposalsDoc struct {
	FormatVersion string             `json:"format_version"`
	Command       string             `json:"command"`
	DryRun        bool               `json:"dry_run"`
	Proposals     []proposalDoc      `json:"proposals"`
	Skipped       []skippedDoc       `json:"skipped"`
	Errors        []bump.SourceError `json:"errors"`

	Rebuilds []rebuild.Result `json:"rebuilds,omitempty"`
}

type proposalDoc struct {
	Kind        bump.Kind   `json:"kind"`
	Branch      string      `json:"branch"`
	Key         string      `json:"key"`
	Title       string      `json:"title"`
	Changes     []changeDoc `json:"changes"`
	Notes       []string    `json:"notes,omitempty"`
	PullRequest *prOut      `json:"pull_request,omitempty"`
	Error       string      `json:"error,omitempty"`
}

type changeDoc struct {
	// Environment and Unit are empty for a framework's own fields.
	Environment string       `json:"environment,omitempty"`
	Unit        string       `json:"unit,omitempty"`
	Field       string       `json:"field"`
	From        string       `json:"from"`
	To          string       `json:"to"`
	Pos         state.Pos    `json:"pos"`
	Evidence    *evidenceDoc `json:"evidence,omitempty"`
}

type evidenceDoc struct {
	Environment string    `json:"environment"`
	DeployedAt  time.Time `json:"deployed_at"`
	Health      string    `json:"health"`
	Soaked      string    `json:"soaked"`
	Soak        string    `json:"soak"`
}

type skippedDoc struct {
	Environment string `json:"environment"`
	Unit        string `json:"unit"`
	Version     string `json:"version,omitempty"`
	Reason      string `json:"reason"`
}

// doc is out in the JSON vocabulary.
func (out proposalsOut) doc() proposalsDoc {
	d := proposalsDoc{FormatVersion: proposalsFormatVersion, Command: out.Command, DryRun: out.DryRun,
		Proposals: []proposalDoc{}, Skipped: []skippedDoc{}, Errors: []bump.SourceError{}}
	for _, po := range out.Proposals {
		pd := proposalDoc{PullRequest: po.PullRequest, Error: po.Error, Changes: []changeDoc{}}
		if p := po.Proposal; p != nil {
			pd.Kind, pd.Branch, pd.Key, pd.Title, pd.Notes = p.Kind, p.Branch, p.Key, p.Title, p.Notes
			for _, c := range p.Changes {
				cd := changeDoc{Environment: c.Env, Unit: c.Unit, Field: c.Field, From: c.Old, To: c.New, Pos: c.Pos}
				if ev := c.Evidence; ev != nil {
					cd.Evidence = &evidenceDoc{Environment: ev.Env, DeployedAt: ev.DeployedAt, Health: ev.Health, Soaked: ev.Soaked, Soak: ev.Soak}
				}
				pd.Changes = append(pd.Changes, cd)
			}
		}
		d.Proposals = append(d.Proposals, pd)
	}
	for _, s := range out.Skipped {
		d.Skipped = append(d.Skipped, skippedDoc{Environment: s.Env, Unit: s.Unit, Version: s.Version, Reason: s.Reason})
	}
	d.Errors = append(d.Errors, out.Errors...)
	for _, r := range out.Rebuilds {
		rb := *r.Rebuild
		rb.Repository = gitops.RedactURL(rb.Repository)
		r.Rebuild = &rb
		d.Rebuilds = append(d.Rebuilds, r)
	}
	return d
}

// proposeAll opens (or, with --dry-run, only lists) a pull request per
// proposal, and returns how many failed. One failure does not stop the
// others.
func (e *env) proposeAll(ctx context.Context, c *gitops.Checkout, pf prFlags, ps []*bump.Proposal, skipped []bump.Skipped, out *proposalsOut) int {
	out.Proposals = []proposalOut{}
	if len(ps) == 0 {
		return 0
	}
	var f forge.Forge
	var base string
	var setup error
	if !pf.dryRun {
		if base, setup = baseBranch(c, pf.base); setup == nil {
			f, setup = e.githubForge("")
		}
	}
	failed := 0
	errs := make([]error, len(ps))
	if !pf.dryRun && setup == nil {
		// Commit every branch, push them all at once (one round trip),
		// then open or update each pull request.
		var branches []string
		for i, p := range ps {
			if errs[i] = e.commitProposal(ctx, c, p); errs[i] == nil {
				branches = append(branches, p.Branch)
			}
		}
		if err := gitops.PushBranches(ctx, c, branches, true, e.gitAuth()); err != nil {
			for i := range ps {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}
	opened := map[string]forge.PullRequest{}
	for i, p := range ps {
		po := proposalOut{Proposal: p}
		switch {
		case pf.dryRun:
		case setup != nil:
			po.Error = setup.Error()
			failed++
		case errs[i] != nil:
			po.Error = errs[i].Error()
			failed++
		default:
			pr, created, err := e.openPR(ctx, c, f, base, p, skipped)
			if err != nil {
				po.Error = err.Error()
				failed++
			} else {
				po.PullRequest = &prOut{Number: pr.Number, URL: pr.URL, Created: created}
				opened[p.Branch] = pr
			}
		}
		out.Proposals = append(out.Proposals, po)
	}
	if len(opened) > 0 {
		// A newer release replaces the pull request of an older one:
		// close it rather than leave two proposals for one thing open.
		if err := e.closeSuperseded(ctx, f, opened, ps); err != nil {
			fmt.Fprintf(e.stderr, "gearshift: closing superseded pull requests: %v\n", err)
			failed++
		}
	}
	return failed
}

// propose is the data flow of one pull request: edit the literals -> commit
// on the proposal's branch on top of the checkout -> force-push the branch
// (it is gearshift's own) -> open the pull request, or update the one open
// for the branch.
func (e *env) propose(ctx context.Context, c *gitops.Checkout, f forge.Forge, base string, p *bump.Proposal, skipped []bump.Skipped) (forge.PullRequest, bool, error) {
	if err := e.commitProposal(ctx, c, p); err != nil {
		return forge.PullRequest{}, false, err
	}
	if err := gitops.Push(ctx, c, p.Branch, true, e.gitAuth()); err != nil {
		return forge.PullRequest{}, false, err
	}
	return e.openPR(ctx, c, f, base, p, skipped)
}

// commitProposal edits the literals of p and commits them on p's branch.
func (e *env) commitProposal(ctx context.Context, c *gitops.Checkout, p *bump.Proposal) error {
	files, err := bump.Files(c.Dir, p.Changes)
	if err != nil {
		return err
	}
	_, err = gitops.CommitBranch(ctx, c, p.Branch, commitMessage(p), files, gitops.Author{})
	return err
}

// openPR opens the pull request of a pushed proposal, or updates the one
// already open for its branch.
func (e *env) openPR(ctx context.Context, c *gitops.Checkout, f forge.Forge, base string, p *bump.Proposal, skipped []bump.Skipped) (forge.PullRequest, bool, error) {
	footer := fmt.Sprintf("Proposed by gearshift %s from `%s` at `%s`. A later run updates this pull request; close it to decline.",
		Version, strings.ReplaceAll(c.Source, "`", "'"), shortHash(c.Commit))
	marker := proposalMarker(p)
	if marker != "" {
		footer += "\n" + marker
	}
	return f.EnsurePullRequest(ctx, forge.PullRequest{Branch: p.Branch, Base: base, Title: p.Title, Body: bump.Body(p, skipped, footer)})
}

// closeSuperseded closes the open pull requests that an opened proposal
// replaces (same proposal marker, another branch: an older release), with
// a comment naming the new one. The open pull requests are listed once.
func (e *env) closeSuperseded(ctx context.Context, f forge.Forge, opened map[string]forge.PullRequest, ps []*bump.Proposal) error {
	open, err := f.OpenPullRequests(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range ps {
		pr, ok := opened[p.Branch]
		marker := proposalMarker(p)
		if !ok || marker == "" {
			continue
		}
		for _, old := range open {
			if old.Branch == p.Branch || !strings.Contains(old.Body, marker) {
				continue
			}
			if err := f.ClosePullRequest(ctx, old.Number, fmt.Sprintf("Superseded by #%d (%s).", pr.Number, p.Title)); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(e.stderr, "gearshift: closed pull request #%d (%s): superseded by #%d\n", old.Number, old.Branch, pr.Number)
		}
	}
	return errors.Join(errs...)
}

// proposalMarker is the hidden line that finds the pull requests of the
// same proposal key (a framework, an environment's unit) again.
func proposalMarker(p *bump.Proposal) string {
	if p.Key == "" {
		return ""
	}
	return "<!-- gearshift:proposal " + strings.NewReplacer("-->", "", "\n", " ").Replace(p.Key) + " -->"
}

// openVersionPR sets unit of env to version in the state repository and
// opens (or updates) a pull request for it, with reason in its body:
// rollback --pr calls it. The pull request merges into the checked-out
// branch, in --github-repo or GITHUB_REPOSITORY.
func openVersionPR(ctx context.Context, e *env, c *gitops.Checkout, env, unit, version, reason string) (forge.PullRequest, error) {
	st, err := state.Load(ctx, c.Dir, []string{env}, state.Options{Now: e.now, Limits: e.loadLimits, KeepExpiredWaivers: true})
	if err != nil {
		return forge.PullRequest{}, err
	}
	p, err := bump.SetVersion(st, env, unit, version, reason)
	if err != nil {
		return forge.PullRequest{}, err
	}
	base, err := baseBranch(c, "")
	if err != nil {
		return forge.PullRequest{}, err
	}
	f, err := e.githubForge("")
	if err != nil {
		return forge.PullRequest{}, err
	}
	pr, _, err := e.propose(ctx, c, f, base, p, nil)
	if err != nil {
		return pr, err
	}
	return pr, e.closeSuperseded(ctx, f, map[string]forge.PullRequest{p.Branch: pr}, []*bump.Proposal{p})
}

// baseBranch is the branch pull requests merge into: --base, else the
// branch the state repository was checked out from.
func baseBranch(c *gitops.Checkout, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if c.Ref == "" || c.IsTag || strings.HasPrefix(c.Ref, "refs/") {
		what := "no branch"
		if c.Ref != "" {
			what = c.Ref
		}
		return "", errors.New("the state repository is checked out at " + what + ", not a branch: pass --ref BRANCH or --base BRANCH")
	}
	return c.Ref, nil
}

// commitMessage is the proposal's title and one line per change.
func commitMessage(p *bump.Proposal) string {
	var b strings.Builder
	b.WriteString(p.Title + "\n\n")
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "%s: %s -> %s (%s)\n", changeWhat(c), c.Old, c.New, c.Pos)
	}
	return b.String()
}

func changeWhat(c bump.Change) string {
	if c.Unit != "" {
		return c.Env + "/" + c.Unit + " " + c.Field
	}
	return c.Field
}

// renderProposals prints the result of bump or promote, and in GitHub
// Actions sets their step outputs.
func (e *env) renderProposals(out proposalsOut) error {
	e.publishProposals(out)
	if e.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out.doc())
	}
	return e.untrusted(func(w io.Writer) error {
		// Tags, titles and reasons are not ours: escaped (inert).
		w = inert.NewWriter(w)
		if len(out.Proposals) == 0 {
			fmt.Fprintf(w, "%s: nothing to propose\n", out.Command)
		}
		for _, po := range out.Proposals {
			verb := "would open"
			switch {
			case po.Error != "":
				verb = "FAILED"
			case po.PullRequest != nil && po.PullRequest.Created:
				verb = fmt.Sprintf("opened #%d", po.PullRequest.Number)
			case po.PullRequest != nil:
				verb = fmt.Sprintf("updated #%d", po.PullRequest.Number)
			}
			fmt.Fprintf(w, "%s %s: %s\n", verb, po.Branch, po.Title)
			for _, c := range po.Changes {
				fmt.Fprintf(w, "    %s: %s -> %s  %s\n", changeWhat(c), c.Old, c.New, c.Pos)
			}
			if po.PullRequest != nil && po.PullRequest.URL != "" {
				fmt.Fprintf(w, "    %s\n", po.PullRequest.URL)
			}
			if po.Error != "" {
				fmt.Fprintf(w, "    error: %s\n", po.Error)
			}
		}
		for _, s := range out.Skipped {
			v := ""
			if s.Version != "" {
				v = " " + s.Version
			}
			fmt.Fprintf(w, "skipped %s/%s%s: %s\n", s.Env, s.Unit, v, s.Reason)
		}
		for _, se := range out.Errors {
			fmt.Fprintf(w, "error: %s: %s\n", se.Source, se.Error)
		}
		renderRebuilds(w, out.DryRun, out.Rebuilds)
		return nil
	})
}

// publishProposals sets the step outputs of bump and promote in GitHub
// Actions: pull_requests, a JSON array of the URLs of the pull requests
// opened or updated (fromJSON in a workflow), and failed ("true" when a
// proposal or a release source failed).
func (e *env) publishProposals(out proposalsOut) {
	a, err := e.actions()
	if err != nil || !a.Active() {
		return
	}
	urls := []string{}
	failed := len(out.Errors) > 0
	for _, po := range out.Proposals {
		if po.PullRequest != nil && po.PullRequest.URL != "" {
			urls = append(urls, po.PullRequest.URL)
		}
		failed = failed || po.Error != ""
	}
	b, err := json.Marshal(urls)
	if err != nil {
		e.log.Warn("step output", "name", "pull_requests", "err", err)
		return
	}
	for _, kv := range [][2]string{{"pull_requests", string(b)}, {"failed", strconv.FormatBool(failed)}} {
		if err := a.SetOutput(kv[0], kv[1]); err != nil {
			e.log.Warn("step output", "name", kv[0], "err", err)
		}
	}
}
