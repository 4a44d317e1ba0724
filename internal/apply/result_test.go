package apply

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/plan"
)

// UPDATE_GOLDEN=1 go test -run TestResultGolden ./internal/apply rewrites
// testdata/result.golden.json and result.golden.txt.
var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

// goldenResult is a run of three hosts where the deploy failed on the
// second, was rolled back, and left the third untouched; a dependent was
// skipped.
func goldenResult() *Result {
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	rel := "1.2.0-20261101T090000.000000000Z"
	deploy := []driver.HostResult{
		{Host: "app1.example", Outcome: driver.HostDeployed, Version: "1.3.0", Release: "1.3.0-20261122T120002.000000000Z"},
		{Host: "app2.example", Outcome: driver.HostFailed, Error: "health check of 1.3.0-20261122T120002.000000000Z failed 3 times in 3s: status 500, want 200\n/srv/gearshift/greeter/run/1.3.0-20261122T120002.000000000Z.log ends with:\ngreeter 1.3.0: cannot open its spool"},
		{Host: "app3.example", Outcome: driver.HostUntouched},
	}
	rollback := []driver.HostResult{
		{Host: "app1.example", Outcome: driver.HostRolledBack, Version: "1.2.0", Release: rel},
		{Host: "app2.example", Outcome: driver.HostRolledBack, Version: "1.2.0", Release: rel},
		{Host: "app3.example", Outcome: driver.HostUntouched, Version: "1.2.0", Release: rel},
	}
	e := &EnvResult{Name: "prod", Run: "20261122T120000Z-3fa9c1", Started: at, Seconds: 43.9,
		Units: []UnitResult{
			{Unit: "greeter", Action: plan.Deploy, From: "1.2.0", To: "1.3.0", Outcome: RolledBack,
				Error:   "host app2.example: health check of 1.3.0-20261122T120002.000000000Z failed 3 times in 3s: status 500, want 200 (deployed on: app1.example; not touched: app3.example)",
				Release: rel, RolledBackTo: "1.2.0", Hosts: HostResults(deploy, rollback, true),
				Started: at.Add(2 * time.Second), Seconds: 41.2},
			{Unit: "portal", Action: plan.Deploy, Wave: 1, From: "2.0.0", To: "2.1.0", Outcome: Skipped,
				Reason: "depends on greeter, which failed and was rolled back"},
		}}
	e.Counts.add(e.Units[0])
	e.Counts.add(e.Units[1])
	r := &Result{Seconds: 44.3}
	r.Add(e)
	return r
}

// TestResultGolden pins the whole apply JSON document (format_version 2,
// with each host's outcome) and the text summary.
func TestResultGolden(t *testing.T) {
	var js, text bytes.Buffer
	r := goldenResult()
	if err := r.JSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := r.Text(&text); err != nil {
		t.Fatal(err)
	}
	golden(t, "result.golden.json", js.Bytes())
	golden(t, "result.golden.txt", text.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if updateGolden {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 creates it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); UPDATE_GOLDEN=1 rewrites it:\n%s", name, diff)
	}
}

// TestHostResults merges a deploy's per-host outcomes with the rollback's.
func TestHostResults(t *testing.T) {
	deploy := []driver.HostResult{
		{Host: "a", Outcome: driver.HostDeployed, Version: "2", Release: "r2"},
		{Host: "b", Outcome: driver.HostFailed, Error: "health"},
		{Host: "c", Outcome: driver.HostUntouched},
		{Host: "d", Outcome: driver.HostDeployed, Version: "2", Release: "r2"},
	}
	rollback := []driver.HostResult{
		{Host: "a", Outcome: driver.HostRolledBack, Version: "1", Release: "r1"},
		{Host: "b", Outcome: driver.HostRolledBack, Version: "1", Release: "r1"},
		{Host: "c", Outcome: driver.HostUntouched, Version: "1", Release: "r1"},
		{Host: "d", Outcome: driver.HostFailed, Error: "stop: exit 1"},
	}
	for _, tc := range []struct {
		name             string
		deploy, rollback []driver.HostResult
		rolledBack       bool
		want             []HostResult
	}{
		{"no rollback", deploy, nil, false, deploy},
		{"rollback", deploy, rollback, true, []HostResult{
			{Host: "a", Outcome: driver.HostRolledBack, Version: "1", Release: "r1"},
			{Host: "b", Outcome: driver.HostRolledBack, Version: "1", Release: "r1", Error: "health"},
			{Host: "c", Outcome: driver.HostUntouched, Version: "1", Release: "r1"},
			{Host: "d", Outcome: driver.HostFailed, Error: "rollback: stop: exit 1"},
		}},
		{"a driver without hosts", nil, nil, true, nil},
		{"a deploy that reached no host", nil, rollback[:1], true, rollback[:1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := HostResults(tc.deploy, tc.rollback, tc.rolledBack)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("HostResults (-want +got):\n%s", diff)
			}
		})
	}
}
