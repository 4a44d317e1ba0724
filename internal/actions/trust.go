package actions

import "strings"

// TrustSameRepoVar is the variable a workflow sets to "true" to say that a
// pull request whose head branch lives in the base repository is trusted:
// only people with write access to that repository can push such a branch.
// A fork's pull request and a comment are never trusted, whatever it says.
const TrustSameRepoVar = "GEARSHIFT_TRUST_SAME_REPO_PRS"

// prEvents are the events whose run is about a pull request: its author,
// or anyone who can comment, chose the state the run sees.
var prEvents = map[string]bool{
	"pull_request":                true,
	"pull_request_target":         true,
	"pull_request_review":         true,
	"pull_request_review_comment": true,
	"issue_comment":               true,
	"workflow_run":                true,
}

// Untrusted returns why the run must not act on what the state says (run
// its commands, observe targets with credentials, deploy, push), or ""
// when it may. Every event that carries a pull request is untrusted, unless
// the workflow sets TrustSameRepoVar and the event shows a head repository
// equal to its base repository: a pull_request* event through its
// pull_request, a workflow_run through its head_repository. issue_comment
// never shows its head (anyone can comment on a fork's pull request), so it
// is never trusted. Outside Actions nothing is untrusted: the person at the
// terminal chose the state.
func (a *Actions) Untrusted() string {
	if !a.active || !prEvents[a.ctx.EventName] {
		return ""
	}
	why := "a " + a.ctx.EventName + " run is about a pull request, whose author chose the state"
	if a.getenv(TrustSameRepoVar) != "true" {
		return why
	}
	var head, base string
	switch a.ctx.EventName {
	case "issue_comment":
		return why + " (" + TrustSameRepoVar + " never trusts a comment: its pull request may come from a fork)"
	case "workflow_run":
		wr, _ := a.ctx.Event["workflow_run"].(map[string]any)
		head = fullName(wr, "head_repository")
		base = fullName(wr, "repository")
	default:
		pr, ok := a.ctx.Event["pull_request"].(map[string]any)
		if !ok {
			return why
		}
		head, base = repoFullName(pr, "head"), repoFullName(pr, "base")
	}
	if head == "" || base == "" || !strings.EqualFold(head, base) {
		return why + " from another repository (" + TrustSameRepoVar + " trusts only the base repository's branches)"
	}
	return ""
}

// fullName is obj[key].full_name, or "".
func fullName(obj map[string]any, key string) string {
	r, _ := obj[key].(map[string]any)
	s, _ := r["full_name"].(string)
	return s
}
