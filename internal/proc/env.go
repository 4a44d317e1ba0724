package proc

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// PassEnv is the variable of gearshift's own environment that lets an
// operator give commands more of it: a comma-separated list of names
// (GEARSHIFT_PASS_ENV=AWS_PROFILE,KUBECONFIG). It is read from gearshift's
// environment, never from the state: a state repository in a pull request
// must not be able to ask for the runner's secrets.
const PassEnv = "GEARSHIFT_PASS_ENV"

// base are the names every command keeps from its launcher's environment
// (gearshift's locally, the login's over SSH). The LC_ names are the POSIX
// and glibc locale categories, listed rather than matched by prefix so that
// an LC_-named secret does not slip through.
var base = []string{
	"HOME", "LANG", "PATH", "TZ",
	"LC_ADDRESS", "LC_ALL", "LC_COLLATE", "LC_CTYPE", "LC_IDENTIFICATION",
	"LC_MEASUREMENT", "LC_MESSAGES", "LC_MONETARY", "LC_NAME", "LC_NUMERIC",
	"LC_PAPER", "LC_TELEPHONE", "LC_TIME",
}

// refused are token variables that GEARSHIFT_PASS_ENV may not name. Every
// GEARSHIFT_ name is refused too: those are gearshift's own settings
// (GEARSHIFT_GIT_TOKEN, GEARSHIFT_WEBHOOK_SECRET) or variables it sets
// itself for a command.
var refused = map[string]bool{
	"GITHUB_TOKEN":                   true,
	"GH_TOKEN":                       true,
	"GH_ENTERPRISE_TOKEN":            true,
	"GITHUB_ENTERPRISE_TOKEN":        true,
	"ACTIONS_RUNTIME_TOKEN":          true,
	"ACTIONS_ID_TOKEN_REQUEST_TOKEN": true,
}

// Refused reports whether name is a variable that gearshift never passes on
// from its own environment, whatever GEARSHIFT_PASS_ENV says.
func Refused(name string) bool {
	return refused[name] || strings.HasPrefix(name, "GEARSHIFT_")
}

// Inherited returns the names a command keeps from its launcher's
// environment: the base names and those GEARSHIFT_PASS_ENV lists, sorted.
// lookup reads gearshift's own environment (os.LookupEnv). A list that
// names a refused variable or a name no shell can export is an error.
func Inherited(lookup func(string) (string, bool)) ([]string, error) {
	names := map[string]bool{}
	for _, n := range base {
		names[n] = true
	}
	list, _ := lookup(PassEnv)
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			continue
		case !IsName(n):
			return nil, fmt.Errorf("%s: %q is not a variable name", PassEnv, n)
		case Refused(n):
			return nil, fmt.Errorf("%s names %s: gearshift never passes its tokens or its own settings to the commands it runs", PassEnv, n)
		}
		names[n] = true
	}
	return slices.Sorted(maps.Keys(names)), nil
}

// Environ is the environment of a command: the inherited names that are set
// in lookup's environment, then vars (what the state declares and the
// GEARSHIFT_ variables the caller sets), which win. The result is sorted
// NAME=value pairs for os/exec.
func Environ(lookup func(string) (string, bool), vars map[string]string) ([]string, error) {
	if err := CheckVars(vars); err != nil {
		return nil, err
	}
	names, err := Inherited(lookup)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, n := range names {
		if v, ok := lookup(n); ok {
			env[n] = v
		}
	}
	maps.Copy(env, vars)
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

// Env is Environ over gearshift's own environment.
func Env(vars map[string]string) ([]string, error) { return Environ(os.LookupEnv, vars) }

// CheckVars accepts only names a shell can export, so that a variable that
// works locally also works over SSH, and values without NUL.
func CheckVars(vars map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if !IsName(k) {
			return fmt.Errorf("environment variable name %q is not a shell identifier", k)
		}
		if strings.IndexByte(vars[k], 0) >= 0 {
			return fmt.Errorf("environment variable %s contains a NUL byte", k)
		}
	}
	return nil
}

// IsName reports whether s is a shell identifier: [A-Za-z_][A-Za-z0-9_]*.
func IsName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
