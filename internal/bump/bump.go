package bump

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Kind is what a proposal does.
type Kind string

const (
	// Framework moves a framework to its newest release and rebuilds the
	// units of "bump" environments against it.
	Framework Kind = "framework"
	// Unit moves one tracked unit to its newest release within its level.
	Unit Kind = "unit"
	// Promotion takes the versions the source environment has soaked.
	Promotion Kind = "promotion"
	// Version sets one unit to a given version (rollback --pr).
	Version Kind = "version"
)

// Change is one edit: the string literal at Pos, the value of Field, goes
// from Old to New.
type Change struct {
	// Env is the environment of a unit's field; empty for a framework's
	// own fields, which all environments share.
	Env  string `json:"env,omitempty"`
	Unit string `json:"unit,omitempty"`
	// Field is the CUE path of the value: "version", "frameworks.fw" of a
	// unit, "frameworks.fw.latest" of a framework.
	Field string    `json:"field"`
	Old   string    `json:"old"`
	New   string    `json:"new"`
	Pos   state.Pos `json:"pos"`
	// Evidence is why a promotion may take New: what the source runs.
	Evidence *Evidence `json:"evidence,omitempty"`

	// label is the field's own name, which the editor checks.
	label string
}

// Evidence is the source environment's record of the promoted version.
type Evidence struct {
	Env        string    `json:"env"`
	DeployedAt time.Time `json:"deployed_at"`
	Health     string    `json:"health"`
	Soaked     string    `json:"soaked"`
	Soak       string    `json:"soak"`
}

// Proposal is one pull request: its branch, title and edits.
type Proposal struct {
	Kind   Kind   `json:"kind"`
	Branch string `json:"branch"`
	// Key names what the proposal is about (a framework, an environment's
	// unit), whatever the version: a newer proposal with the same key
	// supersedes an older one.
	Key     string   `json:"key"`
	Title   string   `json:"title"`
	Changes []Change `json:"changes"`
	// Notes are said in the pull request's body (a framework without a
	// released date, the reason for a rollback).
	Notes []string `json:"notes,omitempty"`
}

// Skipped is a unit that could have been proposed and was not, and why.
type Skipped struct {
	Env     string `json:"env"`
	Unit    string `json:"unit"`
	Version string `json:"version,omitempty"`
	Reason  string `json:"reason"`
}

// SourceError is a release source whose tags could not be listed.
type SourceError struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

// Result is what one bump run found.
type Result struct {
	Proposals []*Proposal `json:"proposals"`
	// Rebuilds are the updates of a framework in units' own repositories
	// (rebuild), which the cli carries out.
	Rebuilds []*Rebuild    `json:"rebuilds,omitempty"`
	Skipped  []Skipped     `json:"skipped,omitempty"`
	Errors   []SourceError `json:"errors,omitempty"`
}

// Tags lists the tags of a git repository: a gitops.TagLister in
// production.
type Tags interface {
	Tags(ctx context.Context, url string) ([]string, error)
}

// Options tune Discover.
type Options struct {
	Tags Tags
	// Now dates a framework release ("released").
	Now time.Time
	// Envs limits the units considered; all environments when empty. A
	// framework's own fields are shared and always considered.
	Envs []string
	// Parallelism bounds how many sources are listed at once (default 8).
	Parallelism int
}

// Discover lists the release sources of the state (each once) and returns
// the proposals: one per framework with edits, one per tracked unit with a
// newer release.
func Discover(ctx context.Context, st *state.State, o Options) (*Result, error) {
	if o.Parallelism <= 0 {
		o.Parallelism = 8
	}
	envs := o.Envs
	if len(envs) == 0 {
		envs = st.Names()
	}
	for _, n := range envs {
		if st.Environments[n] == nil {
			return nil, fmt.Errorf("no environment %q", n)
		}
	}
	tags := listAll(ctx, o, sources(st, envs))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &Result{Proposals: []*Proposal{}}
	for _, u := range sortedKeys(tags) {
		if err := tags[u].err; err != nil {
			res.Errors = append(res.Errors, SourceError{Source: gitops.RedactURL(u), Error: err.Error()})
		}
	}
	frameworks(st, envs, tags, o.Now, res)
	units(st, envs, tags, res)
	return res, nil
}

type listing struct {
	tags []string
	err  error
}

// sources are the URLs to list: every framework's releases, and the track
// source of every unit an environment in envs may bump.
func sources(st *state.State, envs []string) []string {
	seen := map[string]bool{}
	var urls []string
	add := func(u string) {
		if u != "" && !seen[u] {
			seen[u] = true
			urls = append(urls, u)
		}
	}
	for _, n := range st.Names() {
		for _, fn := range sortedKeys(st.Environments[n].Frameworks) {
			add(st.Environments[n].Frameworks[fn].Releases)
		}
	}
	for _, n := range envs {
		env := st.Environments[n]
		if mayBump(env) != "" {
			continue
		}
		for _, un := range env.UnitNames() {
			if t := env.Units[un].Track; t != nil && t.Level != gitops.LevelNone {
				add(t.Source)
			}
		}
	}
	return urls
}

func listAll(ctx context.Context, o Options, urls []string) map[string]listing {
	out := make(map[string]listing, len(urls))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, o.Parallelism)
	for _, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			ts, err := o.Tags.Tags(ctx, u)
			mu.Lock()
			out[u] = listing{tags: ts, err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// mayBump says why an environment is never bumped, or "" when it may be:
// a deny policy rejects rather than bumps (prod in the antikythera story),
// and an environment promoted from another takes only soaked versions.
func mayBump(env *state.Environment) string {
	switch {
	case env.Policies.LatestFramework == state.FrameworkDeny:
		return fmt.Sprintf("%s is never bumped: its latestFramework policy is deny", env.Name)
	case env.Promotion != nil:
		return fmt.Sprintf("%s takes versions only by promotion from %s (gearshift promote)", env.Name, env.Promotion.From)
	}
	return ""
}

// frameworks proposes, for each framework, its newest release and the
// rebuild of every unit of a "bump" environment built against an older
// version, in one pull request per framework version.
func frameworks(st *state.State, envs []string, tags map[string]listing, now time.Time, res *Result) {
	// A framework is usually declared once, in environments/*.cue, and so
	// appears in every environment at one position; an environment may
	// declare its own. Each distinct declaration is edited once.
	type decl struct {
		f   *state.Framework
		pos state.Pos
	}
	byName := map[string][]decl{}
	for _, n := range st.Names() {
		for fn, f := range st.Environments[n].Frameworks {
			pos := f.Pos.Of("latest")
			dup := false
			for _, d := range byName[fn] {
				dup = dup || d.pos == pos
			}
			if !dup {
				byName[fn] = append(byName[fn], decl{f, pos})
			}
		}
	}
	for _, fn := range sortedKeys(byName) {
		latest := ""
		for _, d := range byName[fn] {
			cand := d.f.Latest
			if l, ok := tags[d.f.Releases]; ok && l.err == nil {
				if v, ok := gitops.LatestVersion(l.tags, gitops.Releases{Prefix: d.f.TagPrefix}, d.f.Latest, gitops.LevelMajor); ok {
					cand = v
				}
			}
			if latest == "" || state.CompareVersions(cand, latest) > 0 {
				latest = cand
			}
		}
		res.Rebuilds = append(res.Rebuilds, rebuilds(st, envs, fn, latest)...)
		p := &Proposal{Kind: Framework, Key: "framework/" + fn, Branch: branchName("gearshift/bump-" + fn + "-" + latest)}
		for _, d := range byName[fn] {
			if state.CompareVersions(d.f.Latest, latest) >= 0 {
				continue
			}
			p.Changes = append(p.Changes, Change{Field: "frameworks." + fn + ".latest", label: "latest",
				Old: d.f.Latest, New: latest, Pos: d.pos})
			if pos, ok := d.f.Pos["released"]; ok {
				p.Changes = append(p.Changes, Change{Field: "frameworks." + fn + ".released", label: "released",
					Old: d.f.Released, New: now.UTC().Format(time.DateOnly), Pos: pos})
			} else {
				p.Notes = append(p.Notes, fmt.Sprintf("frameworks.%s (%s) has no `released` date, so its grace period of %s is not applied: "+
					"add `released: %q` next to `latest` to start it.", fn, d.pos, d.f.Grace, now.UTC().Format(time.DateOnly)))
			}
		}
		rebuilt := 0
		for _, n := range envs {
			env := st.Environments[n]
			if env.Policies.LatestFramework != state.FrameworkBump {
				continue
			}
			for _, un := range env.UnitNames() {
				u := env.Units[un]
				built, ok := u.Frameworks[fn]
				if !ok || state.CompareVersions(built, latest) >= 0 {
					continue
				}
				p.Changes = append(p.Changes, Change{Env: n, Unit: un, Field: "frameworks." + fn, label: fn,
					Old: built, New: latest, Pos: u.Pos.Of("frameworks." + fn)})
				rebuilt++
			}
		}
		if len(p.Changes) == 0 {
			continue
		}
		p.Title = fmt.Sprintf("Bump %s to %s", fn, latest)
		if rebuilt > 0 {
			p.Title += fmt.Sprintf(" (%d %s)", rebuilt, plural(rebuilt, "unit", "units"))
			p.Notes = append(p.Notes, fmt.Sprintf("Each unit listed with frameworks.%s must be rebuilt against %s %s before this is merged: "+
				"the field says what the unit's version was built against.", fn, fn, latest))
		}
		res.Proposals = append(res.Proposals, p)
	}
}

// units proposes each tracked unit's newest release within its level, one
// pull request per unit and version.
func units(st *state.State, envs []string, tags map[string]listing, res *Result) {
	for _, n := range envs {
		env := st.Environments[n]
		why := mayBump(env)
		var pattern *regexp.Regexp
		if env.Policies.VersionPattern != "" {
			pattern, _ = regexp.Compile(env.Policies.VersionPattern)
		}
		for _, un := range env.UnitNames() {
			u := env.Units[un]
			if u.Track == nil || u.Track.Level == gitops.LevelNone {
				continue
			}
			if why != "" {
				res.Skipped = append(res.Skipped, Skipped{Env: n, Unit: un, Reason: why})
				continue
			}
			l := tags[u.Track.Source]
			if l.err != nil {
				res.Skipped = append(res.Skipped, Skipped{Env: n, Unit: un, Reason: "its releases could not be listed: " + l.err.Error()})
				continue
			}
			rel := gitops.Releases{Prefix: u.Track.TagPrefix}
			if u.Track.TagPattern != "" {
				p, err := state.CompileTagPattern(u.Track.TagPattern)
				if err != nil { // validate refuses it; Discover may be given any state
					res.Skipped = append(res.Skipped, Skipped{Env: n, Unit: un, Reason: fmt.Sprintf("invalid track.tagPattern (%s): %v", u.Pos.Of("track.tagPattern"), err)})
					continue
				}
				rel.Pattern = p
			}
			v, ok := gitops.LatestVersion(l.tags, rel, u.Version, u.Track.Level)
			if !ok {
				continue
			}
			if pattern != nil && !pattern.MatchString(v) {
				res.Skipped = append(res.Skipped, Skipped{Env: n, Unit: un, Version: v,
					Reason: fmt.Sprintf("%s does not match %s's version pattern %s", v, n, env.Policies.VersionPattern)})
				continue
			}
			res.Proposals = append(res.Proposals, &Proposal{
				Kind:   Unit,
				Key:    "unit/" + n + "/" + un,
				Branch: branchName("gearshift/bump-" + n + "-" + un + "-" + v),
				Title:  fmt.Sprintf("%s: bump %s to %s", n, un, v),
				Changes: []Change{{Env: n, Unit: un, Field: "version", label: "version",
					Old: u.Version, New: v, Pos: u.Pos.Of("version")}},
			})
		}
	}
}

// SetVersion proposes setting unit of env to version, for a pull request
// that rolls it back (or forward) by hand; reason is said in its body.
func SetVersion(st *state.State, env, unit, version, reason string) (*Proposal, error) {
	e := st.Environments[env]
	if e == nil {
		return nil, fmt.Errorf("no environment %q", env)
	}
	u := e.Units[unit]
	if u == nil {
		return nil, fmt.Errorf("no unit %q in %s", unit, env)
	}
	if u.Version == version {
		return nil, fmt.Errorf("%s of %s is already at %s", unit, env, version)
	}
	if e.Policies.VersionPattern != "" {
		if re, err := regexp.Compile(e.Policies.VersionPattern); err == nil && !re.MatchString(version) {
			return nil, fmt.Errorf("%s does not match %s's version pattern %s", version, env, e.Policies.VersionPattern)
		}
	}
	p := &Proposal{
		Kind:   Version,
		Key:    "version/" + env + "/" + unit,
		Branch: branchName("gearshift/version-" + env + "-" + unit + "-" + version),
		Title:  fmt.Sprintf("%s: set %s to %s", env, unit, version),
		Changes: []Change{{Env: env, Unit: unit, Field: "version", label: "version",
			Old: u.Version, New: version, Pos: u.Pos.Of("version")}},
	}
	if reason != "" {
		p.Notes = append(p.Notes, "Reason: "+reason)
	}
	return p, nil
}

var refUnsafe = regexp.MustCompile(`[^A-Za-z0-9._/+-]+`)

// branchName keeps a branch name within what git accepts whatever a
// version holds.
func branchName(s string) string {
	s = refUnsafe.ReplaceAllString(s, "_")
	for _, bad := range []string{"..", "/.", "//"} {
		for strings.Contains(s, bad) {
			s = strings.ReplaceAll(s, bad, "_")
		}
	}
	return strings.TrimSuffix(s, ".lock")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
