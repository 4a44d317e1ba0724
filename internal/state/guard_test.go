package state

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestNoRegistry: a dependency on a registry module is an error at the
// import, not a download: loading a state never reaches the network.
func TestNoRegistry(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"cue.mod/module.cue":         "module: \"example.com/x@v0\"\nlanguage: version: \"v0.17.0\"\ndeps: \"registry.example.com/lib@v0\": v: \"v0.1.0\"\n",
		"environments/dev/units.cue": "package gearshift\n\nimport \"registry.example.com/lib\"\n\nunits: a: {kind: \"gear\", version: lib.version, target: \"t\"}\n",
	})
	for _, inProcess := range []bool{false, true} {
		_, err := Load(context.Background(), dir, nil, Options{InProcess: inProcess})
		var ds Diagnostics
		if !errors.As(err, &ds) || !strings.Contains(ds.Error(), "gearshift loads no CUE module from a registry") {
			t.Errorf("InProcess=%v: Load: %v; want a diagnostic that no module is loaded from a registry", inProcess, err)
		}
	}
}

// TestInProcessGuarded: the unbounded path refuses embedding as the
// bounded one does, at the attribute.
func TestInProcessGuarded(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"environments/dev/units.cue": "@extern(embed)\n\npackage gearshift\n\nunits: a: {kind: \"gear\", version: \"1.0.0\", target: \"t\"}\n",
	})
	_, err := Load(context.Background(), dir, nil, Options{InProcess: true})
	want := "environments/dev/units.cue:1:1: file embedding (@extern) is refused: a state is read from its CUE files only"
	if err == nil || err.Error() != want {
		t.Errorf("Load: %v\nwant %s", err, want)
	}
}
