// Package gearshift holds the files of this repository that gearshift
// itself ships: the GitHub Actions workflows and the composite action that
// `gearshift init` writes into a new state repository. They are embedded
// from .github, so what init writes is exactly what this repository runs
// (go:embed cannot reach .github from internal/cli).
package gearshift

import "embed"

// Workflows holds .github/workflows/{plan,reconcile,bump,drift}.yml and
// .github/actions/gearshift/action.yml, at their paths in this repository.
// ci.yml is this repository's own CI and is not part of a state repository.
//
//go:embed .github/workflows/plan.yml .github/workflows/reconcile.yml .github/workflows/bump.yml .github/workflows/drift.yml .github/actions/gearshift/action.yml
var Workflows embed.FS

// WorkflowFiles are the paths in Workflows, in the order init writes them.
var WorkflowFiles = []string{
	".github/workflows/plan.yml",
	".github/workflows/reconcile.yml",
	".github/workflows/bump.yml",
	".github/workflows/drift.yml",
	".github/actions/gearshift/action.yml",
}
