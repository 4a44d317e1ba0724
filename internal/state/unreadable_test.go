package state

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// minimalEnv is an environment that loads without a mistake.
func minimalEnv(name string) map[string]string {
	return map[string]string{
		"environments/" + name + "/env.cue":   "package gearshift\n\nenvironment: {\n\tname: \"" + name + "\"\n\tdeployFrom: branch: \"main\"\n\ttargets: t: exec: {status: [\"status\"], deploy: [\"deploy\"]}\n}\n",
		"environments/" + name + "/units.cue": "package gearshift\n\nunits: a: {kind: \"gear\", version: \"1.0.0\", target: \"t\"}\n",
	}
}

// failRead makes readDir and readFile fail with permission denied for the
// paths that end in one of the suffixes, as they do for a directory or a
// file the user cannot read (tests run as root, whom chmod does not stop).
func failRead(t *testing.T, suffixes ...string) {
	t.Helper()
	denied := func(name string) bool {
		for _, s := range suffixes {
			if strings.HasSuffix(filepath.ToSlash(name), s) {
				return true
			}
		}
		return false
	}
	oldDir, oldFile := readDir, readFile
	t.Cleanup(func() { readDir, readFile = oldDir, oldFile })
	readDir = func(name string) ([]os.DirEntry, error) {
		if denied(name) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		}
		return oldDir(name)
	}
	readFile = func(name string) ([]byte, error) {
		if denied(name) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		}
		return oldFile(name)
	}
}

// TestUnreadable: an environment directory or a file that cannot be read is
// a mistake named by its path, never skipped (which validated the other
// environments as if they were all) and never an empty message.
func TestUnreadable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		deny  []string
		extra map[string]string
		want  []string
	}{
		{
			name: "environment directory",
			deny: []string{"environments/prod"},
			want: []string{"environments/prod: cannot read this directory: permission denied"},
		},
		{
			name: "environment file",
			deny: []string{"environments/prod/units.cue"},
			want: []string{"environments/prod/units.cue: cannot read this file: permission denied"},
		},
		{
			name:  "shared file",
			deny:  []string{"environments/frameworks.cue"},
			extra: map[string]string{"environments/frameworks.cue": "package gearshift\n"},
			want:  []string{"environments/frameworks.cue: cannot read this file: permission denied"},
		},
		{
			// A name with a newline is named, with the newline (the CLI
			// escapes it), never an empty message.
			name: "newline in the directory name",
			extra: map[string]string{
				"environments/we\nird/env.cue":   minimalEnv("weird")["environments/weird/env.cue"],
				"environments/we\nird/units.cue": minimalEnv("weird")["environments/weird/units.cue"],
			},
			want: []string{"environments/we\nird/env.cue:4:8: environment.name: environment name \"weird\" must match its directory environments/we\nird"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{}
			for _, env := range []string{"dev", "prod"} {
				for k, v := range minimalEnv(env) {
					files[k] = v
				}
			}
			for k, v := range tc.extra {
				files[k] = v
			}
			writeTree(t, dir, files)
			failRead(t, tc.deny...)
			_, err := Load(context.Background(), dir, nil, Options{InProcess: true})
			ds, ok := err.(Diagnostics)
			if !ok {
				t.Fatalf("Load: %v (%T), want Diagnostics", err, err)
			}
			var got []string
			for _, d := range ds {
				got = append(got, d.String())
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("diagnostics (-got +want):\n%s", diff)
			}
		})
	}
}
