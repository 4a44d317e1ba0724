package serve

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MaxWebhookBody is the largest delivery the receiver reads: a push of
// many commits is well under it (GitHub caps payloads at 25 MB, but a
// push's commit list is cut at 2,048 commits).
const MaxWebhookBody = 5 << 20

// PushEvent is what the receiver reads of a push delivery.
type PushEvent struct {
	Ref     string `json:"ref"`
	After   string `json:"after"`
	Deleted bool   `json:"deleted"`
}

// webhook receives GitHub deliveries: the signature first (HMAC-SHA256 of
// the raw body, compared in constant time), then the event filter and the
// de-duplication. Nothing of an unsigned delivery is parsed.
type webhook struct {
	secret []byte
	m      *metrics
	// wake is called with each signed push.
	wake func(PushEvent, time.Time)
	now  func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // delivery id -> when
	// order keeps the ids in arrival order, to forget the oldest.
	order []string
}

// maxDeliveries is how many delivery ids are remembered: GitHub redelivers
// on request, at any later time; a replayed capture is refused as long as
// its id is remembered.
const maxDeliveries = 10000

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event := r.Header.Get("X-GitHub-Event")
	label := event
	switch event {
	case "push", "ping":
	default:
		label = "other"
	}
	if r.Method != http.MethodPost {
		h.m.webhooks.WithLabelValues(label, "bad_request").Inc()
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.m.webhooks.WithLabelValues(label, "too_large").Inc()
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		h.m.webhooks.WithLabelValues(label, "bad_request").Inc()
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	if !validSignature(h.secret, body, r.Header.Get("X-Hub-Signature-256")) {
		h.m.webhooks.WithLabelValues(label, "bad_signature").Inc()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("X-GitHub-Delivery")
	if id == "" || len(id) > 100 {
		h.m.webhooks.WithLabelValues(label, "bad_request").Inc()
		http.Error(w, "no X-GitHub-Delivery", http.StatusBadRequest)
		return
	}
	if !h.first(id) {
		h.m.webhooks.WithLabelValues(label, "duplicate").Inc()
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "duplicate delivery: ignored\n")
		return
	}
	switch event {
	case "ping":
		h.m.webhooks.WithLabelValues(label, "pong").Inc()
		io.WriteString(w, "pong\n")
	case "push":
		var p PushEvent
		if err := json.Unmarshal(body, &p); err != nil || !strings.HasPrefix(p.Ref, "refs/") {
			h.m.webhooks.WithLabelValues(label, "bad_request").Inc()
			http.Error(w, "not a push event", http.StatusBadRequest)
			return
		}
		h.m.webhooks.WithLabelValues(label, "accepted").Inc()
		h.wake(p, h.now())
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "accepted\n")
	default:
		h.m.webhooks.WithLabelValues(label, "ignored").Inc()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "event ignored: only push and ping\n")
	}
}

// first records a delivery id and reports whether it is new.
func (h *webhook) first(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]time.Time{}
	}
	if _, ok := h.seen[id]; ok {
		return false
	}
	h.seen[id] = h.now()
	h.order = append(h.order, id)
	if len(h.order) > maxDeliveries {
		delete(h.seen, h.order[0])
		h.order = h.order[1:]
	}
	return true
}

// validSignature checks GitHub's X-Hub-Signature-256 header
// ("sha256=<hex>") against the HMAC-SHA256 of body, in constant time.
func validSignature(secret, body []byte, header string) bool {
	if len(secret) == 0 {
		return false
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign is the X-Hub-Signature-256 value GitHub sends for body: for tests
// and benchmarks that play GitHub.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
