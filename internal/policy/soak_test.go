package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/observation"
)

// TestSoaked pins the one soak rule that Judge and bump.Promote both call
// (issue 9, defect 6): in particular, a release whose record has no
// deployed_at has not soaked (Judge counted it as soaked for ages).
func TestSoaked(t *testing.T) {
	healthy := observation.HealthHealthy
	tests := []struct {
		name       string
		obs        observation.Unit
		wantSoaked time.Duration
		wantErr    string
	}{
		{"soaked", running("1.1.0", 25*time.Hour, healthy), 25 * time.Hour, ""},
		{"exactly the soak time", running("1.1.0", 24*time.Hour, healthy), 24 * time.Hour, ""},
		{"not soaked", running("1.1.0", 2*time.Hour+90*time.Second, healthy), 2*time.Hour + 90*time.Second,
			"staging has run 1.1.0 for 2h1m of the 1d soak time (ready 2026-11-23T09:58:30Z)"},
		{"no deployed_at", observation.Unit{Deployed: true, Version: "1.1.0", Health: healthy}, 0,
			"staging's record does not say when 1.1.0 was deployed, so it has not soaked"},
		{"deployed_at in the future", running("1.1.0", -time.Hour, healthy), -time.Hour,
			"staging has run 1.1.0 for 0s of the 1d soak time (ready 2026-11-23T13:00:00Z)"},
		{"unhealthy", running("1.1.0", days(3), observation.HealthUnhealthy), 0, "staging runs 1.1.0 but it is unhealthy"},
		{"health unknown", running("1.1.0", days(3), observation.HealthUnknown), 0, "staging runs 1.1.0 but it is unknown"},
		{"not listed", observation.Unit{}, 0, "staging does not run a"},
		{"not deployed", observation.Unit{Unit: "a", Health: observation.HealthMissing}, 0, "staging does not run a"},
		{"not observed", observation.Unit{Deployed: true, Version: "1.1.0", Error: "ssh: timeout"}, 0, "cannot tell what staging runs of a: ssh: timeout"},
		{"hosts disagree", observation.Unit{Deployed: true, DeployedAt: now.Add(-days(3)), Health: healthy}, 0, "the hosts of staging run different versions of a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			soaked, err := Soaked("staging", "a", tt.obs, dur(24*time.Hour), now)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("Soaked error (-want +got):\n%s", diff)
			}
			if err == nil && soaked != tt.wantSoaked {
				t.Errorf("Soaked = %v, want %v", soaked, tt.wantSoaked)
			}
		})
	}
}
