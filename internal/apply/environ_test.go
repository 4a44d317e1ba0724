package apply

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// leaks are variables of gearshift's environment that nothing it runs may
// see: its tokens and an unrelated secret of the machine.
var leaks = map[string]string{
	"GITHUB_TOKEN":          "ghs_leak_github",
	"GEARSHIFT_GIT_TOKEN":   "ghs_leak_git",
	"AWS_SECRET_ACCESS_KEY": "leak_aws",
}

// recordEnv is a shell line that copies the environment the script was
// started with (/proc/$$/environ, which the shell does not change) to
// NAME.env in the working directory.
func recordEnv(name string) string { return `cat /proc/$$/environ > ` + name + `.env` }

// TestCommandsEnvironment applies a unit with the exec driver, tokens in
// gearshift's environment: the status and deploy commands, the test and
// verify commands and (verify fails) the notify command each record the
// environment they were started with.
func TestCommandsEnvironment(t *testing.T) {
	for k, v := range leaks {
		t.Setenv(k, v)
	}
	t.Setenv("GEARSHIFT_PASS_ENV", "")
	f := newFixture(t, &state.Unit{Name: "web", Version: "1.0.0",
		Test:   &state.Check{Command: []string{"./check.sh", "test"}, Env: map[string]string{"CHECK": "test"}},
		Verify: &state.Check{Command: []string{"./check.sh", "verify"}, Env: map[string]string{"CHECK": "verify"}},
	})
	scripts := map[string]string{
		"status.sh": "#!/bin/sh\n" + recordEnv("status") + "\n" + strings.TrimPrefix(statusScript, "#!/bin/sh\n"),
		"deploy.sh": "#!/bin/sh\n" + recordEnv("deploy") + "\n" + strings.TrimPrefix(deployScript, "#!/bin/sh\n"),
		"check.sh":  "#!/bin/sh\n" + `cat /proc/$$/environ > "$1.env"` + "\n[ \"$1\" = test ]\n",
		"notify.sh": "#!/bin/sh\n" + recordEnv("notify") + "\n",
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.env.Variables = map[string]string{"TEST_MODE": "blackbox"}
	f.env.Notify = &state.Command{Command: []string{"./notify.sh"}, Env: map[string]string{"NOTIFY_TO": "ops"}}
	f.env.Targets["scripts"].Exec.Env = map[string]string{"TARGET_VAR": "exec"}
	res, err := f.apply(context.Background(), Options{CacheDir: t.TempDir(), ActionTimeout: time.Minute}, deploy("web", 0))
	if err != nil {
		t.Fatal(err)
	}
	if u := res.Units[0]; !strings.Contains(u.Error, "verify") {
		t.Fatalf("web: %+v, want a failed verify (which runs notify)", u)
	}
	for name, want := range map[string]map[string]string{
		"status": {"TARGET_VAR": "exec", "GEARSHIFT_ACTION": "status", "GEARSHIFT_UNIT": "web"},
		"deploy": {"TARGET_VAR": "exec", "GEARSHIFT_ACTION": "deploy", "GEARSHIFT_VERSION": "1.0.0"},
		// The environment's variables are for the black-box tests after
		// the deploy: the tests before it get only their own env.
		"test":   {"CHECK": "test", "GEARSHIFT_UNIT": "web"},
		"verify": {"TEST_MODE": "blackbox", "CHECK": "verify", "GEARSHIFT_UNIT": "web"},
		"notify": {"NOTIFY_TO": "ops", "GEARSHIFT_OUTCOME": "failed"},
	} {
		b, err := os.ReadFile(filepath.Join(f.dir, name+".env"))
		if err != nil {
			t.Errorf("the %s command did not run: %v", name, err)
			continue
		}
		env := map[string]string{}
		for kv := range strings.SplitSeq(strings.TrimRight(string(b), "\x00"), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		checkEnviron(t, "the "+name+" command", env, want)
	}
}

// checkEnviron fails unless env has none of the leaks, has PATH and HOME
// as gearshift has them, every wanted variable, and nothing else but
// LANG, LC_*, TZ and GEARSHIFT_ variables.
func checkEnviron(t *testing.T, what string, env, want map[string]string) {
	t.Helper()
	for k := range leaks {
		if _, ok := env[k]; ok {
			t.Errorf("%s sees %s", what, k)
		}
	}
	for _, k := range []string{"PATH", "HOME"} {
		if env[k] != os.Getenv(k) {
			t.Errorf("%s: %s=%q, want %q", what, k, env[k], os.Getenv(k))
		}
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s: %s=%q, want %q", what, k, env[k], v)
		}
	}
	var extra []string
	for k := range env {
		if _, ok := want[k]; !ok && k != "PATH" && k != "HOME" && k != "LANG" && k != "TZ" && !strings.HasPrefix(k, "LC_") && !strings.HasPrefix(k, "GEARSHIFT_") {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	if len(extra) > 0 {
		t.Errorf("%s sees variables nobody declared: %s", what, strings.Join(extra, ", "))
	}
}
