package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/state"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// fleet: frontend and backend feed the stack (the Fragalysis story), zeo is
// on its own and planner depends on it (the OpenPlans story).
func fleet() *state.Environment {
	u := func(name, version string, deps ...string) *state.Unit {
		return &state.Unit{Name: name, Kind: "gear", Version: version, Target: "t", DependsOn: deps}
	}
	return &state.Environment{
		Name:     "x",
		Policies: state.Policies{MaxAge: state.Duration{Duration: 30 * day}},
		Targets:  map[string]state.Target{"t": {Exec: &state.ExecTarget{}}},
		Units: map[string]*state.Unit{
			"frontend": u("frontend", "2.0.0"),
			"backend":  u("backend", "2.0.0"),
			"stack":    u("stack", "2.0.0", "frontend", "backend"),
			"zeo":      u("zeo", "1.0.0"),
			"planner":  u("planner", "3.0.0", "zeo"),
		},
	}
}

func ok(version string, age time.Duration) observation.Unit {
	return observation.Unit{Deployed: true, Version: version, DeployedAt: now.Add(-age), Health: observation.HealthHealthy}
}

func allRunning() map[string]observation.Unit {
	return map[string]observation.Unit{
		"frontend": ok("2.0.0", day), "backend": ok("2.0.0", day), "stack": ok("2.0.0", day),
		"zeo": ok("1.0.0", day), "planner": ok("3.0.0", day),
	}
}

func render(e *Environment) []string {
	var out []string
	for _, a := range e.Actions {
		var codes []string
		for _, r := range a.Reasons {
			codes = append(codes, string(r.Code))
		}
		out = append(out, fmt.Sprintf("%d %s %s %s->%s [%s]", a.Wave, a.Type, a.Unit, a.From, a.To, strings.Join(codes, ",")))
	}
	for _, e := range e.Errors {
		out = append(out, "error "+e.Unit+": "+e.Error)
	}
	for _, u := range e.Unmanaged {
		out = append(out, "unmanaged "+u)
	}
	return out
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name  string
		env   func(*state.Environment)
		obs   func(map[string]observation.Unit)
		extra map[string][]string
		// interrupted are units an earlier apply left mid-action.
		interrupted map[string]string
		want        []string
	}{
		{name: "as desired", want: nil},
		{
			name: "not deployed",
			obs:  func(o map[string]observation.Unit) { o["zeo"] = observation.Unit{Health: observation.HealthMissing} },
			want: []string{"0 deploy zeo ->1.0.0 [not-deployed]"},
		},
		{
			name: "version changed",
			env:  func(e *state.Environment) { e.Units["backend"].Version = "2.1.0" },
			want: []string{"0 deploy backend 2.0.0->2.1.0 [version-changed]"},
		},
		{
			name: "max age",
			obs:  func(o map[string]observation.Unit) { o["zeo"] = ok("1.0.0", 31*day) },
			want: []string{"0 redeploy zeo 1.0.0->1.0.0 [max-age]"},
		},
		{
			name: "unhealthy",
			obs: func(o map[string]observation.Unit) {
				x := ok("1.0.0", day)
				x.Health = observation.HealthUnhealthy
				o["zeo"] = x
			},
			want: []string{"0 redeploy zeo 1.0.0->1.0.0 [unhealthy]"},
		},
		{
			name: "every reason at once",
			env: func(e *state.Environment) {
				e.Units["zeo"].Artifact = &state.Artifact{Source: "x", Checksum: "sha256:" + strings.Repeat("b", 64)}
			},
			obs: func(o map[string]observation.Unit) {
				x := ok("1.0.0", 45*day)
				x.Health = observation.HealthUnhealthy
				x.Checksum = "sha256:" + strings.Repeat("a", 64)
				o["zeo"] = x
			},
			want: []string{"0 redeploy zeo 1.0.0->1.0.0 [drift,max-age,unhealthy]"},
		},
		{
			name: "changed outside gearshift",
			obs: func(o map[string]observation.Unit) {
				x := ok("1.0.0-hotfix", day)
				x.Drift = "image r/zeo:1.0.0-hotfix was set outside gearshift, which rolled out 1.0.0"
				o["zeo"] = x
			},
			want: []string{"0 deploy zeo 1.0.0-hotfix->1.0.0 [drift]"},
		},
		{
			name: "hosts disagree",
			obs: func(o map[string]observation.Unit) {
				o["zeo"] = observation.Unit{Deployed: true, Health: observation.HealthHealthy, Hosts: []observation.Host{
					{Host: "h1", Version: "1.0.0"}, {Host: "h2", Version: "0.9.0"}}}
			},
			want: []string{"0 deploy zeo ->1.0.0 [drift]"},
		},
		{
			name: "waves follow dependsOn",
			env: func(e *state.Environment) {
				for _, u := range e.Units {
					u.Version = "9.0.0"
				}
			},
			want: []string{
				"0 deploy backend 2.0.0->9.0.0 [version-changed]",
				"0 deploy frontend 2.0.0->9.0.0 [version-changed]",
				"0 deploy zeo 1.0.0->9.0.0 [version-changed]",
				"1 deploy planner 3.0.0->9.0.0 [version-changed]",
				"1 deploy stack 2.0.0->9.0.0 [version-changed]",
			},
		},
		{
			name: "waves are compacted to the actions planned",
			env:  func(e *state.Environment) { e.Units["stack"].Version = "9.0.0" },
			want: []string{"0 deploy stack 2.0.0->9.0.0 [version-changed]"},
		},
		{
			name:  "prune when enabled, after everything else",
			env:   func(e *state.Environment) { e.Policies.Prune = true; e.Units["stack"].Version = "9.0.0" },
			extra: map[string][]string{"t": {"old-loader"}},
			want: []string{
				"0 deploy stack 2.0.0->9.0.0 [version-changed]",
				"1 prune old-loader -> [not-declared]",
			},
		},
		{
			name:  "unmanaged when prune is off",
			extra: map[string][]string{"t": {"old-loader"}},
			want:  []string{"unmanaged old-loader"},
		},
		{
			name: "a unit that cannot be observed gets no action",
			obs: func(o map[string]observation.Unit) {
				o["zeo"] = observation.Unit{Error: "status command printed invalid JSON"}
				delete(o, "planner")
			},
			want: []string{"error planner: not observed", "error zeo: status command printed invalid JSON"},
		},
		{
			name:        "an interrupted unit that looks done is redeployed",
			interrupted: map[string]string{"planner": "run r1 was interrupted while deploying 3.0.0"},
			want:        []string{"0 redeploy planner 3.0.0->3.0.0 [interrupted]"},
		},
		{
			name:        "an interrupted unit that needs an action gets the reason too",
			env:         func(e *state.Environment) { e.Units["zeo"].Version = "1.1.0" },
			interrupted: map[string]string{"zeo": "run r1 was interrupted while deploying 1.1.0"},
			want:        []string{"0 deploy zeo 1.0.0->1.1.0 [version-changed,interrupted]"},
		},
		{
			name:        "an interrupted unit that cannot be observed gets no action",
			obs:         func(o map[string]observation.Unit) { o["zeo"] = observation.Unit{Error: "timed out"} },
			interrupted: map[string]string{"zeo": "run r1 was interrupted while deploying 1.0.0"},
			want:        []string{"error zeo: timed out"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fleet()
			if tt.env != nil {
				tt.env(env)
			}
			obs := allRunning()
			if tt.obs != nil {
				tt.obs(obs)
			}
			got := render(Compute(Input{Env: env, Observed: observation.Environment{Units: obs, Extra: tt.extra}, Now: now, Interrupted: tt.interrupted}))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Compute (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	env := fleet()
	env.Units["zeo"].Version = "1.1.0"
	obs := allRunning()
	obs["stack"] = ok("2.0.0", 40*day)
	p := &Plan{Environments: []*Environment{Compute(Input{Env: env, Observed: observation.Environment{Units: obs}, Now: now})}}
	p.Environments[0].Violations = []Violation{{Rule: "r", Severity: Deny}, {Rule: "w", Severity: Deny, Waived: &Waived{}}}
	got := p.Summarize()
	want := Summary{Deploy: 1, Redeploy: 1, Violations: 2, Blocking: 1}
	if got != want {
		t.Errorf("Summarize() = %+v, want %+v", got, want)
	}
	if !got.HasChanges() {
		t.Error("HasChanges() = false")
	}
}

// TestNotObserved: units nothing is known of are listed as not observed,
// get no action and no observation (which would read "deployed": false),
// and count in the summary; a partly observed unit is planned from what was
// seen, with its error.
func TestNotObserved(t *testing.T) {
	env := fleet()
	obs := allRunning()
	obs["zeo"] = observation.Unit{Unit: "zeo", Health: observation.HealthUnknown, Error: "observe timed out after 1s"}
	delete(obs, "planner")
	partly := ok("1.9.0", day)
	partly.Error = "h2: connection refused"
	obs["stack"] = partly
	e := Compute(Input{Env: env, Observed: observation.Environment{Units: obs}, Now: now})
	if diff := cmp.Diff([]string{"planner", "zeo"}, e.NotObserved); diff != "" {
		t.Errorf("NotObserved (-want +got):\n%s", diff)
	}
	for _, n := range e.NotObserved {
		if _, ok := e.Observations[n]; ok {
			t.Errorf("Observations holds %s, which was not observed", n)
		}
	}
	if _, ok := obs["zeo"]; !ok {
		t.Error("Compute changed its input's observations")
	}
	want := []string{"0 deploy stack 1.9.0->2.0.0 [version-changed]",
		"error planner: not observed", "error stack: h2: connection refused", "error zeo: observe timed out after 1s"}
	if diff := cmp.Diff(want, render(e)); diff != "" {
		t.Errorf("Compute (-want +got):\n%s", diff)
	}
	p := &Plan{Environments: []*Environment{e}}
	if s := p.Summarize(); s.NotObserved != 2 || s.Errors != 3 || s.Deploy != 1 {
		t.Errorf("Summarize() = %+v, want 2 not observed, 3 errors, 1 deploy", s)
	}
}

// TestAssess is the one drift rule of plan and status: what runs differs
// from what is desired (not deployed, other version, other artifact, hosts
// that disagree); age and health are reasons but not drift; a unit not
// observed has no drift at all (unknown), not "no drift".
func TestAssess(t *testing.T) {
	yes, no := new(bool), new(bool)
	*yes = true
	sum := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	tests := []struct {
		name     string
		obs      observation.Unit
		found    bool
		observed bool
		drift    *bool
		action   string
	}{
		{name: "as desired", obs: ok("1.0.0", day), found: true, observed: true, drift: no},
		{name: "no observation", found: false, observed: false},
		{name: "timed out", obs: observation.Unit{Health: observation.HealthUnknown, Error: "observe timed out after 1s"}, found: true, observed: false},
		{name: "not deployed", obs: observation.Unit{Health: observation.HealthMissing}, found: true, observed: true, drift: yes, action: "deploy"},
		{name: "other version", obs: ok("0.9.0", day), found: true, observed: true, drift: yes, action: "deploy"},
		{name: "other artifact", obs: func() observation.Unit { o := ok("1.0.0", day); o.Checksum = sum("a"); return o }(), found: true, observed: true, drift: yes, action: "redeploy"},
		{name: "hosts disagree", obs: observation.Unit{Deployed: true, Hosts: []observation.Host{{Host: "a", Version: "1.0.0"}, {Host: "b"}}}, found: true, observed: true, drift: yes, action: "deploy"},
		{name: "too old", obs: ok("1.0.0", 31*day), found: true, observed: true, drift: no, action: "redeploy"},
		{name: "unhealthy", obs: func() observation.Unit { o := ok("1.0.0", day); o.Health = observation.HealthUnhealthy; return o }(), found: true, observed: true, drift: no, action: "redeploy"},
		{name: "partly observed", obs: func() observation.Unit { o := ok("0.9.0", day); o.Error = "h2: refused"; return o }(), found: true, observed: true, drift: yes, action: "deploy"},
	}
	env := fleet()
	u := env.Units["zeo"]
	u.Artifact = &state.Artifact{Source: "x", Checksum: sum("b")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Assess(env, u, tt.obs, tt.found, now)
			if got.Observed != tt.observed {
				t.Errorf("Observed = %v, want %v", got.Observed, tt.observed)
			}
			if diff := cmp.Diff(tt.drift, got.Drift); diff != "" {
				t.Errorf("Drift (-want +got):\n%s", diff)
			}
			action := ""
			if got.Action != nil {
				action = string(got.Action.Type)
			}
			if action != tt.action {
				t.Errorf("Action = %q, want %q", action, tt.action)
			}
			if !got.Observed && got.Error == "" {
				t.Error("a unit not observed has no error saying why")
			}
		})
	}
}
