package notify

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// KindDeployment is the kind of the reports made by Deployments.
const KindDeployment = "deployment"

// DeploymentAPI records deployments (forge.GitHub).
type DeploymentAPI interface {
	CreateDeployment(ctx context.Context, d forge.Deployment) (int64, error)
	SetDeploymentStatus(ctx context.Context, id int64, s forge.DeploymentStatus) error
}

// Deployments shows an apply on GitHub's Environments page: when an
// environment's judged plan is about to be carried out (Start), a
// deployment of the state commit for each unit the run will deploy or
// redeploy (GitHub environment "<env>/<unit>"), or one for the
// environment ("<env>"), each in_progress; when the environment is done
// (Finish), success, failure, or error for an action that was not run.
// A success makes the environment's earlier deployments inactive
// (auto_inactive). A call that fails is reported, never fatal.
type Deployments struct {
	API DeploymentAPI
	// Ref is the state commit applied (GitHub needs one).
	Ref    string
	LogURL string
	Redact func(string) string

	mu   sync.Mutex
	open map[string][]openDeployment // by environment
	errs map[string][]apply.Report
}

type openDeployment struct {
	id   int64
	name string // the GitHub environment
	unit string // "" for a deployment of the environment
	url  string // environment_url
	to   string
}

// Payload is the data a deployment carries (the API shows it).
type Payload struct {
	FormatVersion string        `json:"format_version"`
	Environment   string        `json:"environment"`
	Units         []PayloadUnit `json:"units"`
}

// PayloadUnit is a unit's deploy.
type PayloadUnit struct {
	Unit string `json:"unit"`
	From string `json:"from,omitempty"`
	To   string `json:"to"`
}

func mode(env *state.Environment) string {
	if env.GitHub == nil || env.GitHub.Deployments == "" {
		return state.DeploymentsPerUnit
	}
	return env.GitHub.Deployments
}

// Start records the deployments of pe's actions that may run.
func (d *Deployments) Start(ctx context.Context, env *state.Environment, pe *plan.Environment) {
	if d == nil || d.API == nil || d.Ref == "" || mode(env) == state.DeploymentsOff {
		return
	}
	var units []PayloadUnit
	rollback := false
	for _, a := range pe.Actions {
		rollback = rollback || a.Type == plan.Rollback
		if a.Applyable && a.Type != plan.Prune {
			units = append(units, PayloadUnit{Unit: a.Unit, From: a.From, To: a.To})
		}
	}
	if len(units) == 0 {
		return
	}
	var todo []openDeployment
	if mode(env) == state.DeploymentsPerEnvironment {
		url := ""
		if env.GitHub != nil {
			url = env.GitHub.EnvironmentURL
		}
		todo = append(todo, openDeployment{name: env.Name, url: url})
	} else {
		for _, u := range units {
			o := openDeployment{name: env.Name + "/" + u.Unit, unit: u.Unit, to: u.To}
			if su := env.Units[u.Unit]; su != nil {
				o.url = su.EnvironmentURL
			}
			todo = append(todo, o)
		}
	}
	for _, o := range todo {
		p := Payload{FormatVersion: FormatVersion, Environment: env.Name, Units: units}
		desc := fmt.Sprintf("gearshift: %d units", len(units))
		if o.unit != "" {
			u := units[indexOf(units, o.unit)]
			p.Units = []PayloadUnit{u}
			desc = "gearshift: " + u.Unit + " " + u.To
		}
		progress := "deploying " + strings.TrimPrefix(desc, "gearshift: ")
		if rollback {
			u := units[0]
			desc = "gearshift rollback: " + u.Unit + " " + u.From + " to " + u.To
			progress = "rolling back " + u.Unit + " from " + u.From + " to " + u.To
		}
		id, err := d.API.CreateDeployment(ctx, forge.Deployment{Ref: d.Ref, Environment: o.name, Description: desc, Payload: p})
		if err == nil {
			o.id = id
			err = d.API.SetDeploymentStatus(ctx, id, forge.DeploymentStatus{State: forge.StateInProgress, Description: progress, LogURL: d.LogURL, EnvironmentURL: o.url})
		}
		d.mu.Lock()
		if d.open == nil {
			d.open, d.errs = map[string][]openDeployment{}, map[string][]apply.Report{}
		}
		if o.id != 0 {
			d.open[env.Name] = append(d.open[env.Name], o)
		}
		if err != nil {
			d.errs[env.Name] = append(d.errs[env.Name], apply.Report{Kind: KindDeployment, Name: o.name, Outcome: Failed, Error: d.clean(err.Error())})
		}
		d.mu.Unlock()
	}
}

func indexOf(us []PayloadUnit, unit string) int {
	for i, u := range us {
		if u.Unit == unit {
			return i
		}
	}
	return 0
}

// Finish sets the final status of env's deployments from its result.
func (d *Deployments) Finish(ctx context.Context, env *state.Environment, res *apply.EnvResult) []apply.Report {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	open, reports := d.open[env.Name], d.errs[env.Name]
	delete(d.open, env.Name)
	delete(d.errs, env.Name)
	d.mu.Unlock()
	byUnit := map[string]apply.UnitResult{}
	for _, u := range res.Units {
		byUnit[u.Unit] = u
	}
	for _, o := range open {
		st := forge.DeploymentStatus{LogURL: d.LogURL, EnvironmentURL: o.url}
		if o.unit == "" {
			switch Outcome(res) {
			case OutcomeSuccess:
				st.State = forge.StateSuccess
			case OutcomeHeld:
				st.State = forge.StateError
			default:
				st.State = forge.StateFailure
			}
			c := res.Counts
			st.Description = fmt.Sprintf("%d deployed, %d redeployed, %d rolled back, %d failed, %d skipped", c.Deployed, c.Redeployed, c.RolledBack, c.Failed, c.Skipped)
			if res.Command == CommandRollback {
				st.Description = "gearshift rollback: " + RollbackSummary(res)
			}
		} else {
			st.State, st.Description = unitStatus(o, byUnit[o.unit], res)
		}
		st.Description = forge.TruncateDescription(d.clean(st.Description))
		rep := apply.Report{Kind: KindDeployment, Name: o.name, Outcome: st.State, Detail: fmt.Sprintf("deployment %d", o.id)}
		if err := d.API.SetDeploymentStatus(ctx, o.id, st); err != nil {
			rep.Outcome, rep.Error = Failed, d.clean(err.Error())
		}
		reports = append(reports, rep)
	}
	return reports
}

// unitStatus is a unit deployment's final state and description.
func unitStatus(o openDeployment, u apply.UnitResult, res *apply.EnvResult) (string, string) {
	if res.Command == CommandRollback {
		if Outcome(res) == OutcomeSuccess {
			return forge.StateSuccess, fmt.Sprintf("%s rolled back from %s to %s by gearshift rollback in %.0fs", o.unit, u.From, u.To, u.Seconds)
		}
		return forge.StateFailure, "gearshift rollback: " + RollbackSummary(res)
	}
	switch u.Outcome {
	case apply.Deployed, apply.Redeployed:
		return forge.StateSuccess, fmt.Sprintf("%s %s %s in %.0fs", o.unit, u.To, u.Outcome, u.Seconds)
	case apply.RolledBack:
		return forge.StateFailure, fmt.Sprintf("%s %s rolled back to %s: %s", o.unit, u.To, u.RolledBackTo, firstLine(u.Error))
	case apply.Failed:
		return forge.StateFailure, fmt.Sprintf("%s %s failed: %s", o.unit, u.To, firstLine(u.Error))
	case apply.Skipped:
		return forge.StateError, fmt.Sprintf("%s %s not deployed: %s", o.unit, o.to, firstLine(u.Reason))
	}
	if res.Interrupted {
		return forge.StateError, fmt.Sprintf("%s %s not deployed: the run was interrupted", o.unit, o.to)
	}
	return forge.StateError, fmt.Sprintf("%s %s not deployed", o.unit, o.to)
}

func (d *Deployments) clean(s string) string {
	if d.Redact != nil {
		return d.Redact(s)
	}
	return s
}
