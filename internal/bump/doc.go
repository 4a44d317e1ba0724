// Package bump decides which edits of the state repository keep it moving:
// a framework's new release (its latest version, the day it was released,
// and the units of "bump" environments built against an older one), a
// tracked unit's new release within its level, a promotion of the versions
// a source environment has soaked, and a unit set to a given version (for
// rollback pull requests). Each decision is a Proposal: the edits of one
// pull request, with a branch name that is stable across runs so that a
// second run updates the pull request the first one opened.
//
// Releases are discovered from git tags, each source listed once per run.
// Edits replace string literals in the user's CUE files and nothing else
// (state.EditLiterals).
//
// What this package must never do: propose a change to an environment whose
// latest-framework policy is deny or that takes its versions by promotion
// (prod is changed only by promote), propose a version that breaks the
// environment's version pattern, or touch git or the forge: the cli commits,
// pushes and opens the pull requests.
package bump
