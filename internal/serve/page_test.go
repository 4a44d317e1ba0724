package serve

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestStatusPageInChromium loads the status page in headless Chromium
// (Debian's package) and checks its DOM: every environment and unit is
// there, the unit past its maxAge (held by prod's deploy window, so it
// stays old) is marked, the denied one too, and a target's hostile text
// is shown as text, not markup. The screenshot is written to the test's
// artifact directory (go test -artifacts -outputdir DIR keeps it).
func TestStatusPageInChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Fatal("chromium is not installed: scripts/install-deps.sh installs it")
	}
	now := time.Now().UTC()
	// A window that is not now: prod's redeploy of its aged unit is held.
	closed := now.Add(2 * time.Hour)
	if closed.Hour() == 23 && closed.Minute() == 59 {
		closed = closed.Add(2 * time.Minute)
	}
	hours := closed.Format("15:04") + "-" + closed.Add(time.Minute).Format("15:04")
	prodPolicies := `{maxAge: "30d", windows: [{days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], hours: "` + hours + `"}]}`
	f := newFixture(t, map[string]string{
		"environments/dev/env.cue": envCUE("dev", `{branch: "main"}`, `{maxAge: "30d"}`,
			map[string]string{"api": "1.4.0", "web": "2.1.0", "worker": "0.9.3", "scheduler": "1.0.0"}),
		"environments/staging/env.cue": envCUE("staging", `{branch: "main"}`, `{maxAge: "30d", versionPattern: "^[0-2]\\."}`,
			map[string]string{"api": "1.3.2", "web": "3.0.0", "worker": "0.9.3"}),
		"environments/prod/env.cue": envCUE("prod", `{branch: "main"}`, prodPolicies,
			map[string]string{"api": "1.3.0", "web": "2.0.0", "worker": "0.9.1", "billing": "5.2.0"}),
	})
	// What runs before serve starts: prod's units, one of them for 62
	// days (past maxAge), one for 25 (ageing), one whose target answers
	// with markup for a version; staging's web at 2.x.
	seed := func(env, unit, version string, age time.Duration) {
		base := filepath.Join(f.work, env+"-"+unit)
		must(t, os.WriteFile(base, []byte(version+"\n"), 0o644))
		must(t, os.WriteFile(base+".at", []byte(now.Add(-age).Format(time.RFC3339)+"\n"), 0o644))
	}
	seed("prod", "api", "1.3.0", 3*24*time.Hour)
	seed("prod", "web", "2.0.0", 62*24*time.Hour)
	seed("prod", "worker", "0.9.1", 25*24*time.Hour)
	seed("prod", "billing", "<b id=injected>5.1.0</b>", 9*24*time.Hour)
	seed("staging", "web", "2.9.0", 5*24*time.Hour)
	f.start(time.Hour)
	f.waitFor("three environments reconciled", func(st *Status) bool {
		return envOf(st, "dev").Phase == PhaseSynced &&
			envOf(st, "staging").Phase == PhaseHeld && envOf(st, "prod").Phase == PhaseHeld
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser),
		chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1360, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	var dom struct {
		Envs     []string   `json:"envs"`
		Units    []string   `json:"units"`
		Aged     [][]string `json:"aged"`
		Denied   [][]string `json:"denied"`
		Held     [][]string `json:"held"`
		Injected bool       `json:"injected"`
		Shown    bool       `json:"shown"`
		Title    string     `json:"title"`
	}
	if _, err := chromedp.Run(bctx, chromedp.Navigate("http://"+f.addr+"/")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	raw, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify({
			envs: [...document.querySelectorAll("thead th[data-env]")].map(th => th.dataset.env),
			units: [...document.querySelectorAll("tbody tr[data-unit]")].map(tr => tr.dataset.unit),
			aged: [...document.querySelectorAll("td[data-aged=true]")].map(td => [td.dataset.env, td.dataset.unit]),
			denied: [...document.querySelectorAll("td.cell .tag.denied")].map(s => [s.closest("td").dataset.env, s.closest("td").dataset.unit]),
			held: [...document.querySelectorAll("td.cell .tag.held")].map(s => [s.closest("td").dataset.env, s.closest("td").dataset.unit]),
			injected: document.getElementById("injected") !== null,
			shown: document.body.innerText.includes("<b id=injected>5.1.0</b>"),
			title: document.title,
		})`))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	if err := json.Unmarshal([]byte(raw), &dom); err != nil {
		t.Fatal(err)
	}
	if len(dom.Units) == 0 {
		resp, err := http.Get("http://" + f.addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("the page (%d):\n%s", resp.StatusCode, b)
		}
	}
	path := filepath.Join(t.ArtifactDir(), "status-page.png")
	must(t, os.WriteFile(path, shot, 0o644))
	t.Logf("screenshot: %s", path)

	if want := []string{"dev", "prod", "staging"}; !slices.Equal(dom.Envs, want) {
		t.Errorf("environments in the header = %q, want %q", dom.Envs, want)
	}
	if want := []string{"api", "billing", "scheduler", "web", "worker"}; !slices.Equal(dom.Units, want) {
		t.Errorf("unit rows = %q, want %q", dom.Units, want)
	}
	if want := [][]string{{"prod", "web"}}; !slices.EqualFunc(dom.Aged, want, slices.Equal) {
		t.Errorf("cells marked aged = %q, want %q", dom.Aged, want)
	}
	if want := [][]string{{"staging", "web"}}; !slices.EqualFunc(dom.Denied, want, slices.Equal) {
		t.Errorf("cells marked denied = %q, want %q", dom.Denied, want)
	}
	if want := [][]string{{"prod", "billing"}, {"prod", "web"}}; !slices.EqualFunc(dom.Held, want, slices.Equal) {
		t.Errorf("cells marked held = %q, want %q", dom.Held, want)
	}
	if dom.Injected || !dom.Shown {
		t.Errorf("a target's markup: became an element %v, shown as text %v; want text only", dom.Injected, dom.Shown)
	}
	if dom.Title != "gearshift: 3 environments, 5 units" {
		t.Errorf("title %q", dom.Title)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
