package report

import (
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/report/inert"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// StatusFormatVersion is the version of the status JSON document. 2: drift
// is null for a unit that was not observed (it was false), and observed
// says whether anything is known of the unit (docs/plan-json.md).
const StatusFormatVersion = "2"

// StatusRow is one unit of one environment in the status matrix.
type StatusRow struct {
	Environment string    `json:"environment"`
	Unit        string    `json:"unit"`
	Desired     string    `json:"desired"`
	Running     string    `json:"running,omitempty"`
	DeployedAt  time.Time `json:"deployed_at,omitzero"`
	// Age is how long ago the running release was deployed, in seconds.
	Age    int64  `json:"age_seconds,omitempty"`
	Health string `json:"health"`
	// Observed is false when nothing is known of the unit (a timeout, a
	// driver error): Running, Health and Drift then say nothing.
	Observed bool `json:"observed"`
	// Drift is whether what runs differs from what is desired
	// (plan.Assess), null when the unit was not observed.
	Drift   *bool    `json:"drift"`
	Waivers []string `json:"waivers,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Status is the environment x unit matrix of gearshift status.
type Status struct {
	FormatVersion string      `json:"format_version"`
	GeneratedAt   time.Time   `json:"generated_at"`
	Rows          []StatusRow `json:"units"`
}

// errorCell is the most of an error the status table shows of a unit (the
// JSON document has all of it): a command's whole stderr in one cell would
// push the columns after it off the screen.
const errorCell = 100

// StatusText writes the status matrix as an aligned table.
func StatusText(w io.Writer, s *Status, st Style) error {
	// Every cell from the state or a target is escaped (inert.Text): a tab
	// or newline would shift the table, an escape sequence rewrite it. The
	// columns are aligned on what is visible, colours aside (table).
	q := inert.Text
	t := &table{}
	t.row("ENVIRONMENT", "UNIT", "DESIRED", "RUNNING", "DEPLOYED", "AGE", "HEALTH", "DRIFT", "WAIVERS")
	for _, r := range s.Rows {
		running, deployed, age := r.Running, "-", "-"
		if running == "" {
			running = "-"
		}
		if !r.DeployedAt.IsZero() {
			deployed = r.DeployedAt.UTC().Format("2006-01-02 15:04")
			age = state.FormatDuration(time.Duration(r.Age) * time.Second)
			if r.Age >= 86400 {
				age = state.FormatDuration((time.Duration(r.Age) * time.Second).Truncate(time.Hour))
			}
		}
		health := q(r.Health)
		switch health {
		case "healthy":
			health = st.green(health)
		case "unhealthy", "missing":
			health = st.red(health)
		}
		drift := "no"
		switch {
		case r.Drift == nil:
			drift = st.red("unknown")
		case *r.Drift:
			drift = st.yellow("yes")
		}
		switch {
		case !r.Observed:
			running = "?"
			health = st.red(inert.Cell("not observed: "+r.Error, errorCell))
		case r.Error != "":
			health = st.red(inert.Cell("error: "+r.Error, errorCell))
		}
		waivers := strings.Join(r.Waivers, ",")
		if waivers == "" {
			waivers = "-"
		}
		t.row(q(r.Environment), q(r.Unit), q(r.Desired), q(running), deployed, age, health, drift, q(waivers))
	}
	return t.write(w)
}

// StatusJSON writes the status matrix as its versioned JSON document.
func StatusJSON(w io.Writer, s *Status) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
