package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
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

// StatusText writes the status matrix as an aligned table.
func StatusText(w io.Writer, s *Status, st Style) error {
	// Every cell from the state or a target is escaped (inert.Text): a tab
	// or newline would shift the table, an escape sequence rewrite it.
	q := inert.Text
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENVIRONMENT\tUNIT\tDESIRED\tRUNNING\tDEPLOYED\tAGE\tHEALTH\tDRIFT\tWAIVERS")
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
			health = st.red("not observed: " + q(r.Error))
		case r.Error != "":
			health = st.red("error: " + q(r.Error))
		}
		waivers := strings.Join(r.Waivers, ",")
		if waivers == "" {
			waivers = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", q(r.Environment), q(r.Unit), q(r.Desired), q(running), deployed, age, health, drift, q(waivers))
	}
	return tw.Flush()
}

// StatusJSON writes the status matrix as its versioned JSON document.
func StatusJSON(w io.Writer, s *Status) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
