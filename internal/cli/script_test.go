package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	cuecmd "cuelang.org/go/cmd/cue/cmd"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/gearshift-dev/gearshift/schema"
)

// TestMain makes gearshift and the real cue command (at the version in
// go.mod) available to the scripts as programs.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"gearshift": func() { os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
		"cue":       func() { os.Exit(cuecmd.Main()) },
	})
}

// TestScript runs the end-to-end CLI tests in testdata/script/*.txtar.
// UPDATE_SCRIPTS=1 rewrites their expected output.
func TestScript(t *testing.T) {
	demo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") != "",
		Setup: func(e *testscript.Env) error {
			e.Setenv("DEMO", demo)
			e.Setenv("NO_COLOR", "1")
			e.Setenv("SCHEMA", filepath.Join(e.WorkDir, "_schema", "schema.cue"))
			if err := os.Mkdir(filepath.Join(e.WorkDir, "_schema"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(e.WorkDir, "_schema", "schema.cue"), schema.CUE, 0o644)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits N PROG ARGS... runs PROG and fails unless it exits with N.
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 {
					ts.Fatalf("usage: exits CODE PROG [ARGS...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: bad code %q", args[0])
				}
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						ts.Fatalf("exits: %v", err)
					}
					got = ee.ExitCode()
				}
				if (got == want) == neg {
					ts.Fatalf("%s exited %d, want %d", args[1], got, want)
				}
			},
		},
	})
}
