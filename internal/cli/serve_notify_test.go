package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/testutil"
	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
)

// TestServeNotifies: a reconcile of gearshift serve publishes what an
// apply publishes: here GeneNetwork's JSON webhook on success, with the
// event of docs/notifications.md naming the environment and the unit
// deployed.
func TestServeNotifies(t *testing.T) {
	posts := make(chan []byte, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/gearshift" {
			http.Error(w, "no such hook", http.StatusNotFound)
			return
		}
		b, _ := io.ReadAll(r.Body)
		posts <- b
	}))
	defer hook.Close()

	git := gitserver.New(t, "")
	work := t.TempDir()
	git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":        "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":                 statusScript,
		"deploy.sh":                 deployScript,
		"environments/prod/env.cue": notifyEnvCUE("1.0.0", `{webhook: url: "`+hook.URL+`/gearshift", on: ["success"]}`),
	})
	temp := t.TempDir()
	// Commands get the process environment's GEARSHIFT_PASS_ENV names
	// (internal/proc reads the process, not run's getenv).
	t.Setenv("GS_TEST_STATE", work)
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	vars := map[string]string{
		"PATH": "/usr/bin:/bin", "HOME": temp, "XDG_CACHE_HOME": filepath.Join(temp, "cache"),
		"GS_TEST_STATE": work, "GEARSHIFT_PASS_ENV": "GS_TEST_STATE",
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "prod", "--repo", git.URL("state"), "--listen", "",
			"--state-dir", filepath.Join(temp, "state"), "--no-status", "--poll-interval", "1h"},
			&out, &out, func(k string) string { return vars[k] })
	}()
	select {
	case b := <-posts:
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("webhook body is not JSON: %v\n%s", err, b)
		}
		if ev["environment"] != "prod" || !strings.Contains(string(b), `"gn3"`) || !strings.Contains(string(b), `"1.0.0"`) {
			t.Errorf("webhook event does not name prod, gn3 and 1.0.0:\n%s", b)
		}
	case code := <-done:
		t.Fatalf("serve exited %d before notifying:\n%s", code, out.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("no notification from serve after 90s:\n%s", out.String())
	}
	if b, err := os.ReadFile(filepath.Join(work, "prod-gn3")); err != nil || strings.TrimSpace(string(b)) != "1.0.0" {
		t.Errorf("the deploy command did not record 1.0.0 in the test's directory: %q, %v", b, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit %d after cancel:\n%s", code, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
}
