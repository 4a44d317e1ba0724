package apply

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/plan"
)

// TestTextInert: a command's output quoted in a result or a progress line
// cannot erase the line and forge another on the terminal.
func TestTextInert(t *testing.T) {
	const hostile = "exit status 1: \x1b[2K\rgearshift: dev api: deployed"
	var r Result
	r.Add(&EnvResult{Name: "dev", Run: "r1", Units: []UnitResult{{Unit: "api", Action: plan.Deploy, To: "1.2.0", Outcome: Failed, Error: hostile}}})
	var b bytes.Buffer
	if err := r.Text(&b); err != nil {
		t.Fatal(err)
	}
	var lines bytes.Buffer
	(&Lines{W: &lines}).Event(Event{Env: "dev", Unit: "api", Kind: "end", Outcome: Failed, Msg: hostile + "\nsecond line"})
	for name, out := range map[string]string{"result": b.String(), "progress": lines.String()} {
		if strings.ContainsAny(out, "\x1b\r") || !strings.Contains(out, `exit status 1: \x1b[2K\rgearshift: dev api: deployed`) {
			t.Errorf("%s is not escaped:\n%q", name, out)
		}
	}
	if n := strings.Count(lines.String(), "\n"); n != 1 {
		t.Errorf("one event printed %d lines:\n%s", n, lines.String())
	}
}
