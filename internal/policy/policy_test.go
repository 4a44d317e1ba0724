package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) // a Sunday

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func dur(d time.Duration) state.Duration { return state.Duration{Duration: d} }

func pos(line int) state.Pos { return state.Pos{File: "environments/x/units.cue", Line: line, Col: 3} }

// newEnv builds an environment with units a (gear, framework fw) and b
// (stack depending on a) whose positions are lines 10.. and 20..
func newEnv(mod func(*state.Environment)) *state.Environment {
	env := &state.Environment{
		Name:     "x",
		Policies: state.Policies{LatestFramework: state.FrameworkWarn, MaxAge: dur(days(30))},
		Targets:  map[string]state.Target{"t": {Exec: &state.ExecTarget{}}},
		Frameworks: map[string]*state.Framework{
			"fw": {Name: "fw", Latest: "1.4.0"},
		},
		Units: map[string]*state.Unit{
			"a": {Name: "a", Kind: "gear", Version: "1.0.0", Target: "t", Frameworks: map[string]string{"fw": "1.4.0"},
				Pos: state.Positions{"version": pos(10), "frameworks.fw": pos(11), "waivers.0.until": pos(12), "maxAge": pos(13)}},
			"b": {Name: "b", Kind: "stack", Version: "2.0.0", Target: "t", DependsOn: []string{"a"},
				Pos: state.Positions{"version": pos(20)}},
		},
		Pos: state.Positions{"policies.windows": pos(1)},
	}
	if mod != nil {
		mod(env)
	}
	return env
}

func running(version string, age time.Duration, h observation.Health) observation.Unit {
	return observation.Unit{Deployed: true, Version: version, DeployedAt: now.Add(-age), Health: h}
}

// both runs as desired, deployed a day ago, healthy.
func asDesired() map[string]observation.Unit {
	return map[string]observation.Unit{
		"a": running("1.0.0", days(1), observation.HealthHealthy),
		"b": running("2.0.0", days(1), observation.HealthHealthy),
	}
}

type got struct {
	Actions    []string
	Violations []string
}

func summarize(p *plan.Environment) got {
	var g got
	for _, a := range p.Actions {
		s := string(a.Type) + " " + a.Unit
		for _, r := range a.Reasons {
			s += " " + string(r.Code)
		}
		if len(a.Denied) > 0 {
			s += " denied"
		}
		if a.HeldUntil != nil {
			s += " held:" + a.HeldUntil.Format(time.RFC3339)
		}
		g.Actions = append(g.Actions, s)
	}
	for _, v := range p.Violations {
		s := v.Rule + " " + string(v.Severity) + " " + v.Unit + " @" + v.Pos.String()
		if v.Waived != nil {
			s += " waived"
		}
		g.Violations = append(g.Violations, s)
	}
	return g
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name   string
		env    func(*state.Environment)
		obs    func(map[string]observation.Unit)
		source map[string]observation.Unit
		want   got
	}{
		{
			name: "as desired",
			want: got{},
		},
		{
			name: "latest-framework warn",
			env:  func(e *state.Environment) { e.Units["a"].Frameworks["fw"] = "1.3.0" },
			want: got{Violations: []string{"latest-framework warn a @environments/x/units.cue:11:3"}},
		},
		{
			name: "latest-framework bump",
			env: func(e *state.Environment) {
				e.Policies.LatestFramework = state.FrameworkBump
				e.Units["a"].Frameworks["fw"] = "1.3.0"
			},
			want: got{Violations: []string{"latest-framework bump a @environments/x/units.cue:11:3"}},
		},
		{
			name: "latest-framework deny denies the deploy",
			env: func(e *state.Environment) {
				e.Policies.LatestFramework = state.FrameworkDeny
				e.Units["a"].Frameworks["fw"] = "1.3.0"
				e.Units["a"].Version = "1.1.0"
			},
			want: got{
				Actions:    []string{"deploy a version-changed denied"},
				Violations: []string{"latest-framework deny a @environments/x/units.cue:11:3"},
			},
		},
		{
			name: "latest-framework within grace",
			env: func(e *state.Environment) {
				e.Policies.LatestFramework = state.FrameworkDeny
				e.Frameworks["fw"].Released = "2026-11-20"
				e.Frameworks["fw"].Grace = dur(days(7))
				e.Units["a"].Frameworks["fw"] = "1.3.0"
			},
			want: got{},
		},
		{
			name: "latest-framework past grace",
			env: func(e *state.Environment) {
				e.Policies.LatestFramework = state.FrameworkDeny
				e.Frameworks["fw"].Released = "2026-11-01"
				e.Frameworks["fw"].Grace = dur(days(7))
				e.Units["a"].Frameworks["fw"] = "1.3.0"
			},
			want: got{Violations: []string{"latest-framework deny a @environments/x/units.cue:11:3"}},
		},
		{
			name: "latest-framework off",
			env: func(e *state.Environment) {
				e.Policies.LatestFramework = state.FrameworkOff
				e.Units["a"].Frameworks["fw"] = "1.0.0"
			},
			want: got{},
		},
		{
			name: "max-age redeploys",
			obs:  func(o map[string]observation.Unit) { o["a"] = running("1.0.0", days(31), observation.HealthHealthy) },
			want: got{Actions: []string{"redeploy a max-age"}},
		},
		{
			name: "max-age override on the unit",
			env:  func(e *state.Environment) { m := dur(days(7)); e.Units["a"].MaxAge = &m },
			obs:  func(o map[string]observation.Unit) { o["a"] = running("1.0.0", days(8), observation.HealthHealthy) },
			want: got{Actions: []string{"redeploy a max-age"}},
		},
		{
			name: "max-age redeploy denied: can neither stay nor be redeployed",
			env: func(e *state.Environment) {
				e.Policies.LatestFramework = state.FrameworkDeny
				e.Units["a"].Frameworks["fw"] = "1.3.0"
			},
			obs: func(o map[string]observation.Unit) { o["a"] = running("1.0.0", days(40), observation.HealthHealthy) },
			want: got{
				Actions: []string{"redeploy a max-age denied"},
				Violations: []string{
					"latest-framework deny a @environments/x/units.cue:11:3",
					"max-age deny a @environments/x/units.cue:10:3",
				},
			},
		},
		{
			name: "max-age waived drops the redeploy",
			env: func(e *state.Environment) {
				e.Units["a"].Waivers = []state.Waiver{{Rule: "max-age", Until: "2026-12-01", Reason: "freeze"}}
			},
			obs:  func(o map[string]observation.Unit) { o["a"] = running("1.0.0", days(40), observation.HealthHealthy) },
			want: got{Violations: []string{"max-age warn a @environments/x/units.cue:13:3 waived"}},
		},
		{
			name: "waiver accepts a deny",
			env: func(e *state.Environment) {
				e.Policies.LatestFramework = state.FrameworkDeny
				e.Units["a"].Frameworks["fw"] = "1.3.0"
				e.Units["a"].Version = "1.1.0"
				e.Units["a"].Waivers = []state.Waiver{{Rule: "latest-framework", Until: "2026-11-22", Reason: "hotfix"}}
			},
			want: got{
				Actions:    []string{"deploy a version-changed"},
				Violations: []string{"latest-framework deny a @environments/x/units.cue:11:3 waived"},
			},
		},
		{
			name: "expired waiver is a violation and waives nothing",
			env: func(e *state.Environment) {
				e.Policies.LatestFramework = state.FrameworkDeny
				e.Units["a"].Frameworks["fw"] = "1.3.0"
				e.Units["a"].Waivers = []state.Waiver{{Rule: "latest-framework", Until: "2026-11-21", Reason: "hotfix"}}
			},
			want: got{Violations: []string{
				"expired-waiver warn a @environments/x/units.cue:12:3",
				"latest-framework deny a @environments/x/units.cue:11:3",
			}},
		},
		{
			name: "version-pattern",
			env: func(e *state.Environment) {
				e.Policies.VersionPattern = `^[0-9]+\.[0-9]+\.[0-9]+$`
				e.Units["b"].Version = "2.1.0-rc1"
			},
			want: got{
				Actions:    []string{"deploy b version-changed denied"},
				Violations: []string{"version-pattern deny b @environments/x/units.cue:20:3"},
			},
		},
		{
			name: "promotion: soaked long enough",
			env: func(e *state.Environment) {
				e.Promotion = &state.Promotion{From: "staging", Soak: dur(24 * time.Hour)}
				e.Units["a"].Version = "1.1.0"
			},
			source: map[string]observation.Unit{"a": running("1.1.0", 25*time.Hour, observation.HealthHealthy)},
			want:   got{Actions: []string{"deploy a version-changed"}},
		},
		{
			name: "promotion: not soaked",
			env: func(e *state.Environment) {
				e.Promotion = &state.Promotion{From: "staging", Soak: dur(24 * time.Hour)}
				e.Units["a"].Version = "1.1.0"
			},
			source: map[string]observation.Unit{"a": running("1.1.0", 2*time.Hour, observation.HealthHealthy)},
			want: got{
				Actions:    []string{"deploy a version-changed denied"},
				Violations: []string{"promotion deny a @environments/x/units.cue:10:3"},
			},
		},
		{
			name: "promotion: source runs another version",
			env: func(e *state.Environment) {
				e.Promotion = &state.Promotion{From: "staging", Soak: dur(24 * time.Hour)}
				e.Units["a"].Version = "1.1.0"
			},
			source: map[string]observation.Unit{"a": running("1.0.5", days(3), observation.HealthHealthy)},
			want: got{
				Actions:    []string{"deploy a version-changed denied"},
				Violations: []string{"promotion deny a @environments/x/units.cue:10:3"},
			},
		},
		{
			name: "promotion: source unhealthy",
			env: func(e *state.Environment) {
				e.Promotion = &state.Promotion{From: "staging", Soak: dur(24 * time.Hour)}
				e.Units["a"].Version = "1.1.0"
			},
			source: map[string]observation.Unit{"a": running("1.1.0", days(3), observation.HealthUnhealthy)},
			want: got{
				Actions:    []string{"deploy a version-changed denied"},
				Violations: []string{"promotion deny a @environments/x/units.cue:10:3"},
			},
		},
		{
			// issue 9, defect 6: a record without deployed_at counted as
			// soaked here, and as not soaked in bump.Promote.
			name: "promotion: source without deployed_at",
			env: func(e *state.Environment) {
				e.Promotion = &state.Promotion{From: "staging", Soak: dur(24 * time.Hour)}
				e.Units["a"].Version = "1.1.0"
			},
			source: map[string]observation.Unit{"a": {Deployed: true, Version: "1.1.0", Health: observation.HealthHealthy}},
			want: got{
				Actions:    []string{"deploy a version-changed denied"},
				Violations: []string{"promotion deny a @environments/x/units.cue:10:3"},
			},
		},
		{
			name: "promotion does not block a max-age redeploy",
			env: func(e *state.Environment) {
				e.Promotion = &state.Promotion{From: "staging", Soak: dur(24 * time.Hour)}
			},
			obs:    func(o map[string]observation.Unit) { o["a"] = running("1.0.0", days(31), observation.HealthHealthy) },
			source: map[string]observation.Unit{},
			want:   got{Actions: []string{"redeploy a max-age"}},
		},
		{
			name: "deploy window closed holds actions",
			env: func(e *state.Environment) {
				e.Policies.Windows = []state.Window{{Days: []string{"mon", "tue"}, Hours: "09:00-17:00", TimeZone: "Europe/Oslo"}}
				e.Units["a"].Version = "1.1.0"
			},
			want: got{
				Actions:    []string{"deploy a version-changed held:2026-11-23T08:00:00Z"},
				Violations: []string{"deploy-window warn a @environments/x/units.cue:1:3"},
			},
		},
		{
			name: "deploy window open",
			env: func(e *state.Environment) {
				e.Policies.Windows = []state.Window{{Days: []string{"sun"}, Hours: "12:00-14:00", TimeZone: "UTC"}}
				e.Units["a"].Version = "1.1.0"
			},
			want: got{Actions: []string{"deploy a version-changed"}},
		},
		{
			name: "deploy window waived",
			env: func(e *state.Environment) {
				e.Policies.Windows = []state.Window{{Days: []string{"mon"}, Hours: "09:00-10:00", TimeZone: "UTC"}}
				e.Units["a"].Version = "1.1.0"
				e.Units["a"].Waivers = []state.Waiver{{Rule: "deploy-window", Until: "2026-11-30", Reason: "incident fix"}}
			},
			want: got{
				Actions:    []string{"deploy a version-changed"},
				Violations: []string{"deploy-window warn a @environments/x/units.cue:1:3 waived"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(tt.env)
			obs := asDesired()
			if tt.obs != nil {
				tt.obs(obs)
			}
			p := plan.Compute(plan.Input{Env: env, Observed: observation.Environment{Units: obs}, Now: now})
			var src *Source
			if tt.source != nil {
				src = &Source{Env: "staging", Observed: tt.source}
			}
			Judge(p, Input{Env: env, Source: src, Now: now})
			if diff := cmp.Diff(tt.want, summarize(p)); diff != "" {
				t.Errorf("judge (-want +got):\n%s", diff)
			}
			for _, a := range p.Actions {
				if a.Applyable != (len(a.Denied) == 0 && a.HeldUntil == nil) {
					t.Errorf("action %s: applyable=%v with denied=%v held=%v", a.Unit, a.Applyable, a.Denied, a.HeldUntil)
				}
			}
		})
	}
}

func TestPromotionSourceNotObserved(t *testing.T) {
	env := newEnv(func(e *state.Environment) {
		e.Promotion = &state.Promotion{From: "staging", Soak: dur(time.Hour)}
		e.Units["a"].Version = "1.1.0"
	})
	p := plan.Compute(plan.Input{Env: env, Observed: observation.Environment{Units: asDesired()}, Now: now})
	Judge(p, Input{Env: env, Source: &Source{Env: "staging", Err: "status record missing"}, Now: now})
	if len(p.Violations) != 1 || p.Violations[0].Rule != Promotion || !p.Violations[0].Blocking() {
		t.Fatalf("violations = %+v, want one blocking promotion violation", p.Violations)
	}
	if p.Actions[0].Applyable {
		t.Errorf("action applyable although the promotion source is unknown")
	}
}
