package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestUntrustedEvents: a run about a pull request (pull_request,
// pull_request_target, issue_comment, workflow_run) never runs a command
// the state names: plan reads the status branch, and apply, rollback,
// status, bump and promote are refused. GEARSHIFT_TRUST_SAME_REPO_PRS
// trusts the base repository's own branches, never a fork's or a comment.
func TestUntrustedEvents(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	// The state's only command leaves a mark that it ran.
	script := "echo ran >> " + marker + "\necho '{\"format_version\":\"1\",\"deployed\":false}'\n"
	pr := func(head string) map[string]any {
		return map[string]any{"pull_request": map[string]any{"number": 1,
			"head": map[string]any{"repo": map[string]any{"full_name": head}},
			"base": map[string]any{"repo": map[string]any{"full_name": "acme/state"}}}}
	}
	wr := func(head string) map[string]any {
		return map[string]any{"workflow_run": map[string]any{
			"head_repository": map[string]any{"full_name": head},
			"repository":      map[string]any{"full_name": "acme/state"}}}
	}
	comment := map[string]any{"issue": map[string]any{"number": 1, "pull_request": map[string]any{}}}
	for _, tc := range []struct {
		name    string
		event   map[string]any
		trust   bool
		trusted bool
	}{
		{"pull_request", pr("acme/state"), false, false},
		{"pull_request", pr("acme/state"), true, true},
		{"pull_request", pr("stranger/state"), true, false},
		{"pull_request_target", pr("stranger/state"), false, false},
		{"pull_request_target", pr("stranger/state"), true, false},
		{"issue_comment", comment, false, false},
		{"issue_comment", comment, true, false},
		{"workflow_run", wr("stranger/state"), true, false},
		{"workflow_run", wr("acme/state"), true, true},
		{"push", map[string]any{}, false, true},
	} {
		name := tc.name
		if tc.trust {
			name += "/trust-same-repo"
		}
		if head, ok := tc.event["pull_request"]; ok {
			name += "/" + head.(map[string]any)["head"].(map[string]any)["repo"].(map[string]any)["full_name"].(string)
		}
		t.Run(name, func(t *testing.T) {
			os.Remove(marker)
			h := newHarness(t, map[string]string{
				"cue.mod/module.cue":        "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
				"status.sh":                 script,
				"deploy.sh":                 "echo deployed >> " + marker + "\n",
				"environments/dev/env.cue":  gitopsEnvCUE("dev", `branch: "main"`),
				"environments/prod/env.cue": gitopsEnvCUE("prod", `branch: "main"`),
			})
			h.env["XDG_STATE_HOME"] = t.TempDir()
			inActionsEvent(t, h, tc.name, tc.event)
			if tc.trust {
				h.env["GEARSHIFT_TRUST_SAME_REPO_PRS"] = "true"
			}
			url := h.git.URL("state")
			_, out, planErr := h.run("plan", "dev", "--repo", url)
			_, ran := os.Stat(marker)
			if tc.trusted {
				if ran != nil {
					t.Errorf("a trusted plan did not observe the target:\n%s", out)
				}
				return
			}
			if ran == nil {
				t.Errorf("an untrusted plan ran the state's status command:\n%s", out)
			}
			// The notice is a workflow command: on stderr, never stdout.
			if !regexp.MustCompile(`(?m)^::notice title=gearshift plan::a ` + tc.name + ` run is about a pull request, .*: planned from the status records \(--from-status\), running nothing from the state$`).MatchString(planErr) {
				t.Errorf("the plan does not say it read the status records:\n%s", planErr)
			}
			for _, args := range [][]string{
				{"apply", "dev"}, {"reconcile", "dev"}, {"rollback", "dev", "api"}, {"status", "dev"},
				{"bump"}, {"promote", "--from", "dev", "--to", "prod"},
			} {
				code, _, errOut := h.run(append(args, "--repo", url)...)
				if code != ExitFailure || !strings.Contains(errOut, "refused: a "+tc.name+" run is about a pull request") {
					t.Errorf("gearshift %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, errOut)
				}
			}
			if b, err := os.ReadFile(marker); err == nil {
				t.Errorf("a command of the state ran in an untrusted run: %s", b)
			}
		})
	}
}
