package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/state"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func failedRun() *apply.EnvResult {
	return &apply.EnvResult{Name: "prod", Run: "20261122T120000Z-abcdef",
		Units: []apply.UnitResult{{Unit: "gn3", Action: plan.Deploy, From: "0.0.11", To: "0.0.12", Outcome: apply.RolledBack,
			Error: "health: <@U024BE7LH> said no & the token s3cr3t-t0ken-value leaked", RolledBackTo: "0.0.11"}},
		Counts: apply.Counts{RolledBack: 1}}
}

// TestWebhookRedirectNotFollowed: a webhook that redirects elsewhere is
// not followed, so neither the body nor the token reaches the other
// server; the token is redacted from the body it did send.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	var body []byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer hook.Close()
	rd := redact.New("s3cr3t-t0ken-value")
	s := &Sender{Getenv: env(map[string]string{"GEARSHIFT_PASS_ENV": "HOOK_TOKEN", "HOOK_TOKEN": "tok-0123456789"}), Redactor: rd}
	ev := NewEvent(failedRun(), "", "", "", rd.String)
	reps := s.Send(context.Background(), []state.Notification{{Webhook: &state.Webhook{URL: hook.URL + "/h", TokenEnv: "HOOK_TOKEN"}, Retries: 3, Timeout: state.Duration{Duration: time.Second}}}, ev)
	if r := reps[0]; r.Outcome != Failed || r.Attempts != 1 || r.Error != "HTTP 307: redirects are not followed" {
		t.Errorf("report = %+v", r)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
	if strings.Contains(string(body), "s3cr3t-t0ken-value") || !strings.Contains(string(body), "***") {
		t.Errorf("body not redacted: %s", body)
	}
}

// TestSecretsStayHome: a token or a secret URL is never sent over plain
// http off loopback, and a variable is read only when the operator lists
// it and it is not one of gearshift's own.
func TestSecretsStayHome(t *testing.T) {
	vars := map[string]string{"GEARSHIFT_PASS_ENV": "HOOK_TOKEN,SLACK_URL,GITHUB_TOKEN,UNSET", "HOOK_TOKEN": "tok-0123456789",
		"SLACK_URL": "http://hooks.example.org/services/T/B/SECRETPART", "GITHUB_TOKEN": "ghp_x", "NOT_LISTED": "v"}
	s := &Sender{Getenv: env(vars), Redactor: redact.New()}
	ev := NewEvent(failedRun(), "", "", "", nil)
	notes := []state.Notification{
		{Webhook: &state.Webhook{URL: "http://hooks.example.org/h", TokenEnv: "HOOK_TOKEN"}},
		{Slack: &state.Slack{URLEnv: "SLACK_URL"}},
		{Webhook: &state.Webhook{URL: "https://hooks.example.org/h", TokenEnv: "GITHUB_TOKEN"}},
		{Webhook: &state.Webhook{URLEnv: "NOT_LISTED"}},
		{Webhook: &state.Webhook{URLEnv: "UNSET"}},
	}
	want := []string{
		"a secret is never sent over plain http to hooks.example.org, which is not on loopback",
		"a secret is never sent over plain http to hooks.example.org, which is not on loopback",
		"GITHUB_TOKEN is one of gearshift's own tokens or settings: it is never sent to a notification",
		"NOT_LISTED is not listed in GEARSHIFT_PASS_ENV: a notification reads only the variables the operator allows",
		"UNSET is not set",
	}
	for i, r := range s.Send(context.Background(), notes, ev) {
		if r.Outcome != Failed || r.Error != want[i] || r.Attempts != 0 {
			t.Errorf("notification %d: %+v, want failed before any attempt: %s", i, r, want[i])
		}
	}
	if got := s.Redactor.String("http://hooks.example.org/services/T/B/SECRETPART"); strings.Contains(got, "SECRETPART") {
		t.Errorf("the Slack URL read was not redacted: %s", got)
	}
}

// TestSlackText: text from the state or a target cannot mention anyone
// or make a link in Slack.
func TestSlackText(t *testing.T) {
	ev := NewEvent(failedRun(), "", "", "https://github.com/acme/state/actions/runs/3", nil)
	got := SlackText(ev)
	want := ":x: gearshift: apply of prod failed (0 deployed, 0 redeployed, 0 pruned, 1 rolled back, 0 failed, 0 skipped)\n" +
		"• gn3 0.0.11 -&gt; 0.0.12: rolled-back (rolled back to 0.0.11): health: &lt;@U024BE7LH&gt; said no &amp; the token s3cr3t-t0ken-value leaked\n" +
		"<https://github.com/acme/state/actions/runs/3|log of run 20261122T120000Z-abcdef>"
	if got != want {
		t.Errorf("SlackText =\n%s\nwant\n%s", got, want)
	}
}

// TestSendOn: what is sent on which outcome. A success that changed
// nothing goes to a commit status only.
func TestSendOn(t *testing.T) {
	var posts atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.FormatVersion != FormatVersion {
			t.Errorf("event %+v: %v", ev, err)
		}
		posts.Add(1)
	}))
	defer hook.Close()
	s := &Sender{Getenv: env(nil), Redactor: redact.New()}
	notes := []state.Notification{
		{Webhook: &state.Webhook{URL: hook.URL}},                                  // failure only
		{Webhook: &state.Webhook{URL: hook.URL}, On: []string{"success", "held"}}, // success, held
	}
	for _, c := range []struct {
		res      *apply.EnvResult
		outcomes []string
	}{
		{failedRun(), []string{Sent, Skipped}},
		{&apply.EnvResult{Name: "prod", Units: []apply.UnitResult{{Unit: "a", Outcome: apply.Deployed}}}, []string{Skipped, Sent}},
		{&apply.EnvResult{Name: "prod"}, []string{Skipped, Skipped}},
		{&apply.EnvResult{Name: "prod", BlockingViolations: 1}, []string{Skipped, Sent}},
	} {
		ev := NewEvent(c.res, "", "", "", nil)
		var got []string
		for _, r := range s.Send(context.Background(), notes, ev) {
			got = append(got, r.Outcome)
		}
		if strings.Join(got, ",") != strings.Join(c.outcomes, ",") {
			t.Errorf("%s (changed %v): %v, want %v", ev.Outcome, ev.Changed, got, c.outcomes)
		}
	}
	if n := posts.Load(); n != 3 {
		t.Errorf("%d posts, want 3", n)
	}
}
