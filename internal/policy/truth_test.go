package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// TestBuiltAgainst: latest-framework judged on what the artifact says,
// whatever the label; waivers apply; the label's note ("the declared
// label") is plan's, never the truth's.
func TestBuiltAgainst(t *testing.T) {
	for _, tt := range []struct {
		name  string
		mode  string
		label map[string]string
		found map[string]string
		waive bool
		want  []string
	}{
		{"latest", state.FrameworkDeny, map[string]string{"fw": "1.4.0"}, map[string]string{"fw": "1.4.0"}, false, nil},
		{"outdated, label says latest", state.FrameworkDeny, map[string]string{"fw": "1.4.0"}, map[string]string{"fw": "1.3.0"}, false,
			[]string{"deny latest-framework: built against fw 1.3.0, latest is 1.4.0: x rejects this version"}},
		{"outdated, no label", state.FrameworkBump, nil, map[string]string{"fw": "1.3.0"}, false,
			[]string{"bump latest-framework: built against fw 1.3.0, latest is 1.4.0: needs a bump pull request (gearshift bump)"}},
		{"outdated, waived", state.FrameworkDeny, nil, map[string]string{"fw": "1.3.0"}, true,
			[]string{"deny latest-framework: built against fw 1.3.0, latest is 1.4.0: x rejects this version (waived)"}},
		{"off", state.FrameworkOff, nil, map[string]string{"fw": "1.0.0"}, false, nil},
		{"a framework the state does not know", state.FrameworkDeny, nil, map[string]string{"other": "0.1.0"}, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(func(e *state.Environment) { e.Policies.LatestFramework = tt.mode })
			u := env.Units["a"]
			u.Frameworks = tt.label
			u.BuiltAgainst = &state.BuiltAgainst{File: "mix.lock"}
			if tt.waive {
				u.Waivers = []state.Waiver{{Rule: LatestFramework, Until: "2026-12-31", Reason: "rebuilding"}}
			}
			var got []string
			for _, v := range BuiltAgainst(env, u, tt.found, now) {
				s := string(v.Severity) + " " + v.Rule + ": " + v.Message
				if v.Waived != nil {
					s += " (waived)"
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
			if u.BuiltAgainst == nil || cmp.Diff(u.Frameworks, tt.label) != "" {
				t.Error("BuiltAgainst changed the unit")
			}
		})
	}
	// plan's verdict on the label says that apply reads the artifact.
	env := newEnv(func(e *state.Environment) { e.Policies.LatestFramework = state.FrameworkDeny })
	env.Units["a"].Frameworks = map[string]string{"fw": "1.3.0"}
	env.Units["a"].BuiltAgainst = &state.BuiltAgainst{File: "mix.lock"}
	vs := latestFramework(env, env.Units["a"], now)
	want := "built against fw 1.3.0, latest is 1.4.0: x rejects this version (the declared label; apply judges what mix.lock in the artifact says)"
	if len(vs) != 1 || vs[0].Message != want || vs[0].Severity != plan.Deny {
		t.Errorf("plan's verdict = %+v, want one deny: %s", vs, want)
	}
}
