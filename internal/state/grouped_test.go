package state_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
)

// TestSharedPatternReportedOnce: a mistake in a pattern shared by 1,000
// units is one diagnostic at the pattern, not 1,000.
func TestSharedPatternReportedOnce(t *testing.T) {
	dir := t.TempDir()
	if err := statetest.Generate(dir, statetest.Options{Units: 1000, Envs: []string{"prod"}}); err != nil {
		t.Fatal(err)
	}
	defaults := "package gearshift\n\nunits: [Name=string]: {\n\tmaxAge: _defaults.maxAge\n}\n_defaults: {}\n"
	if err := os.WriteFile(filepath.Join(dir, "environments", "defaults.cue"), []byte(defaults), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := state.Load(context.Background(), dir, nil, state.Options{InProcess: true})
	ds, ok := err.(state.Diagnostics)
	if !ok {
		t.Fatalf("Load: %v (%T), want Diagnostics", err, err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.String())
	}
	want := []string{"environments/defaults.cue:4:20: units.u00000.maxAge: undefined field: maxAge (and 999 more units)"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("diagnostics (-got +want):\n%s", diff)
	}
}
