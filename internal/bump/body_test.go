package bump

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// TestBodyInert: a version, a note or a reason from a tag or a record
// cannot mention a team, link, show an image, inject HTML or break the
// table of a pull request's description.
func TestBodyInert(t *testing.T) {
	p := &Proposal{Kind: Unit, Changes: []Change{{
		Env: "dev", Unit: "api", Field: "version", Old: "1.0.0", New: "1.1.0`|@acme/owners",
		Pos: state.Pos{File: "environments/dev/units.cue", Line: 4, Col: 11},
	}}, Notes: []string{"released by @alice: ![x](http://evil/) [click](http://evil) <img src=x>\nsecond line"}}
	skipped := []Skipped{{Env: "prod", Unit: "db", Version: "2.0.0", Reason: "cc @acme/team see #12 <details>"}}
	got := Body(p, skipped, "")
	want := "A tracked unit has a new release.\n\n" +
		"| Environment | Unit | Field | Change | Where |\n|---|---|---|---|---|\n" +
		"| dev | api | `version` | `1.0.0` → `1.1.0'\\|@acme/owners` | `environments/dev/units.cue:4:11` |\n" +
		"\n- released by @\u200balice: `![x](http://evil/)` `[click](http://evil)` &lt;img src=x&gt; second line\n" +
		"\n<details><summary>Not proposed</summary>\n\n" +
		"- prod db 2.0.0: cc @\u200bacme/team see #\u200b12 &lt;details&gt;\n" +
		"\n</details>\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"<img", "<details>\n- prod db 2.0.0: cc @acme"} {
		if strings.Contains(got, bad) {
			t.Errorf("body holds %q", bad)
		}
	}
}
