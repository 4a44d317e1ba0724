// Package actions is gearshift's side of a GitHub Actions run: it reads the
// run's environment and event payload (which pull request, whether it comes
// from a fork) and writes what the runner understands: masks, outputs, the
// step summary, annotations and log groups. Workflow commands are written
// by go-githubactions, which escapes them; outputs and the step summary are
// written here, because that library's fixed heredoc delimiter would let an
// untrusted value forge further outputs.
//
// Outside Actions (GITHUB_ACTIONS is not "true") every method is a no-op,
// so callers need not check. The package must never print a secret: Mask
// is the only method that takes one, and it writes nothing but the
// add-mask command; everything else it writes (annotations, outputs, the
// step summary, group titles) passes through the run's redactor
// (SetRedactor), since a plan may quote a command that printed a secret.
// It never calls the network.
package actions
