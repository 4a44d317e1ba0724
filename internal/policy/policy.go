// Package policy judges a plan against an environment's policies: each
// rule yields violations with a severity (deny, warn, bump), the unit, a
// message and the file:line of the value it is about. Waivers accept a
// violation until their date; an expired waiver is reported itself.
//
// Judge marks the actions a deny forbids or a deploy window holds as not
// applyable. The package reads the plan and the state only: it never
// observes or changes a target.
package policy

import (
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Rule ids.
const (
	LatestFramework = "latest-framework"
	MaxAge          = "max-age"
	VersionPattern  = "version-pattern"
	Promotion       = "promotion"
	DeployWindow    = "deploy-window"
	ExpiredWaiver   = "expired-waiver"
)

// Source is the promotion source environment's observed state.
type Source struct {
	Env      string
	Observed map[string]observation.Unit
	// Err says why the source could not be observed, if it could not.
	Err string
}

// Input is what the rules read besides the plan.
type Input struct {
	Env    *state.Environment
	Source *Source
	Now    time.Time
}

// Judge adds the violations of every rule to p and marks the actions they
// deny or hold.
func Judge(p *plan.Environment, in Input) {
	env := in.Env
	actions := map[string]*plan.Action{}
	for _, a := range p.Actions {
		actions[a.Unit] = a
	}
	var vs []plan.Violation
	for _, name := range env.UnitNames() {
		u := env.Units[name]
		vs = append(vs, latestFramework(env, u, in.Now)...)
		vs = append(vs, versionPattern(env, u)...)
		if a := actions[name]; a != nil {
			vs = append(vs, promotion(env, u, a, in)...)
		}
	}
	vs = waive(env, vs, in.Now)

	// Deny the actions of units with a blocking violation.
	for _, v := range vs {
		if a := actions[v.Unit]; a != nil && v.Blocking() {
			a.Denied = appendUnique(a.Denied, v.Rule)
			a.Applyable = false
		}
	}
	// max-age: a stale unit gets a redeploy; waived, it does not. If the
	// redeploy is denied, the unit can neither stay nor be redeployed.
	for _, name := range env.UnitNames() {
		u := env.Units[name]
		a := actions[name]
		if a == nil || !a.HasReason(plan.MaxAge) {
			continue
		}
		if w := activeWaiver(u, MaxAge, in.Now); w != nil {
			vs = append(vs, plan.Violation{Rule: MaxAge, Severity: plan.Warn, Unit: name, Pos: u.Pos.Of("maxAge"),
				Message: reasonText(a, plan.MaxAge), Waived: &plan.Waived{Reason: w.Reason, Until: w.Until}})
			dropReason(a, plan.MaxAge)
			continue
		}
		if len(a.Denied) > 0 {
			vs = append(vs, plan.Violation{Rule: MaxAge, Severity: plan.Deny, Unit: name, Pos: u.Pos.Of("version"),
				Message: fmt.Sprintf("%s; its redeploy is denied by %v: it can neither stay nor be redeployed", reasonText(a, plan.MaxAge), a.Denied)})
		}
	}
	p.Actions = dropEmpty(p.Actions)
	vs = append(vs, windows(env, p, in.Now)...)
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Unit != vs[j].Unit {
			return vs[i].Unit < vs[j].Unit
		}
		return vs[i].Rule < vs[j].Rule
	})
	p.Violations = append(p.Violations, vs...)
}

// latestFramework: the unit must be built against each framework's latest
// version, once the framework's grace period after its release has passed.
func latestFramework(env *state.Environment, u *state.Unit, now time.Time) []plan.Violation {
	mode := env.Policies.LatestFramework
	if mode == state.FrameworkOff {
		return nil
	}
	var vs []plan.Violation
	for _, fn := range sortedKeys(u.Frameworks) {
		f := env.Frameworks[fn]
		built := u.Frameworks[fn]
		if f == nil || state.CompareVersions(built, f.Latest) >= 0 {
			continue
		}
		msg := fmt.Sprintf("built against %s %s, latest is %s", fn, built, f.Latest)
		if f.Released != "" {
			released, err := time.Parse(time.DateOnly, f.Released)
			if err == nil {
				end := released.Add(f.Grace.Duration)
				if now.Before(end) {
					continue // still within the grace period
				}
				if f.Grace.Duration > 0 {
					msg += fmt.Sprintf(" (released %s; grace %s ended %s)", f.Released, f.Grace, end.Format(time.DateOnly))
				}
			}
		}
		sev := plan.Warn
		switch mode {
		case state.FrameworkDeny:
			sev = plan.Deny
			msg += ": " + env.Name + " rejects this version"
		case state.FrameworkBump:
			sev = plan.Bump
			msg += ": needs a bump pull request (gearshift bump)"
		}
		if u.BuiltAgainst != nil {
			// plan has no artifact: it judges the label, and says so.
			msg += " (the declared label; apply judges what " + u.BuiltAgainst.File + " in the artifact says)"
		}
		vs = append(vs, plan.Violation{Rule: LatestFramework, Severity: sev, Unit: u.Name, Message: msg, Pos: u.Pos.Of("frameworks." + fn)})
	}
	return vs
}

// versionPattern: the environment only takes versions that match.
func versionPattern(env *state.Environment, u *state.Unit) []plan.Violation {
	pat := env.Policies.VersionPattern
	if pat == "" {
		return nil
	}
	re, err := regexp.Compile(pat)
	if err != nil || re.MatchString(u.Version) {
		return nil
	}
	return []plan.Violation{{Rule: VersionPattern, Severity: plan.Deny, Unit: u.Name, Pos: u.Pos.Of("version"),
		Message: fmt.Sprintf("version %s does not match %s's pattern %s", u.Version, env.Name, pat)}}
}

// promotion: an environment promoted from another only takes a version the
// source has run, healthy, for at least the soak time (Soaked).
func promotion(env *state.Environment, u *state.Unit, a *plan.Action, in Input) []plan.Violation {
	pr := env.Promotion
	if pr == nil || a.Type != plan.Deploy {
		return nil
	}
	deny := func(format string, args ...any) []plan.Violation {
		return []plan.Violation{{Rule: Promotion, Severity: plan.Deny, Unit: u.Name, Pos: u.Pos.Of("version"),
			Message: fmt.Sprintf(format, args...)}}
	}
	src := in.Source
	if src == nil || src.Err != "" {
		why := "it was not observed"
		if src != nil {
			why = src.Err
		}
		return deny("cannot tell whether %s ran %s for %s: %s", pr.From, u.Version, pr.Soak, why)
	}
	obs := src.Observed[u.Name]
	if obs.Deployed && !obs.Failed() && obs.Version != "" && obs.Version != u.Version {
		return deny("%s runs %s, not %s: promote only what %s has soaked", pr.From, obs.Version, u.Version, pr.From)
	}
	if _, err := Soaked(pr.From, u.Name, obs, pr.Soak, in.Now); err != nil {
		return deny("%v", err)
	}
	return nil
}

// windows holds every action outside the environment's deploy windows.
func windows(env *state.Environment, p *plan.Environment, now time.Time) []plan.Violation {
	if len(env.Policies.Windows) == 0 || len(p.Actions) == 0 {
		return nil
	}
	var next time.Time
	for _, w := range env.Policies.Windows {
		dw, err := state.ParseWindow(w)
		if err != nil {
			continue
		}
		if dw.Contains(now) {
			return nil
		}
		if t, ok := dw.NextOpen(now); ok && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	var vs []plan.Violation
	for _, a := range p.Actions {
		u := env.Units[a.Unit]
		v := plan.Violation{Rule: DeployWindow, Severity: plan.Warn, Unit: a.Unit, Pos: env.Pos.Of("policies.windows")}
		v.Message = "outside the deploy windows of " + env.Name
		if !next.IsZero() {
			v.Message += "; held until " + next.UTC().Format(time.RFC3339)
		}
		if u != nil {
			if w := activeWaiver(u, DeployWindow, now); w != nil {
				v.Waived = &plan.Waived{Reason: w.Reason, Until: w.Until}
				vs = append(vs, v)
				continue
			}
		}
		if !next.IsZero() {
			t := next.UTC()
			a.HeldUntil = &t
		} else {
			a.HeldUntil = &time.Time{}
		}
		a.Applyable = false
		vs = append(vs, v)
	}
	return vs
}

// waive marks violations that a unit's active waiver accepts, and reports
// expired waivers.
func waive(env *state.Environment, vs []plan.Violation, now time.Time) []plan.Violation {
	for i := range vs {
		u := env.Units[vs[i].Unit]
		if u == nil {
			continue
		}
		if w := activeWaiver(u, vs[i].Rule, now); w != nil {
			vs[i].Waived = &plan.Waived{Reason: w.Reason, Until: w.Until}
		}
	}
	for _, name := range env.UnitNames() {
		u := env.Units[name]
		for i, w := range u.Waivers {
			if now.Before(w.Expiry()) {
				continue
			}
			vs = append(vs, plan.Violation{Rule: ExpiredWaiver, Severity: plan.Warn, Unit: name,
				Pos:     u.Pos.Of(fmt.Sprintf("waivers.%d.until", i)),
				Message: fmt.Sprintf("the waiver of %s expired on %s (%s): renew it or remove it", w.Rule, w.Until, w.Reason)})
		}
	}
	return vs
}

func activeWaiver(u *state.Unit, rule string, now time.Time) *state.Waiver {
	for i, w := range u.Waivers {
		if w.Rule == rule && now.Before(w.Expiry()) {
			return &u.Waivers[i]
		}
	}
	return nil
}

func reasonText(a *plan.Action, c plan.ReasonCode) string {
	for _, r := range a.Reasons {
		if r.Code == c {
			return r.Message
		}
	}
	return ""
}

func dropReason(a *plan.Action, c plan.ReasonCode) {
	out := a.Reasons[:0]
	for _, r := range a.Reasons {
		if r.Code != c {
			out = append(out, r)
		}
	}
	a.Reasons = out
}

func dropEmpty(as []*plan.Action) []*plan.Action {
	out := as[:0]
	for _, a := range as {
		if len(a.Reasons) > 0 {
			out = append(out, a)
		}
	}
	return out
}

func appendUnique(ss []string, s string) []string {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
