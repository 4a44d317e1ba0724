package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
)

// unobserved is a plan in which nothing claims "no changes" falsely: dev's
// every observation timed out, prod has no status record yet (a pull
// request's plan), qa's record cannot be read, staging was planned from a
// record two days old.
func unobserved() *plan.Plan {
	timeout := "observe timed out after 30s"
	noRecord := "not observed: no status record of prod yet on gearshift/status"
	badRecord := `qa.json on gearshift/status: status record has format_version "9", want "1"`
	return &plan.Plan{
		FormatVersion: plan.FormatVersion,
		GeneratedAt:   at,
		Environments: []*plan.Environment{
			{
				Name: "dev", ObservedFrom: "live", Actions: []*plan.Action{}, Violations: []plan.Violation{},
				Observations: map[string]observation.Unit{},
				Errors:       []plan.UnitError{{Unit: "api", Error: timeout}, {Unit: "web", Error: timeout}},
				NotObserved:  []string{"api", "web"},
			},
			{
				Name: "prod", ObservedFrom: "status", Actions: []*plan.Action{}, Violations: []plan.Violation{},
				Observations: map[string]observation.Unit{},
				Errors:       []plan.UnitError{{Unit: "api", Error: noRecord}, {Unit: "web", Error: noRecord}},
				NotObserved:  []string{"api", "web"},
				StatusRecord: &plan.StatusRecord{Branch: "gearshift/status"},
			},
			{
				Name: "qa", ObservedFrom: "status", Actions: []*plan.Action{}, Violations: []plan.Violation{},
				Observations: map[string]observation.Unit{},
				Errors:       []plan.UnitError{{Unit: "api", Error: "not observed: " + badRecord}},
				NotObserved:  []string{"api"},
				StatusRecord: &plan.StatusRecord{Branch: "gearshift/status", Error: badRecord},
			},
			{
				Name: "staging", ObservedFrom: "status", Actions: []*plan.Action{}, Violations: []plan.Violation{},
				Observations: map[string]observation.Unit{
					"api": {Unit: "api", Deployed: true, Version: "1.0.0", DeployedAt: at.Add(-72 * time.Hour), Health: observation.HealthHealthy},
				},
				StatusRecord: &plan.StatusRecord{Branch: "gearshift/status", Found: true, WrittenAt: at.Add(-50*time.Hour - 30*time.Minute),
					Commit: "0123456789abcdef0123456789abcdef01234567"},
			},
		},
	}
}

// TestNotObservedGolden: a unit that was not observed is said to be, in
// the text, the JSON and the Markdown; no environment whose units were not
// observed reads "No changes"; the Markdown names each status record's age
// and says plainly when there is none.
func TestNotObservedGolden(t *testing.T) {
	var txt, js bytes.Buffer
	if err := Text(&txt, unobserved(), Style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "notobserved.txt.golden", txt.Bytes())
	if err := JSON(&js, unobserved()); err != nil {
		t.Fatal(err)
	}
	golden(t, "notobserved.json.golden", js.Bytes())
	md := Markdown(unobserved(), MarkdownOptions{})
	golden(t, "notobserved.md.golden", []byte(md))

	// The only "No changes" is staging's, whose one unit was observed.
	for name, out := range map[string]string{"text": txt.String(), "markdown": md} {
		if n := strings.Count(out, "No changes"); n != 1 {
			t.Errorf("%s says \"No changes\" %d times, want once (staging):\n%s", name, n, out)
		}
	}
	head, _, _ := strings.Cut(md, "| environment |")
	for _, want := range []string{"prod has no status record on `gearshift/status` yet", "qa: its status record could not be read", "2d2h before this plan", "not observed"} {
		if !strings.Contains(head, want) {
			t.Errorf("markdown head lacks %q:\n%s", want, head)
		}
	}
	var doc struct {
		Environments []struct {
			Name         string                     `json:"name"`
			NotObserved  []string                   `json:"not_observed"`
			Observations map[string]json.RawMessage `json:"observations"`
		} `json:"environments"`
		Summary plan.Summary `json:"summary"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.NotObserved != 5 || doc.Summary.HasChanges() {
		t.Errorf("summary = %+v, want 5 not observed and no changes", doc.Summary)
	}
	for _, e := range doc.Environments {
		for _, u := range e.NotObserved {
			if _, ok := e.Observations[u]; ok {
				t.Errorf("%s: %s is not observed but has an observation", e.Name, u)
			}
		}
	}
}

// status is a matrix with a unit as desired, one drifted, one not observed
// (drift unknown) and one partly observed.
func status() *Status {
	yes, no := true, false
	return &Status{FormatVersion: StatusFormatVersion, GeneratedAt: at, Rows: []StatusRow{
		{Environment: "dev", Unit: "api", Desired: "1.0.0", Running: "1.0.0", DeployedAt: at.Add(-49 * time.Hour), Age: 49 * 3600, Health: "healthy", Observed: true, Drift: &no, Waivers: []string{"max-age@2026-12-24"}},
		{Environment: "dev", Unit: "db", Desired: "2.0.0", Running: "1.9.0", DeployedAt: at.Add(-90 * time.Minute), Age: 90 * 60, Health: "unhealthy", Observed: true, Drift: &yes},
		{Environment: "dev", Unit: "web", Desired: "3.0.0", Health: "unknown", Error: "observe timed out after 30s"},
		{Environment: "prod", Unit: "api", Desired: "1.0.0", Running: "1.0.0", DeployedAt: at.Add(-time.Hour), Age: 3600, Health: "degraded", Observed: true, Drift: &no, Error: "app2.example: connection refused"},
	}}
}

// TestStatusGolden pins the status matrix's JSON document and table: a
// unit that was not observed has "observed": false and "drift": null, and
// reads "not observed" and "unknown", never "no".
func TestStatusGolden(t *testing.T) {
	var js, txt bytes.Buffer
	if err := StatusJSON(&js, status()); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.json.golden", js.Bytes())
	if err := StatusText(&txt, status(), Style{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.txt.golden", txt.Bytes())
	var doc struct {
		Units []map[string]any `json:"units"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	web := doc.Units[2]
	if d, ok := web["drift"]; !ok || d != nil || web["observed"] != false {
		t.Errorf("unit not observed: %v, want observed false and drift null", web)
	}
}
