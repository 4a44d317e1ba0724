package serve

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
)

// StatusFormatVersion is the version of /status.json.
const StatusFormatVersion = "1"

// Status is what the page shows, and /status.json serves.
type Status struct {
	FormatVersion string      `json:"format_version"`
	GeneratedAt   time.Time   `json:"generated_at"`
	Repo          string      `json:"repo"`
	Environments  []EnvStatus `json:"environments"`
	// Units are the names of every environment's units, sorted: the
	// rows of the matrix.
	Units []string `json:"units"`
}

// EnvStatus is one environment as serve last saw it.
type EnvStatus struct {
	Name string `json:"name"`
	// Ref and Commit are what was last fetched; AppliedCommit is the
	// commit whose state was last reconciled (or found the same).
	Ref           string `json:"ref,omitempty"`
	Commit        string `json:"commit,omitempty"`
	AppliedCommit string `json:"applied_commit,omitempty"`
	// Phase is pending, applying, synced, held, failed, invalid or error;
	// Message says why.
	Phase string `json:"phase"`
	// Leader is the replica holding the environment's Lease (with
	// --leader-elect).
	Leader     string           `json:"leader,omitempty"`
	Message    string           `json:"message,omitempty"`
	ObservedAt time.Time        `json:"observed_at,omitzero"`
	NextCheck  time.Time        `json:"next_check,omitzero"`
	Units      []UnitStatus     `json:"units"`
	Violations []plan.Violation `json:"violations"`
	Runs       []Run            `json:"runs"`
}

// UnitStatus is one cell of the matrix.
type UnitStatus struct {
	Name    string             `json:"unit"`
	Desired string             `json:"desired"`
	Running string             `json:"running,omitempty"`
	Health  observation.Health `json:"health,omitempty"`
	// Deployed is false when nothing of the unit runs.
	Deployed      bool      `json:"deployed"`
	Observed      bool      `json:"observed"`
	DeployedAt    time.Time `json:"deployed_at,omitzero"`
	AgeSeconds    float64   `json:"age_seconds,omitempty"`
	MaxAgeSeconds float64   `json:"max_age_seconds,omitempty"`
	// Age is fresh (under three quarters of maxAge), ageing, aged (past
	// it) or unknown.
	Age   string `json:"age"`
	Drift *bool  `json:"drift,omitempty"`
	// Action is what the last judged plan would do, with its reasons,
	// and whether a policy denied or a window held it.
	Action     string   `json:"action,omitempty"`
	Reasons    []string `json:"reasons,omitempty"`
	Denied     bool     `json:"denied,omitempty"`
	Held       bool     `json:"held,omitempty"`
	Violations int      `json:"violations,omitempty"`
	Failed     string   `json:"failed_version,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// Run is one reconcile of an environment.
type Run struct {
	Started     time.Time    `json:"started_at"`
	Seconds     float64      `json:"duration_seconds"`
	Trigger     string       `json:"trigger"`
	Commit      string       `json:"commit,omitempty"`
	Result      string       `json:"result"`
	Counts      apply.Counts `json:"counts"`
	Interrupted bool         `json:"interrupted,omitempty"`
	Errors      []string     `json:"errors,omitempty"`
	Units       []RunUnit    `json:"units,omitempty"`
}

// RunUnit is what a run did to one unit.
type RunUnit struct {
	Unit    string `json:"unit"`
	Action  string `json:"action"`
	To      string `json:"to,omitempty"`
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// snapshot is the environment's status now.
func (l *envLoop) snapshot() EnvStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	es := EnvStatus{Name: l.name, Leader: l.leader, Commit: l.commit, AppliedCommit: l.appliedCommit, Phase: l.phase, Message: l.message,
		ObservedAt: l.observedAt.UTC(), NextCheck: l.nextCheck.UTC(), Runs: slices.Clone(l.runs), Violations: []plan.Violation{}, Units: []UnitStatus{}}
	if l.observedAt.IsZero() {
		es.ObservedAt = time.Time{}
	}
	if l.checkout != nil {
		es.Ref = l.checkout.Ref
	}
	if es.Runs == nil {
		es.Runs = []Run{}
	}
	if l.st != nil && l.lastPlan != nil {
		es.Units = l.unitsLocked(l.lastPlan, l.s.cfg.Now())
		es.Violations = append(es.Violations, l.lastPlan.Violations...)
	}
	return es
}

func (l *envLoop) units(pe *plan.Environment, now time.Time) []UnitStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unitsLocked(pe, now)
}

// unitsLocked builds the cells of the environment from the state, the
// last observation and the judged plan pe.
func (l *envLoop) unitsLocked(pe *plan.Environment, now time.Time) []UnitStatus {
	env := l.st.Environments[l.name]
	actions := map[string]*plan.Action{}
	for _, a := range pe.Actions {
		actions[a.Unit] = a
	}
	violations := map[string]int{}
	for _, v := range pe.Violations {
		violations[v.Unit]++
	}
	names := make([]string, 0, len(env.Units))
	for n := range env.Units {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]UnitStatus, 0, len(names))
	for _, n := range names {
		u := env.Units[n]
		obs, found := l.observed.Units[n]
		as := plan.Assess(env, u, obs, found, now)
		us := UnitStatus{Name: n, Desired: u.Version, Observed: as.Observed, Error: as.Error, Drift: as.Drift,
			Violations: violations[n], Failed: l.failed[n], Age: "unknown"}
		if found {
			us.Running, us.Health, us.Deployed = obs.Version, obs.Health, obs.Deployed
			if !obs.DeployedAt.IsZero() {
				us.DeployedAt = obs.DeployedAt.UTC()
				us.AgeSeconds = max(now.Sub(obs.DeployedAt).Seconds(), 0)
			}
		}
		maxAge := env.Policies.MaxAge.Duration
		if u.MaxAge != nil {
			maxAge = u.MaxAge.Duration
		}
		us.MaxAgeSeconds = maxAge.Seconds()
		switch {
		case us.DeployedAt.IsZero():
		case maxAge <= 0:
			us.Age = "fresh"
		case us.AgeSeconds >= maxAge.Seconds():
			us.Age = "aged"
		case us.AgeSeconds >= 0.75*maxAge.Seconds():
			us.Age = "ageing"
		default:
			us.Age = "fresh"
		}
		if a := actions[n]; a != nil {
			us.Action = string(a.Type)
			for _, r := range a.Reasons {
				us.Reasons = append(us.Reasons, string(r.Code))
			}
			us.Denied = len(a.Denied) > 0
			us.Held = a.HeldUntil != nil
		}
		out = append(out, us)
	}
	return out
}

func (s *Server) json(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.Status()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Bytes())
}

//go:embed status.html
var pageSource string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"short": short,
	"ago":   ago,
	"age":   humanSeconds,
	"cell":  cell,
	"seconds": func(s float64) string {
		return humanSeconds(s)
	},
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join":  strings.Join,
	"deref": func(b *bool) bool { return b != nil && *b },
}).Parse(pageSource))

// page is the HTML status page; every value from the state or a target
// goes through html/template's escaping.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	st := s.Status()
	var b bytes.Buffer
	data := pageData{Status: st, Now: st.GeneratedAt}
	for _, e := range st.Environments {
		data.Unhealthy += count(e.Units, func(u UnitStatus) bool {
			return u.Health != "" && u.Health != observation.HealthHealthy
		})
		data.Aged += count(e.Units, func(u UnitStatus) bool { return u.Age == "aged" })
		data.Drift += count(e.Units, func(u UnitStatus) bool { return u.Drift != nil && *u.Drift })
		data.Cells += len(e.Units)
		for _, v := range e.Violations {
			data.Violations = append(data.Violations, envViolation{Env: e.Name, Violation: v})
		}
		for _, run := range e.Runs {
			data.Runs = append(data.Runs, envRun{Env: e.Name, Run: run})
		}
	}
	slices.SortFunc(data.Runs, func(a, b envRun) int { return b.Run.Started.Compare(a.Run.Started) })
	if len(data.Runs) > 15 {
		data.Runs = data.Runs[:15]
	}
	if err := pageTemplate.Execute(&b, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Write(b.Bytes())
}

type pageData struct {
	*Status
	Now                           time.Time
	Cells, Unhealthy, Aged, Drift int
	Violations                    []envViolation
	Runs                          []envRun
}

type envViolation struct {
	Env string
	plan.Violation
}

type envRun struct {
	Env string
	Run
}

func count(us []UnitStatus, f func(UnitStatus) bool) int {
	n := 0
	for _, u := range us {
		if f(u) {
			n++
		}
	}
	return n
}

// cell finds a unit of an environment for the matrix (nil: the
// environment has no such unit).
func cell(e EnvStatus, unit string) *UnitStatus {
	i, ok := slices.BinarySearchFunc(e.Units, unit, func(u UnitStatus, n string) int { return strings.Compare(u.Name, n) })
	if !ok {
		return nil
	}
	return &e.Units[i]
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return humanSeconds(now.Sub(t).Seconds()) + " ago"
}

// humanSeconds is a duration as a person reads it at a glance: 45s, 12m,
// 5h, 31d.
func humanSeconds(s float64) string {
	switch {
	case s < 0:
		return "0s"
	case s < 10:
		return fmt.Sprintf("%.1fs", s)
	case s < 90:
		return fmt.Sprintf("%.0fs", s)
	case s < 90*60:
		return fmt.Sprintf("%.0fm", s/60)
	case s < 48*3600:
		return fmt.Sprintf("%.0fh", s/3600)
	}
	return fmt.Sprintf("%.0fd", s/86400)
}
