// Package release creates the release tags an environment or a unit
// declares (GeneNetwork's "tag the commit that reached production as a
// release carrying version, commit and date"), after an apply that left
// the environment at its desired state, and optionally the GitHub release
// of each tag, whose notes list the versions and checksums deployed and
// link the artifacts.
//
// A release tag is created once and never moved: a tag of the same
// release (its template's name with any date) already at the commit is
// the release, and a re-run creates nothing; a tag of that name at another
// commit is an error, never overwritten. Tags go through package gitops,
// with the credential rules of the rest of gearshift.
//
// The package must never move or delete a tag, push anything but a new
// tag, or print a token (errors come from gitops and forge, which redact
// them).
package release

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Publisher publishes GitHub releases in one repository (forge.GitHub).
type Publisher interface {
	EnsureRelease(ctx context.Context, r forge.Release) (forge.Release, bool, error)
}

// Input is one environment's finished run.
type Input struct {
	Env    *state.Environment
	Result *apply.EnvResult
	// Checkout is the state repository's; without a commit there is no
	// state release.
	Checkout *gitops.Checkout
	Auth     gitops.Auth
	Now      time.Time
	// GitHub returns the publisher of owner/repo; "" is the run's own
	// repository (GITHUB_REPOSITORY). It fails without a token.
	GitHub func(repo string) (Publisher, error)
	// LogURL is the run's log (the Actions run), for the notes.
	LogURL string
}

// Kinds of apply.Report made here.
const (
	KindTag           = "release"
	KindGitHubRelease = "github-release"
)

// Outcomes.
const (
	Created = "created"
	Exists  = "exists"
	Skipped = "skipped"
	Failed  = "failed"
)

// Publish creates the release tags of in.Env and of its units, when the
// run left the environment at its desired state. It returns what it did;
// a tag it could not create is a report with outcome failed (the caller
// fails the run).
func Publish(ctx context.Context, in Input) []apply.Report {
	var specs []spec
	if r := in.Env.Release; r != nil {
		specs = append(specs, spec{rel: r, env: in.Env.Name})
	}
	for _, n := range in.Env.UnitNames() {
		if u := in.Env.Units[n]; u.Release != nil {
			specs = append(specs, spec{rel: u.Release, unit: u, env: in.Env.Name})
		}
	}
	if len(specs) == 0 {
		return nil
	}
	var out []apply.Report
	if why := notDone(in.Result); why != "" {
		for _, s := range specs {
			out = append(out, apply.Report{Kind: KindTag, Name: s.rel.Tag, Outcome: Skipped, Detail: why})
		}
		return out
	}
	for _, s := range specs {
		out = append(out, s.publish(ctx, in)...)
	}
	return out
}

// notDone says why the run did not leave the environment at its desired
// state ("" when it did): the one verdict apply's exit code comes from.
func notDone(res *apply.EnvResult) string {
	switch apply.VerdictOf(&apply.Result{Environments: []*apply.EnvResult{res}}) {
	case apply.VerdictDone:
		return ""
	case apply.VerdictHeld:
		return "not every unit reached its desired version: a policy held or denied an action"
	}
	return "the apply of " + res.Name + " failed"
}

// spec is one declared release: the environment's (unit nil) or a unit's.
type spec struct {
	rel  *state.Release
	unit *state.Unit
	env  string
}

func (s spec) publish(ctx context.Context, in Input) []apply.Report {
	fail := func(name string, err error) []apply.Report {
		return []apply.Report{{Kind: KindTag, Name: name, Outcome: Failed, Error: err.Error()}}
	}
	var repo *gitops.TagRepo
	var err error
	from := ""
	if s.rel.Repository == state.ReleaseSource {
		repo, err = gitops.SourceTagRepo(s.unit.Track.Source, in.Auth)
		from = s.vars("", in.Now).Replace(s.rel.Ref)
	} else {
		if in.Checkout == nil || in.Checkout.Commit == "" {
			return []apply.Report{{Kind: KindTag, Name: s.rel.Tag, Outcome: Skipped, Detail: "the state repository is not a git checkout"}}
		}
		repo, err = gitops.StateTagRepo(in.Checkout, in.Auth)
	}
	if err != nil {
		return fail(s.rel.Tag, err)
	}
	refs, err := repo.Refs(ctx)
	if err != nil {
		return fail(s.rel.Tag, err)
	}
	commit := ""
	if from == "" {
		commit = in.Checkout.Commit
	} else if commit = refs.Tags[from]; commit == "" {
		if commit = refs.Branches[from]; commit == "" {
			return fail(s.rel.Tag, fmt.Errorf("%s has no tag or branch %s to tag (release.ref)", repo.Source, from))
		}
	}
	name := s.vars(commit, in.Now).Replace(s.rel.Tag)
	if err := state.CheckTagName(name); err != nil {
		return fail(name, err)
	}
	rep := apply.Report{Kind: KindTag, Name: name, Detail: repo.Source}
	if existing := s.existing(refs, commit); existing != "" {
		rep.Name, rep.Outcome = existing, Exists
	} else if at, taken := refs.Tags[name]; taken {
		rep.Outcome = Failed
		rep.Error = fmt.Sprintf("tag %s in %s: %v: it names %s, not %s", name, repo.Source, gitops.ErrTagExists, short(at), short(commit))
		return []apply.Report{rep}
	} else if err := repo.CreateTag(ctx, name, commit, from, s.message(in, commit), gitops.Author{}, in.Now); err != nil {
		if errors.Is(err, gitops.ErrTagExists) {
			err = fmt.Errorf("%w: %s names a commit other than %s", err, name, short(commit))
		}
		rep.Outcome, rep.Error = Failed, err.Error()
		return []apply.Report{rep}
	} else {
		rep.Outcome = Created
	}
	out := []apply.Report{rep}
	if s.rel.GitHubRelease != nil {
		out = append(out, s.githubRelease(ctx, in, rep.Name, commit))
	}
	return out
}

// vars replaces the placeholders of a tag template or a ref.
func (s spec) vars(commit string, now time.Time) *strings.Replacer {
	version, unit := "", ""
	if s.unit != nil {
		version, unit = s.unit.Version, s.unit.Name
	}
	return strings.NewReplacer("{version}", version, "{commit}", short8(commit), "{date}", now.UTC().Format("20060102"), "{unit}", unit, "{env}", s.env)
}

// existing is a tag of the same release at commit: the template's name
// with any date. A release is tagged once, whatever day it is run again.
func (s spec) existing(refs gitops.Refs, commit string) string {
	parts := strings.Split(s.rel.Tag, "{date}")
	r := s.vars(commit, time.Time{})
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(r.Replace(p))
	}
	re := regexp.MustCompile("^" + strings.Join(parts, "[0-9]{8}") + "$")
	var names []string
	for n, c := range refs.Tags {
		if c == commit && re.MatchString(n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return names[0]
}

// message is the annotated tag's message: what was deployed where.
func (s spec) message(in Input, commit string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: applied to %s by gearshift (run %s)\n\n", what(s), in.Env.Name, in.Result.Run)
	for _, u := range s.units(in) {
		fmt.Fprintf(&b, "%s %s", u.Name, u.Version)
		if u.Artifact != nil && u.Artifact.Checksum != "" {
			fmt.Fprintf(&b, " %s", u.Artifact.Checksum)
		}
		b.WriteString("\n")
	}
	if in.Checkout != nil && in.Checkout.Commit != "" {
		fmt.Fprintf(&b, "\nstate commit %s\n", in.Checkout.Commit)
	}
	if in.LogURL != "" {
		fmt.Fprintf(&b, "log %s\n", in.LogURL)
	}
	return b.String()
}

func what(s spec) string {
	if s.unit != nil {
		return s.unit.Name + " " + s.unit.Version
	}
	return "release"
}

// units are the units a release speaks for: its own, or the environment's.
func (s spec) units(in Input) []*state.Unit {
	if s.unit != nil {
		return []*state.Unit{s.unit}
	}
	var us []*state.Unit
	for _, n := range in.Env.UnitNames() {
		us = append(us, in.Env.Units[n])
	}
	return us
}

func (s spec) githubRelease(ctx context.Context, in Input, tag, commit string) apply.Report {
	rep := apply.Report{Kind: KindGitHubRelease, Name: tag}
	g := s.rel.GitHubRelease
	repo := g.Repository
	if repo == "" && s.rel.Repository == state.ReleaseSource {
		repo, _ = state.RepositoryOfURL(s.unit.Track.Source)
	}
	rep.Detail = repo
	if in.GitHub == nil {
		rep.Outcome, rep.Error = Failed, "no GitHub token: the release cannot be published"
		return rep
	}
	p, err := in.GitHub(repo)
	if err != nil {
		rep.Outcome, rep.Error = Failed, err.Error()
		return rep
	}
	r, created, err := p.EnsureRelease(ctx, forge.Release{Tag: tag, Name: tag, Body: s.notes(in, tag, commit), Prerelease: g.Prerelease})
	switch {
	case err != nil:
		rep.Outcome, rep.Error = Failed, err.Error()
	case created:
		rep.Outcome, rep.Detail = Created, r.URL
	default:
		rep.Outcome, rep.Detail = Exists, r.URL
	}
	return rep
}

// Notes are the GitHub release's body: the versions and checksums
// deployed, and links to the artifacts. Text from the state is made inert.
func (s spec) notes(in Input, tag, commit string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Deployed to **%s** by gearshift (run `%s`) on %s, tagged at `%s`.\n\n", inert.Markdown(in.Env.Name), in.Result.Run, in.Now.UTC().Format(time.DateOnly), short(commit))
	b.WriteString("| unit | version | checksum | artifact |\n|---|---|---|---|\n")
	for _, u := range s.units(in) {
		sum, link := "not declared", ""
		if u.Artifact != nil {
			if u.Artifact.Checksum != "" {
				sum = "`" + u.Artifact.Checksum + "`"
			}
			link = mdLink("", strings.ReplaceAll(u.Artifact.Source, "{version}", u.Version))
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", inert.Markdown(u.Name), u.Version, sum, link)
	}
	if links := s.rel.GitHubRelease.Links; len(links) > 0 {
		b.WriteString("\nArchived artifacts:\n\n")
		r := s.vars(commit, in.Now)
		for _, l := range links {
			fmt.Fprintf(&b, "- %s\n", mdLink(r.Replace(l.Name), r.Replace(l.URL)))
		}
	}
	if in.Checkout != nil && in.Checkout.Commit != "" {
		fmt.Fprintf(&b, "\nState commit `%s`.", in.Checkout.Commit)
	}
	if in.LogURL != "" {
		fmt.Fprintf(&b, " %s\n", mdLink("Log of the apply", in.LogURL))
	}
	return b.String()
}

// mdLink is a Markdown link to an http(s) URL without credentials or a
// query, or "" for anything else (a local path, another scheme).
func mdLink(name, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	clean := u.String()
	if strings.ContainsAny(clean, " ()<>[]") {
		return ""
	}
	if name == "" {
		name = clean[strings.LastIndexByte(clean, '/')+1:]
	}
	return "[" + inert.Markdown(name) + "](" + clean + ")"
}

func short8(h string) string {
	if len(h) > 8 {
		return h[:8]
	}
	return h
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
