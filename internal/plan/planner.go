package plan

import (
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Input is what the planner reads for one environment.
type Input struct {
	Env      *state.Environment
	Observed observation.Environment
	// ObservedFrom is "live" or "status".
	ObservedFrom string
	// StatusRecord describes the status record observations came from
	// (ObservedFrom "status"), nil when live.
	StatusRecord *StatusRecord
	Now          time.Time
	// Interrupted are the units an earlier apply left in the middle of an
	// action (its journal has the start and no end), with what it was
	// doing. Each gets a redeploy, or its action gets the reason too, so
	// that the unit's checks run again, judged like any other action.
	Interrupted map[string]string
}

// Compute plans one environment: an action for every unit whose running
// state differs from the desired one, with all its reasons, ordered in
// waves by dependsOn. Policy verdicts are added by policy.Judge.
func Compute(in Input) *Environment {
	env := in.Env
	out := &Environment{
		Name:         env.Name,
		Actions:      []*Action{},
		Violations:   []Violation{},
		Observations: make(map[string]observation.Unit, len(in.Observed.Units)),
		ObservedFrom: in.ObservedFrom,
		StatusRecord: in.StatusRecord,
	}
	maps.Copy(out.Observations, in.Observed.Units)
	if out.ObservedFrom == "" {
		out.ObservedFrom = "live"
	}
	waves := Waves(env)
	for _, name := range env.UnitNames() {
		u := env.Units[name]
		obs, found := in.Observed.Units[name]
		as := Assess(env, u, obs, found, in.Now)
		if as.Error != "" {
			out.Errors = append(out.Errors, UnitError{Unit: name, Error: as.Error})
		}
		if !as.Observed {
			// Nothing is known of it: no action, and no observation
			// that would claim it is not deployed.
			out.NotObserved = append(out.NotObserved, name)
			delete(out.Observations, name)
			continue
		}
		a := as.Action
		if why, ok := in.Interrupted[name]; ok {
			a = interrupted(a, u, obs, why)
		}
		if a == nil {
			continue
		}
		a.Wave = waves[name]
		out.Actions = append(out.Actions, a)
	}
	maxWave := 0
	for _, a := range out.Actions {
		maxWave = max(maxWave, a.Wave)
	}
	for _, t := range sortedKeys(in.Observed.Extra) {
		for _, n := range in.Observed.Extra[t] {
			if !env.Policies.Prune {
				out.Unmanaged = append(out.Unmanaged, n)
				continue
			}
			out.Actions = append(out.Actions, &Action{
				Unit: n, Type: Prune, Target: t, Wave: maxWave + 1, Applyable: true,
				Reasons: []Reason{{Code: NotDeclared, Message: fmt.Sprintf("runs on target %s but is not declared in %s", t, env.Name)}},
			})
		}
	}
	for t, e := range in.Observed.InventoryErrors {
		out.Errors = append(out.Errors, UnitError{Unit: "target " + t, Error: e})
	}
	sort.Slice(out.Errors, func(i, j int) bool { return out.Errors[i].Unit < out.Errors[j].Unit })
	compactWaves(out.Actions)
	sort.SliceStable(out.Actions, func(i, j int) bool {
		a, b := out.Actions[i], out.Actions[j]
		if a.Wave != b.Wave {
			return a.Wave < b.Wave
		}
		return a.Unit < b.Unit
	})
	return out
}

// unitAction decides what u needs, or nil when it is as desired.
func unitAction(env *state.Environment, u *state.Unit, obs observation.Unit, now time.Time) *Action {
	a := &Action{
		Unit: u.Name, Kind: u.Kind, Target: u.Target, Strategy: u.Strategy,
		From: obs.Version, To: u.Version, DependsOn: u.DependsOn,
		Applyable: true, Pos: u.Pos.Of("version"),
	}
	switch {
	case !obs.Deployed:
		a.Type = Deploy
		a.Reasons = append(a.Reasons, Reason{NotDeployed, fmt.Sprintf("%s is not deployed on target %s", u.Name, u.Target)})
		return a
	case obs.Version == "" && len(obs.Hosts) > 0:
		a.Type = Deploy
		a.Reasons = append(a.Reasons, Reason{Drift, "hosts run different versions: " + hostVersions(obs.Hosts)})
		return a
	case obs.Version != u.Version && obs.Drift != "":
		a.Type = Deploy
		a.Reasons = append(a.Reasons, Reason{Drift, fmt.Sprintf("runs %s, desired %s: %s", obs.Version, u.Version, obs.Drift)})
		return a
	case obs.Version != u.Version:
		a.Type = Deploy
		a.Reasons = append(a.Reasons, Reason{VersionChanged, fmt.Sprintf("runs %s, desired %s", obs.Version, u.Version)})
		return a
	}
	a.Type = Redeploy
	if u.Artifact != nil && u.Artifact.Checksum != "" && obs.Checksum != "" && obs.Checksum != u.Artifact.Checksum {
		a.Reasons = append(a.Reasons, Reason{Drift, fmt.Sprintf("runs an artifact with checksum %s, desired %s", short(obs.Checksum), short(u.Artifact.Checksum))})
	}
	maxAge := MaxAgeOf(env, u)
	if !obs.DeployedAt.IsZero() && maxAge > 0 {
		if age := now.Sub(obs.DeployedAt); age > maxAge {
			a.Reasons = append(a.Reasons, Reason{MaxAge, fmt.Sprintf("deployed %s ago (%s), older than maxAge %s",
				state.FormatDuration(age.Truncate(time.Hour)), obs.DeployedAt.UTC().Format(time.DateOnly), state.FormatDuration(maxAge))})
		}
	}
	if obs.Health == observation.HealthUnhealthy || obs.Health == observation.HealthMissing {
		msg := string(obs.Health)
		if obs.HealthDetail != "" {
			msg = obs.HealthDetail
		}
		a.Reasons = append(a.Reasons, Reason{Unhealthy, msg})
	}
	if len(a.Reasons) == 0 {
		return nil
	}
	return a
}

// interrupted adds the reason Interrupted to a, or makes a redeploy of a
// unit that looks as desired but whose last action never ended.
func interrupted(a *Action, u *state.Unit, obs observation.Unit, why string) *Action {
	if a == nil {
		a = &Action{
			Unit: u.Name, Kind: u.Kind, Type: Redeploy, Target: u.Target, Strategy: u.Strategy,
			From: obs.Version, To: u.Version, DependsOn: u.DependsOn,
			Applyable: true, Pos: u.Pos.Of("version"),
		}
	}
	a.Reasons = append(a.Reasons, Reason{Interrupted, why})
	return a
}

// MaxAgeOf is the unit's maxAge, or its environment's.
func MaxAgeOf(env *state.Environment, u *state.Unit) time.Duration {
	if u.MaxAge != nil {
		return u.MaxAge.Duration
	}
	return env.Policies.MaxAge.Duration
}

// Waves numbers every unit of env by dependsOn: a unit's wave is one more
// than the highest wave of the units it depends on. The state loader has
// already refused cycles.
func Waves(env *state.Environment) map[string]int {
	waves := make(map[string]int, len(env.Units))
	var visit func(n string, depth int) int
	visit = func(n string, depth int) int {
		if w, ok := waves[n]; ok {
			return w
		}
		u := env.Units[n]
		w := 0
		if u != nil && depth <= len(env.Units) {
			for _, d := range u.DependsOn {
				if env.Units[d] != nil {
					w = max(w, visit(d, depth+1)+1)
				}
			}
		}
		waves[n] = w
		return w
	}
	for n := range env.Units {
		visit(n, 0)
	}
	return waves
}

// compactWaves renumbers the waves actions use as 0, 1, 2, ...
func compactWaves(actions []*Action) {
	used := map[int]bool{}
	for _, a := range actions {
		used[a.Wave] = true
	}
	ws := make([]int, 0, len(used))
	for w := range used {
		ws = append(ws, w)
	}
	sort.Ints(ws)
	idx := map[int]int{}
	for i, w := range ws {
		idx[w] = i
	}
	for _, a := range actions {
		a.Wave = idx[a.Wave]
	}
}

func hostVersions(hs []observation.Host) string {
	s := ""
	for i, h := range hs {
		if i > 0 {
			s += ", "
		}
		v := h.Version
		if v == "" {
			v = "none"
		}
		s += h.Host + "=" + v
	}
	return s
}

func short(sum string) string {
	if len(sum) > 19 {
		return sum[:19]
	}
	return sum
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
