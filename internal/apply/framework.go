package apply

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/artifact"
	"github.com/gearshift-dev/gearshift/internal/policy"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// builtAgainst reads what u's unpacked artifact in dir was really built
// against (u.BuiltAgainst; antikythera: the gear's mix.lock) after the
// download and before anything of the unit starts, and refuses it when:
//
//   - the file contradicts the unit's frameworks label (a version other
//     than declared, or no mention of a declared framework): the label is
//     what plan judged, so the artifact is not what was planned;
//   - the latest-framework policy, judged on what the file says, denies
//     it (prod rejects a gear built against an outdated framework).
//
// A warn or bump verdict on the truth is a note. Every framework of the
// environment is looked for, declared or not: a unit that declares none
// is judged on what its artifact says.
func (r *runner) builtAgainst(u *state.Unit, dir string) error {
	b := u.BuiltAgainst
	if b == nil {
		return nil
	}
	if dir == "" {
		return fmt.Errorf("unit %s: builtAgainst names %s, but the unit has no artifact to read it from", u.Name, b.File)
	}
	names := slices.Sorted(maps.Keys(r.env.Frameworks))
	for fw := range u.Frameworks {
		if !slices.Contains(names, fw) {
			names = append(names, fw)
		}
	}
	found, err := artifact.BuiltAgainst(dir, artifact.BuiltAgainstSpec{File: b.File, Pattern: b.Pattern}, names)
	if err != nil {
		return fmt.Errorf("unit %s: what the artifact was built against: %w", u.Name, err)
	}
	var bad []string
	for _, fw := range slices.Sorted(maps.Keys(u.Frameworks)) {
		declared := u.Frameworks[fw]
		got, ok := found[fw]
		where := ""
		if p := u.Pos.Of("frameworks." + fw); p.File != "" {
			where = " (" + p.String() + ")"
		}
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s does not mention %s, declared %s%s", b.File, fw, declared, where))
		case state.CompareVersions(got, declared) != 0: // "v1.2.0" (go.mod) is 1.2.0
			bad = append(bad, fmt.Sprintf("%s says %s %s, declared %s%s", b.File, fw, got, declared, where))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("unit %s %s: the artifact contradicts its declared frameworks: %s; nothing was started", u.Name, u.Version, strings.Join(bad, "; "))
	}
	for _, v := range policy.BuiltAgainst(r.env, u, found, r.now) {
		msg := fmt.Sprintf("%s (from %s in the artifact)", v.Message, b.File)
		if v.Blocking() {
			return fmt.Errorf("unit %s %s: denied by %s: %s; nothing was started", u.Name, u.Version, v.Rule, msg)
		}
		if v.Waived == nil {
			r.note(fmt.Sprintf("%s: [%s] %s: %s", u.Name, v.Severity, v.Rule, msg))
		}
	}
	var seen []string
	for _, fw := range slices.Sorted(maps.Keys(found)) {
		seen = append(seen, fw+" "+found[fw])
	}
	if len(seen) > 0 {
		r.step(u.Name, "built against "+strings.Join(seen, ", ")+" ("+b.File+")")
	}
	return nil
}
