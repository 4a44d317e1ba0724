package bump

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// Rebuild is one update of a framework in a unit's own source repository
// (antikythera: "in dev it automatically tries to update the antikythera
// dependency (git-push to origin/master)"): the unit's declared command
// runs in a fresh checkout of Branch of Repository, and the change is
// committed and pushed to Branch, or to WorkBranch with a pull request
// against Branch. The new release of the unit then arrives through track
// like any other. Units of several environments that share a repository
// and branch are one Rebuild.
type Rebuild struct {
	// Units are env/unit of every unit this rebuild is for.
	Units      []string `json:"units"`
	Framework  string   `json:"framework"`
	From       string   `json:"from"`
	To         string   `json:"to"`
	Repository string   `json:"repository"`
	Branch     string   `json:"branch"`
	// Push is state.RebuildBranch or state.RebuildPullRequest.
	Push string `json:"push"`
	// WorkBranch is the branch a pull request is opened from (stable
	// across runs: a second run updates the same pull request).
	WorkBranch string `json:"work_branch,omitempty"`
	// GitHub is the owner/name of the repository pull requests go to.
	GitHub string `json:"github,omitempty"`
	// Command is the unit's rebuild.command with {framework} and
	// {version} replaced.
	Command []string          `json:"command"`
	Env     map[string]string `json:"-"`
	Timeout time.Duration     `json:"-"`
	// Message is the commit message; Title the pull request's.
	Message string `json:"-"`
	Title   string `json:"title"`
	Body    string `json:"-"`
}

// rebuilds decides the rebuild of every unit of a bump environment in envs
// that declares rebuild and is built against an older fw than latest.
func rebuilds(st *state.State, envs []string, fw, latest string) []*Rebuild {
	byKey := map[string]*Rebuild{}
	var out []*Rebuild
	for _, n := range envs {
		env := st.Environments[n]
		if env.Policies.LatestFramework != state.FrameworkBump {
			continue
		}
		for _, un := range env.UnitNames() {
			u := env.Units[un]
			// A unit without a label for fw is rebuilt too: only its
			// source knows what it uses (an up-to-date checkout changes
			// nothing, and nothing is committed).
			built, labelled := u.Frameworks[fw]
			if u.Rebuild == nil || (labelled && state.CompareVersions(built, latest) >= 0) {
				continue
			}
			r := u.Rebuild
			key := r.Repository + "\x00" + r.Branch
			if rb := byKey[key]; rb != nil {
				rb.Units = append(rb.Units, n+"/"+un)
				if built != "" && (rb.From == "" || state.CompareVersions(built, rb.From) < 0) {
					rb.From = built
				}
				continue
			}
			rb := &Rebuild{
				Units: []string{n + "/" + un}, Framework: fw, From: built, To: latest,
				Repository: r.Repository, Branch: r.Branch, Push: r.Push, GitHub: r.GitHub,
				Env: r.Env, Timeout: r.Timeout.Duration,
			}
			if rb.Push == "" {
				rb.Push = state.RebuildPullRequest
			}
			for _, a := range r.Command {
				a = strings.ReplaceAll(a, "{framework}", fw)
				rb.Command = append(rb.Command, strings.ReplaceAll(a, "{version}", latest))
			}
			if rb.Push == state.RebuildPullRequest {
				rb.WorkBranch = branchName("gearshift/rebuild-" + fw + "-" + latest)
			}
			rb.Title = fmt.Sprintf("Update %s to %s", fw, latest)
			byKey[key] = rb
			out = append(out, rb)
		}
	}
	for _, rb := range out {
		slices.Sort(rb.Units)
		was := "a version the state does not label"
		if rb.From != "" {
			was = rb.From
		}
		rb.Message = fmt.Sprintf("%s\n\n%s %s was released; %s %s built against %s.\n"+
			"gearshift bump ran %s in a fresh checkout of %s.\n",
			rb.Title, rb.Framework, rb.To, strings.Join(rb.Units, ", "), plural(len(rb.Units), "is", "are"), was,
			strings.Join(rb.Command, " "), rb.Branch)
		rb.Body = fmt.Sprintf("%s %s was released; %s %s built against %s.\n\n"+
			"gearshift bump ran %s in a fresh checkout of %s and committed what it changed. "+
			"Once merged and released, the new release arrives in the state repository through `track`.\n",
			oneLine(rb.Framework), code(rb.To), oneLine(strings.Join(rb.Units, ", ")), plural(len(rb.Units), "is", "are"), oneLine(was),
			code(strings.Join(rb.Command, " ")), code(rb.Branch))
	}
	return out
}
