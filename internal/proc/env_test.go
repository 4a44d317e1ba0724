package proc

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// gearshiftEnv is an environment as a CI runner gives gearshift: the
// variables commands need, tokens, and unrelated secrets.
var gearshiftEnv = map[string]string{
	"PATH":                  "/usr/local/bin:/usr/bin:/bin",
	"HOME":                  "/home/ci",
	"LANG":                  "C.UTF-8",
	"LC_TIME":               "en_GB.UTF-8",
	"LC_SECRET":             "not a locale category",
	"TZ":                    "Europe/Berlin",
	"USER":                  "ci",
	"GITHUB_TOKEN":          "ghs_github",
	"GH_TOKEN":              "ghs_gh",
	"GEARSHIFT_GIT_TOKEN":   "ghs_git",
	"GEARSHIFT_NOW":         "2026-11-22T12:00:00Z",
	"ACTIONS_RUNTIME_TOKEN": "runtime",
	"AWS_SECRET_ACCESS_KEY": "aws-secret",
	"AWS_PROFILE":           "deploy",
	"SSH_AUTH_SOCK":         "/tmp/agent.sock",
}

func lookupIn(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

var minimal = []string{
	"HOME=/home/ci", "LANG=C.UTF-8", "LC_TIME=en_GB.UTF-8",
	"PATH=/usr/local/bin:/usr/bin:/bin", "TZ=Europe/Berlin",
}

func TestEnviron(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		vars    map[string]string
		want    []string
		wantErr string
	}{
		{
			name: "only the minimal environment",
			env:  gearshiftEnv,
			want: minimal,
		},
		{
			name: "declared and GEARSHIFT_ variables are added",
			env:  gearshiftEnv,
			vars: map[string]string{"TEST_MODE": "blackbox_dev", "GEARSHIFT_UNIT": "web", "GEARSHIFT_VERSION": "1.2.0"},
			want: []string{"GEARSHIFT_UNIT=web", "GEARSHIFT_VERSION=1.2.0", "HOME=/home/ci", "LANG=C.UTF-8", "LC_TIME=en_GB.UTF-8",
				"PATH=/usr/local/bin:/usr/bin:/bin", "TEST_MODE=blackbox_dev", "TZ=Europe/Berlin"},
		},
		{
			name: "a declared variable wins over an inherited one",
			env:  gearshiftEnv,
			vars: map[string]string{"PATH": "/opt/app/bin", "LANG": "de_DE.UTF-8"},
			want: []string{"HOME=/home/ci", "LANG=de_DE.UTF-8", "LC_TIME=en_GB.UTF-8", "PATH=/opt/app/bin", "TZ=Europe/Berlin"},
		},
		{
			name: "a declared token name is a literal from the state, not gearshift's value",
			env:  gearshiftEnv,
			vars: map[string]string{"GITHUB_TOKEN": "from-the-state"},
			want: []string{"GITHUB_TOKEN=from-the-state", "HOME=/home/ci", "LANG=C.UTF-8", "LC_TIME=en_GB.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin", "TZ=Europe/Berlin"},
		},
		{
			name: "GEARSHIFT_PASS_ENV adds names that are set, skips those that are not",
			env:  with(gearshiftEnv, "GEARSHIFT_PASS_ENV", " AWS_PROFILE, SSH_AUTH_SOCK,,NOT_SET "),
			want: []string{"AWS_PROFILE=deploy", "HOME=/home/ci", "LANG=C.UTF-8", "LC_TIME=en_GB.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin", "SSH_AUTH_SOCK=/tmp/agent.sock", "TZ=Europe/Berlin"},
		},
		{
			name:    "GEARSHIFT_PASS_ENV may not name GITHUB_TOKEN",
			env:     with(gearshiftEnv, "GEARSHIFT_PASS_ENV", "AWS_PROFILE,GITHUB_TOKEN"),
			wantErr: "GEARSHIFT_PASS_ENV names GITHUB_TOKEN: gearshift never passes its tokens",
		},
		{
			name:    "GEARSHIFT_PASS_ENV may not name GH_TOKEN",
			env:     with(gearshiftEnv, "GEARSHIFT_PASS_ENV", "GH_TOKEN"),
			wantErr: "GEARSHIFT_PASS_ENV names GH_TOKEN",
		},
		{
			name:    "GEARSHIFT_PASS_ENV may not name GEARSHIFT_GIT_TOKEN",
			env:     with(gearshiftEnv, "GEARSHIFT_PASS_ENV", "GEARSHIFT_GIT_TOKEN"),
			wantErr: "GEARSHIFT_PASS_ENV names GEARSHIFT_GIT_TOKEN",
		},
		{
			name:    "GEARSHIFT_PASS_ENV may not name GEARSHIFT_WEBHOOK_SECRET",
			env:     with(gearshiftEnv, "GEARSHIFT_PASS_ENV", "GEARSHIFT_WEBHOOK_SECRET"),
			wantErr: "GEARSHIFT_PASS_ENV names GEARSHIFT_WEBHOOK_SECRET",
		},
		{
			name:    "GEARSHIFT_PASS_ENV may not name the Actions runtime token",
			env:     with(gearshiftEnv, "GEARSHIFT_PASS_ENV", "ACTIONS_RUNTIME_TOKEN"),
			wantErr: "GEARSHIFT_PASS_ENV names ACTIONS_RUNTIME_TOKEN",
		},
		{
			name:    "GEARSHIFT_PASS_ENV with a name no shell can export",
			env:     with(gearshiftEnv, "GEARSHIFT_PASS_ENV", "A-B"),
			wantErr: `GEARSHIFT_PASS_ENV: "A-B" is not a variable name`,
		},
		{
			name:    "a declared name no shell can export",
			env:     gearshiftEnv,
			vars:    map[string]string{"A=B": "x"},
			wantErr: `environment variable name "A=B" is not a shell identifier`,
		},
		{
			name:    "a declared value with NUL",
			env:     gearshiftEnv,
			vars:    map[string]string{"A": "x\x00y"},
			wantErr: "environment variable A contains a NUL byte",
		},
		{
			name: "an empty environment gives an empty one",
			env:  map[string]string{"GITHUB_TOKEN": "x"},
			want: []string{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Environ(lookupIn(tc.env), tc.vars)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("environment (-got +want):\n%s", diff)
			}
		})
	}
}

func TestInheritedNames(t *testing.T) {
	got, err := Inherited(lookupIn(map[string]string{"GEARSHIFT_PASS_ENV": "KUBECONFIG,HOME"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"HOME", "KUBECONFIG", "LANG", "LC_ADDRESS", "LC_ALL", "LC_COLLATE", "LC_CTYPE", "LC_IDENTIFICATION",
		"LC_MEASUREMENT", "LC_MESSAGES", "LC_MONETARY", "LC_NAME", "LC_NUMERIC", "LC_PAPER", "LC_TELEPHONE", "LC_TIME", "PATH", "TZ"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("inherited names (-got +want):\n%s", diff)
	}
}
