package serve

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestValidSignature(t *testing.T) {
	secret, body := []byte("k"), []byte(`{"ref":"refs/heads/main"}`)
	good := Sign(secret, body)
	for _, tc := range []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   bool
	}{
		{"good", secret, body, good, true},
		{"other secret", []byte("other"), body, good, false},
		{"other body", secret, []byte(`{"ref":"refs/heads/prod"}`), good, false},
		{"sha1 header", secret, body, "sha1=" + strings.TrimPrefix(good, "sha256="), false},
		{"no prefix", secret, body, strings.TrimPrefix(good, "sha256="), false},
		{"not hex", secret, body, "sha256=zz" + good[9:], false},
		{"short", secret, body, good[:len(good)-2], false},
		{"empty", secret, body, "", false},
		{"no secret configured", nil, body, Sign(nil, body), false},
	} {
		if got := validSignature(tc.secret, tc.body, tc.header); got != tc.want {
			t.Errorf("%s: validSignature = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestWebhookAnswers: every kind of delivery gets its status and its
// count, and only a signed, new push wakes anything.
func TestWebhookAnswers(t *testing.T) {
	secret := []byte("k")
	var woken []string
	h := &webhook{secret: secret, m: newMetrics(), now: time.Now, wake: func(p PushEvent, _ time.Time) { woken = append(woken, p.Ref) }}
	push := []byte(`{"ref":"refs/heads/main","after":"abc"}`)
	big := append([]byte(`{"ref":"refs/heads/main","pad":"`), bytes.Repeat([]byte("x"), MaxWebhookBody)...)
	big = append(big, `"}`...)
	for _, tc := range []struct {
		name, method, event, id string
		body                    []byte
		sig                     string
		want                    int
	}{
		{"push", "POST", "push", "1", push, Sign(secret, push), http.StatusAccepted},
		{"replay", "POST", "push", "1", push, Sign(secret, push), http.StatusOK},
		{"bad signature", "POST", "push", "2", push, Sign([]byte("x"), push), http.StatusUnauthorized},
		{"unsigned", "POST", "push", "3", push, "", http.StatusUnauthorized},
		{"ping", "POST", "ping", "4", []byte(`{"zen":"hi"}`), Sign(secret, []byte(`{"zen":"hi"}`)), http.StatusOK},
		{"other event", "POST", "issues", "5", push, Sign(secret, push), http.StatusAccepted},
		{"no delivery id", "POST", "push", "", push, Sign(secret, push), http.StatusBadRequest},
		{"not a push", "POST", "push", "6", []byte(`[1]`), Sign(secret, []byte(`[1]`)), http.StatusBadRequest},
		{"too large", "POST", "push", "7", big, Sign(secret, big), http.StatusRequestEntityTooLarge},
		{"GET", "GET", "push", "8", nil, "", http.StatusMethodNotAllowed},
	} {
		req := httptest.NewRequest(tc.method, "/hook/github", bytes.NewReader(tc.body))
		req.Header.Set("X-GitHub-Event", tc.event)
		req.Header.Set("X-GitHub-Delivery", tc.id)
		if tc.sig != "" {
			req.Header.Set("X-Hub-Signature-256", tc.sig)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, rec.Code, tc.want, strings.TrimSpace(rec.Body.String()))
		}
	}
	if len(woken) != 1 || woken[0] != "refs/heads/main" {
		t.Errorf("woken by %q, want only the first push", woken)
	}
}

// FuzzWebhook: whatever the body and headers, the receiver answers
// without panicking, and wakes nothing unless the signature is right.
func FuzzWebhook(f *testing.F) {
	secret := []byte("k")
	f.Add([]byte(`{"ref":"refs/heads/main"}`), "push", "sha256=00", true)
	f.Add([]byte(`{"ref":1}`), "push", "", true)
	f.Add([]byte(`null`), "ping", "sha256=", false)
	f.Fuzz(func(t *testing.T, body []byte, event, sig string, sign bool) {
		woke := false
		h := &webhook{secret: secret, m: newMetrics(), now: time.Now, wake: func(PushEvent, time.Time) { woke = true }}
		if sign {
			sig = Sign(secret, body)
		}
		req := httptest.NewRequest("POST", "/hook/github", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", "d")
		req.Header.Set("X-Hub-Signature-256", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if woke && !validSignature(secret, body, sig) {
			t.Fatal("woken by a delivery with a bad signature")
		}
	})
}
