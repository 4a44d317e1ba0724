package notify

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// BenchmarkSend measures what notifications add to the end of an
// environment's run: the three providers of a webhook, a Slack-compatible
// webhook and a signed webhook with a token, sent at once to receivers on
// this machine; and what a receiver that hangs costs (its timeout, 50ms
// here, times its attempts, plus the backoff), which bounds every run.
func BenchmarkSend(b *testing.B) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server sees the client go
		<-r.Context().Done()
	}))
	defer hang.Close()
	vars := map[string]string{"GEARSHIFT_PASS_ENV": "SLACK,TOK,SIG", "SLACK": ok.URL + "/services/x", "TOK": "tok-0123456789", "SIG": "sig-0123456789"}
	ev := NewEvent(failedRun(), "0123456789abcdef0123456789abcdef01234567", "main", "", nil)
	for _, c := range []struct {
		name  string
		notes []state.Notification
	}{
		{"three-providers", []state.Notification{
			{Webhook: &state.Webhook{URL: ok.URL}, Timeout: state.Duration{Duration: time.Second}},
			{Slack: &state.Slack{URLEnv: "SLACK"}, Timeout: state.Duration{Duration: time.Second}},
			{Webhook: &state.Webhook{URL: ok.URL, TokenEnv: "TOK", SecretEnv: "SIG"}, Timeout: state.Duration{Duration: time.Second}},
		}},
		{"hanging-50ms-retries-1", []state.Notification{
			{Webhook: &state.Webhook{URL: hang.URL}, Timeout: state.Duration{Duration: 50 * time.Millisecond}, Retries: 1},
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := &Sender{Getenv: func(k string) string { return vars[k] }, Redactor: redact.New(), Backoff: 10 * time.Millisecond}
			for b.Loop() {
				s.Send(context.Background(), c.notes, ev)
			}
		})
	}
}
