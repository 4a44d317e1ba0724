package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApplyAndBumpOutputs: in GitHub Actions, apply sets result_json (its
// JSON result, in RUNNER_TEMP), failed and denied, and bump sets
// pull_requests (a JSON array of the URLs it opened or updated) and
// failed: the composite action passes them on to the workflow.
func TestApplyAndBumpOutputs(t *testing.T) {
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	work := t.TempDir()
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue": "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh": `f="$GS_DIR/$GEARSHIFT_UNIT"
if [ "$GEARSHIFT_ACTION" = inventory ]; then echo '{"format_version":"1","units":[]}'; exit 0; fi
if [ -f "$f" ]; then
  printf '{"format_version":"1","deployed":true,"version":"%s","deployed_at":"2026-11-20T00:00:00Z","health":"healthy"}\n' "$(cat "$f")"
else
  echo '{"format_version":"1","deployed":false}'
fi
`,
		"deploy.sh": `if [ "$GEARSHIFT_UNIT" = broken ]; then exit 1; fi
echo "$GEARSHIFT_VERSION" > "$GS_DIR/$GEARSHIFT_UNIT"
`,
		"environments/dev/env.cue": `package gearshift

environment: {
	name: "dev"
	deployFrom: branch: "main"
	targets: t: exec: {
		status: ["sh", "./status.sh"]
		deploy: ["sh", "./deploy.sh"]
		env: GS_DIR: "` + work + `"
	}
}

units: api: {kind: "gear", version: "1.2.0", target: "t", track: source: "` + h.git.URL("api") + `"}
units: broken: {kind: "gear", version: "2.0.0", target: "t"}
`,
	})
	h.git.CreateRepo("api", "main", map[string]string{"README": "the api\n"})
	h.git.Tags("api", "main", "v1.2.0", "v1.3.0")
	url := h.git.URL("state")

	outputs, _ := inActions(t, h, 0, false)
	if code, out, errOut := h.run("apply", "dev", "--repo", url, "--ref", "main"); code != ExitFailure {
		t.Fatalf("apply: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitFailure, out, errOut)
	}
	got := readOutputs(t, outputs)
	if got["failed"] != "true" || got["denied"] != "false" {
		t.Errorf("apply outputs failed=%q denied=%q, want true and false", got["failed"], got["denied"])
	}
	if p := got["result_json"]; p == "" || filepath.Dir(p) != filepath.Dir(outputs) {
		t.Errorf("apply output result_json = %q, want a file in RUNNER_TEMP", p)
	} else {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			FormatVersion string `json:"format_version"`
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.FormatVersion == "" {
			t.Errorf("result_json is not apply's JSON document (%v):\n%s", err, b)
		}
	}

	outputs, _ = inActions(t, h, 0, false)
	if code, out, errOut := h.run("bump", "--repo", url); code != 0 {
		t.Fatalf("bump: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	got = readOutputs(t, outputs)
	var urls []string
	if err := json.Unmarshal([]byte(got["pull_requests"]), &urls); err != nil || len(urls) != 1 || !strings.HasPrefix(urls[0], "http") {
		t.Errorf("bump output pull_requests = %q, want one URL (%v)", got["pull_requests"], err)
	}
	if got["failed"] != "false" {
		t.Errorf("bump output failed = %q, want false", got["failed"])
	}
}
