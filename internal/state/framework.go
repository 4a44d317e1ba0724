package state

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// BuiltAgainst says where a unit's artifact records the framework versions
// it was really built against (antikythera: the gear's mix.lock): apply
// reads File after the download and before anything starts.
type BuiltAgainst struct {
	// File is a slash-separated path inside the unpacked artifact.
	File string `json:"file"`
	// Pattern is a regular expression whose group named version (else its
	// first group) is a framework's version, {framework} replaced by its
	// name. Empty: the preset of File's name (mix.lock, go.mod,
	// package-lock.json).
	Pattern string `json:"pattern,omitempty"`
}

// Rebuild is how `gearshift bump` makes a unit's source use a framework's
// new release, in environments whose latest-framework policy is bump: the
// command runs in a fresh checkout of Repository at Branch, the change is
// committed, and pushed to Branch (Push "branch") or proposed in a pull
// request against it (Push "pull-request").
type Rebuild struct {
	Repository string            `json:"repository"`
	Branch     string            `json:"branch"`
	Command    []string          `json:"command"`
	Env        map[string]string `json:"env,omitempty"`
	Push       string            `json:"push"`
	Timeout    Duration          `json:"timeout"`
	// GitHub is the owner/name of the repository pull requests are opened
	// in; empty: read from a github.com Repository URL.
	GitHub string `json:"github,omitempty"`
}

// Rebuild push modes.
const (
	RebuildPullRequest = "pull-request"
	RebuildBranch      = "branch"
)

// BuiltAgainstPresets are the lock files whose format gearshift knows
// (artifact.Presets): a builtAgainst.file with one of these names needs no
// pattern.
var BuiltAgainstPresets = []string{"mix.lock", "go.mod", "package-lock.json"}

// checkFramework checks a unit's builtAgainst and rebuild: a pattern that
// compiles, or a file whose format is known.
func checkFramework(u *Unit) Diagnostics {
	var diags Diagnostics
	at := func(path string, format string, args ...any) {
		diags = append(diags, Diagnostic{Pos: u.Pos.Of(path), Path: join("units."+u.Name, path), Msg: fmt.Sprintf(format, args...)})
	}
	if b := u.BuiltAgainst; b != nil {
		if u.Artifact == nil {
			at("builtAgainst.file", "builtAgainst reads %s from the unit's artifact, and unit %s declares no artifact", b.File, u.Name)
		}
		switch {
		case b.Pattern != "":
			re, err := regexp.Compile(strings.ReplaceAll(b.Pattern, "{framework}", "framework"))
			if err != nil {
				at("builtAgainst.pattern", "invalid pattern: %v", err)
			} else if re.NumSubexp() == 0 {
				at("builtAgainst.pattern", "the pattern needs a group that captures the version: (?P<version>...)")
			}
		case !slices.Contains(BuiltAgainstPresets, path.Base(b.File)):
			at("builtAgainst.file", "gearshift knows the format of %s, not of %s: give builtAgainst.pattern", strings.Join(BuiltAgainstPresets, ", "), path.Base(b.File))
		}
	}
	return diags
}

// frameworkUnitPaths are the fields of builtAgainst and rebuild whose
// positions messages cite (unitPaths).
var frameworkUnitPaths = []string{"builtAgainst", "builtAgainst.file", "builtAgainst.pattern", "rebuild", "rebuild.command", "rebuild.repository", "rebuild.branch", "rebuild.push"}
