package bump

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/policy"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// ErrNoRecord is matched when the source environment has no status record
// yet: nothing has been soaked, so nothing can be promoted.
var ErrNoRecord = errors.New("no status record")

// PromoteInput is what Promote reads.
type PromoteInput struct {
	State    *state.State
	From, To string
	// Record is the source environment's status record (nil when it has
	// none yet).
	Record *statusrec.Record
	Now    time.Time
}

// Promote proposes, in one pull request, every unit of To whose version
// differs from what From has run healthily for at least To's soak time, as
// From's status record shows. The frameworks a promoted release was built
// against (as observed) come along. A unit that is not ready, would go
// backwards, or breaks To's version pattern is skipped with the reason. The
// proposal is nil when nothing is ready.
func Promote(in PromoteInput) (*Proposal, []Skipped, error) {
	to, from := in.State.Environments[in.To], in.State.Environments[in.From]
	switch {
	case to == nil:
		return nil, nil, fmt.Errorf("no environment %q", in.To)
	case from == nil:
		return nil, nil, fmt.Errorf("no environment %q", in.From)
	case to.Promotion == nil:
		return nil, nil, fmt.Errorf("%s declares no promotion (environment.promotion.from at %s)", in.To, to.Pos.Of("name"))
	case to.Promotion.From != in.From:
		return nil, nil, fmt.Errorf("%s is promoted from %s, not %s (%s)", in.To, to.Promotion.From, in.From, to.Pos.Of("promotion.from"))
	case in.Record == nil:
		return nil, nil, fmt.Errorf("%w of %s yet: nothing has been soaked there", ErrNoRecord, in.From)
	}
	soak := to.Promotion.Soak
	var pattern *regexp.Regexp
	if to.Policies.VersionPattern != "" {
		pattern, _ = regexp.Compile(to.Policies.VersionPattern)
	}
	p := &Proposal{Kind: Promotion, Key: "promote/" + in.From + "/" + in.To, Branch: branchName("gearshift/promote-" + in.From + "-" + in.To)}
	var skipped []Skipped
	var names []string
	for _, un := range to.UnitNames() {
		u := to.Units[un]
		skip := func(version, format string, args ...any) {
			skipped = append(skipped, Skipped{Env: in.To, Unit: un, Version: version, Reason: fmt.Sprintf(format, args...)})
		}
		obs := in.Record.Units[un]
		if obs.Deployed && !obs.Failed() && obs.Version == u.Version {
			continue
		}
		v := obs.Version
		soaked, err := policy.Soaked(in.From, un, obs, soak, in.Now)
		switch {
		case err != nil:
			skip(v, "%v", err)
		case in.Record.Failed[un] == v:
			skip(v, "%s failed to deploy %s and rolled it back", in.From, v)
		case pattern != nil && !pattern.MatchString(v):
			skip(v, "%s does not match %s's version pattern %s", v, in.To, to.Policies.VersionPattern)
		case state.CompareVersions(v, u.Version) < 0:
			skip(v, "%s is older than %s's %s: promote never goes backwards (use rollback)", v, in.To, u.Version)
		default:
			ev := &Evidence{Env: in.From, DeployedAt: obs.DeployedAt.UTC(), Health: string(obs.Health),
				Soaked: state.FormatDuration(soaked.Truncate(time.Minute)), Soak: soak.String()}
			p.Changes = append(p.Changes, Change{Env: in.To, Unit: un, Field: "version", label: "version",
				Old: u.Version, New: v, Pos: u.Pos.Of("version"), Evidence: ev})
			for _, fn := range sortedKeys(u.Frameworks) {
				built, ok := obs.Frameworks[fn]
				if ok && built != u.Frameworks[fn] {
					p.Changes = append(p.Changes, Change{Env: in.To, Unit: un, Field: "frameworks." + fn, label: fn,
						Old: u.Frameworks[fn], New: built, Pos: u.Pos.Of("frameworks." + fn), Evidence: ev})
				}
			}
			names = append(names, un+" "+v)
		}
	}
	if len(p.Changes) == 0 {
		return nil, skipped, nil
	}
	p.Title = fmt.Sprintf("Promote %s → %s: %s", in.From, in.To, strings.Join(names, ", "))
	if len(p.Title) > 120 {
		p.Title = fmt.Sprintf("Promote %s → %s: %d units", in.From, in.To, len(names))
	}
	return p, skipped, nil
}
