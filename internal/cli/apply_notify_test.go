package cli

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/notify"
)

// notifyRepo creates the state repository of environment prod at 1.0.0,
// deployed by deploy (a script), with notifications notes.
func notifyRepo(h *harness, deploy, notes string) {
	h.git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":        "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":                 statusScript,
		"deploy.sh":                 deploy,
		"environments/prod/env.cue": notifyEnvCUE("1.0.0", notes),
	})
}

// receiver is a real HTTP endpoint that keeps what it was sent.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("receiver: %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, b)
		rc.heads = append(rc.heads, r.Header.Clone())
		rc.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() ([][]byte, []http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...), append([]http.Header(nil), rc.heads...)
}

const (
	hookToken  = "hook_TOKEN_0123456789abcdef"
	hookSecret = "hook_SECRET_fedcba9876543210"
)

func notifyEnvCUE(version, notifications string) string {
	return `package gearshift

environment: {
	name: "prod"
	deployFrom: branch: "main"
	targets: t: exec: {status: ["sh", "./status.sh"], deploy: ["sh", "./deploy.sh"]}
	notifications: [` + notifications + `]
}

units: gn3: {kind: "gear", version: "` + version + `", target: "t"}
`
}

// TestApplyNotify: GeneNetwork's "send notifications to the development
// team" on every failure. A failed apply posts the documented event to a
// JSON webhook (bearer token and HMAC signature from variables the
// operator allows), a Slack-compatible message, and a failure commit
// status on the state commit; a success is sent only where asked.
func TestApplyNotify(t *testing.T) {
	t.Setenv("GS_TEST_STATE", t.TempDir())
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	h.env["GITHUB_SERVER_URL"] = "https://github.example.com"
	h.env["GITHUB_RUN_ID"] = "9"
	hook := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	slack := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	h.env["GEARSHIFT_PASS_ENV"] = "GS_TEST_STATE,HOOK_TOKEN,HOOK_SECRET,SLACK_URL"
	h.env["HOOK_TOKEN"], h.env["HOOK_SECRET"] = hookToken, hookSecret
	h.env["SLACK_URL"] = slack.URL + "/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
	notes := `{webhook: {url: "` + hook.URL + `/gearshift", tokenEnv: "HOOK_TOKEN", secretEnv: "HOOK_SECRET"}},
		{slack: urlEnv: "SLACK_URL"},
		{githubStatus: {}, on: ["failure", "success"]}`
	notifyRepo(h, failingDeploy, notes)
	url := h.git.URL("state")

	// A success: only the commit status (on failure and success).
	h.mustRun(0, "apply", "prod", "--repo", url)
	if b, _ := hook.received(); len(b) != 0 {
		t.Errorf("a success was sent to a webhook that asks for failures: %s", b)
	}
	first := h.git.Head("state", "main")
	if st := h.gh.CommitStatuses(); len(st) != 1 || st[0].SHA != first || st[0].State != "success" || st[0].Context != "gearshift/prod" {
		t.Errorf("commit statuses after a success = %+v", st)
	}

	// A failure: all three.
	second := h.git.Commit("state", "main", "9.0.0", map[string]string{"environments/prod/env.cue": notifyEnvCUE("9.0.0", notes)})
	code, out, stderr := h.run("apply", "prod", "--repo", url, "-o", "json")
	if code != ExitFailure {
		t.Fatalf("apply of a failing version: exit %d\n%s", code, stderr)
	}
	bodies, heads := hook.received()
	if len(bodies) != 1 {
		t.Fatalf("webhook got %d posts, want 1", len(bodies))
	}
	var ev notify.Event
	if err := json.Unmarshal(bodies[0], &ev); err != nil {
		t.Fatalf("webhook body is not the event: %v\n%s", err, bodies[0])
	}
	if ev.FormatVersion != "1" || ev.Event != "apply.failure" || ev.Outcome != "failure" || ev.Environment != "prod" || ev.Commit != second ||
		ev.Ref != "main" || !ev.Changed || ev.LogURL != "https://github.example.com/acme/state/actions/runs/9" || len(ev.Units) != 1 {
		t.Errorf("event = %+v", ev)
	}
	if u := ev.Units[0]; u.Unit != "gn3" || u.From != "1.0.0" || u.To != "9.0.0" || u.Outcome != "rolled-back" || u.RolledBackTo != "1.0.0" ||
		!strings.Contains(u.Error, "refused to start") {
		t.Errorf("event unit = %+v", u)
	}
	if got := heads[0].Get("Authorization"); got != "Bearer "+hookToken {
		t.Errorf("Authorization = %q", got)
	}
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(bodies[0])
	if got, want := heads[0].Get("X-Gearshift-Signature-256"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature = %q, want %q", got, want)
	}
	if heads[0].Get("X-Gearshift-Event") != "apply.failure" {
		t.Errorf("X-Gearshift-Event = %q", heads[0].Get("X-Gearshift-Event"))
	}
	sb, sh := slack.received()
	if len(sb) != 1 || sh[0].Get("Authorization") != "" {
		t.Fatalf("slack got %d posts (headers %v), want 1 without a token", len(sb), sh)
	}
	var msg map[string]string
	if err := json.Unmarshal(sb[0], &msg); err != nil || len(msg) != 1 ||
		!strings.HasPrefix(msg["text"], ":x: gearshift: apply of prod failed (0 deployed, 0 redeployed, 0 pruned, 1 rolled back") ||
		!strings.Contains(msg["text"], "\n• gn3 1.0.0 -&gt; 9.0.0: rolled-back (rolled back to 1.0.0): ") ||
		!strings.HasSuffix(msg["text"], "\n<https://github.example.com/acme/state/actions/runs/9|log of run "+ev.Run+">") {
		t.Errorf("slack message = %s (%v)", sb[0], err)
	}
	if st := h.gh.CommitStatuses(); len(st) != 2 || st[1].SHA != second || st[1].State != "failure" ||
		st[1].TargetURL != ev.LogURL || !strings.Contains(st[1].Description, "1 rolled back") {
		t.Errorf("commit statuses after a failure = %+v", st)
	}
	reps := published(t, out)
	for _, name := range []string{"webhook#0", "slack#1", "githubStatus#2"} {
		if r, ok := reportOf(reps, "notification", name); !ok || r.Outcome != "sent" || r.Attempts != 1 {
			t.Errorf("report of %s = %+v, want sent at the first attempt", name, r)
		}
	}
	for _, s := range []string{out, stderr} {
		for _, secret := range []string{hookToken, hookSecret, "XXXXXXXXXXXXXXXXXXXXXXXX"} {
			if strings.Contains(s, secret) {
				t.Errorf("a notification secret leaked into the output: %s", secret)
			}
		}
	}
}

// TestApplyNotifyNeverFails: a receiver that hangs is given up after its
// timeout, one that fails is retried a bounded number of times, a
// variable the operator did not allow is not read, and the apply, which
// deployed, exits 0 with each failure in its JSON and on stderr.
func TestApplyNotifyNeverFails(t *testing.T) {
	t.Setenv("GS_TEST_STATE", t.TempDir())
	t.Setenv("GEARSHIFT_PASS_ENV", "GS_TEST_STATE")
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	release := make(chan struct{})
	hang := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	failing := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	})
	refusing := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook", http.StatusNotFound)
	})
	h.env["GITHUB_TOKEN_COPY"] = ghToken
	notes := `{webhook: url: "` + hang.URL + `/hook", on: ["success"], timeout: "300ms", retries: 1},
		{webhook: url: "` + failing.URL + `/hook", on: ["success"], timeout: "5s", retries: 2},
		{webhook: url: "` + refusing.URL + `/hook", on: ["success"], retries: 3},
		{webhook: {url: "` + refusing.URL + `/hook", tokenEnv: "GITHUB_TOKEN_COPY"}, on: ["success"]}`
	notifyRepo(h, deployScript, notes)
	code, out, stderr := h.run("apply", "prod", "--repo", h.git.URL("state"), "-o", "json")
	if code != 0 {
		t.Fatalf("apply with failing notifications: exit %d, want 0\n%s", code, stderr)
	}
	reps := published(t, out)
	want := []struct {
		name     string
		attempts int
		err      string
		posts    *receiver
	}{
		{"webhook#0", 2, "after 2 attempts: no answer within 300ms", hang},
		{"webhook#1", 3, "after 3 attempts: HTTP 502: upstream down", failing},
		{"webhook#2", 1, "HTTP 404: no such hook", refusing},
		{"webhook#3", 0, "GITHUB_TOKEN_COPY is not listed in GEARSHIFT_PASS_ENV", nil},
	}
	for _, w := range want {
		r, ok := reportOf(reps, "notification", w.name)
		if !ok || r.Outcome != "failed" || r.Attempts != w.attempts || !strings.Contains(r.Error, w.err) {
			t.Errorf("report of %s = %+v, want failed after %d attempts: %s", w.name, r, w.attempts, w.err)
		}
		if !strings.Contains(stderr, "notification "+w.name+" failed: ") {
			t.Errorf("stderr does not report %s:\n%s", w.name, stderr)
		}
	}
	if b, _ := hang.received(); len(b) != 2 {
		t.Errorf("the hanging receiver got %d posts, want 2", len(b))
	}
	if b, _ := failing.received(); len(b) != 3 {
		t.Errorf("the failing receiver got %d posts, want 3 (retries: 2)", len(b))
	}
	if b, _ := refusing.received(); len(b) != 1 {
		t.Errorf("the refusing receiver got %d posts, want 1: a 404 is not retried, and no token goes anywhere", len(b))
	}
}
