package redact

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Mask is what a secret is replaced by. It is the runner's own mask, so a
// reader of a GitHub Actions log sees one convention.
const Mask = "***"

// MinLen is the length under which a value is not treated as a secret.
const MinLen = 4

// minEncoded is the shortest base64 fragment redacted: shorter fragments
// of a 4 or 5 byte secret could match unrelated base64 text.
const minEncoded = 6

// Redactor replaces secrets, and their common encodings, by Mask. It is
// safe for concurrent use; Add may be called while writers are in use.
type Redactor struct {
	mu sync.RWMutex
	// byFirst holds every needle (a secret or one of its encodings) by its
	// first byte, longest first, so a scan tries few candidates per byte.
	byFirst [256][]string
	seen    map[string]bool
	secrets int
	maxLen  int
}

// New returns a Redactor of secrets; values shorter than MinLen are ignored.
func New(secrets ...string) *Redactor {
	r := &Redactor{seen: map[string]bool{}}
	r.Add(secrets...)
	return r
}

// Add adds secrets. A multi-line secret (a private key) is also added line
// by line, since a line may be printed on its own.
func (r *Redactor) Add(secrets ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		r.add(s)
		if strings.ContainsAny(s, "\r\n") {
			for line := range strings.SplitSeq(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
				r.add(strings.TrimSpace(line))
			}
		}
	}
}

// AddURL adds the password of a URL's userinfo (https://user:TOKEN@host/),
// or its user name when it has no password (https://TOKEN@host/), as git
// and GitHub accept a token in either place. raw that is not a URL with
// userinfo adds nothing.
func (r *Redactor) AddURL(raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return
	}
	if p, ok := u.User.Password(); ok {
		r.Add(p)
		return
	}
	r.Add(u.User.Username())
}

func (r *Redactor) add(s string) {
	if len(s) < MinLen || r.seen[s] {
		return
	}
	r.seen[s] = true
	r.secrets++
	for _, n := range encodings(s) {
		r.needle(n)
	}
}

func (r *Redactor) needle(n string) {
	if len(n) == 0 || slices.Contains(r.byFirst[n[0]], n) {
		return
	}
	l := append(r.byFirst[n[0]], n)
	// Longest first: a secret that starts with another is masked whole.
	slices.SortStableFunc(l, func(a, b string) int { return len(b) - len(a) })
	r.byFirst[n[0]] = l
	r.maxLen = max(r.maxLen, len(n))
}

// encodings are the forms in which s may be written: verbatim, inside a
// JSON string, URL-escaped, and the part of any base64 text that encodes s
// (whatever precedes or follows it, e.g. "x-access-token:" in a Basic
// authorization header).
func encodings(s string) []string {
	out := []string{s}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(s) == nil {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(b.String()), `"`)[1:])
		}
	}
	out = append(out, url.QueryEscape(s), url.PathEscape(s))
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for k := range 3 {
			src := append(make([]byte, k), s...)
			e := enc.EncodeToString(src)
			// Character i holds bits [6i, 6i+6); keep those that come
			// from s alone.
			first, last := (8*k+5)/6, 8*(k+len(s))/6
			if last-first >= minEncoded {
				out = append(out, e[first:last])
			}
		}
	}
	return out
}

// String returns s with every secret replaced by Mask.
func (r *Redactor) String(s string) string {
	if r.empty() {
		return s
	}
	out, _ := r.scan(nil, []byte(s), true)
	return string(out)
}

// Bytes returns b with every secret replaced by Mask. b is not modified.
func (r *Redactor) Bytes(b []byte) []byte {
	if r.empty() {
		return b
	}
	out, _ := r.scan(nil, b, true)
	return out
}

// Func is String as a function value, for packages that take a
// func(string) string and import nothing of this one.
func (r *Redactor) Func() func(string) string { return r.String }

// Format keeps fmt from printing the secrets of a Redactor.
func (r *Redactor) Format(f fmt.State, _ rune) {
	n := 0
	if r != nil {
		r.mu.RLock()
		n = r.secrets
		r.mu.RUnlock()
	}
	fmt.Fprintf(f, "redact.Redactor{%d secrets}", n)
}

func (r *Redactor) empty() bool {
	if r == nil {
		return true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.maxLen == 0
}

// scan appends src to dst with secrets masked and returns how much of src
// it consumed. Unless final, it stops before a tail of src that may be the
// start of a secret, which the caller keeps until more bytes arrive.
func (r *Redactor) scan(dst, src []byte, final bool) ([]byte, int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	i := 0
	for i < len(src) {
		rest := src[i:]
		if !final && len(rest) < r.maxLen && r.partial(rest) {
			return dst, i
		}
		if n := r.match(rest); n > 0 {
			dst = append(dst, Mask...)
			i += n
			continue
		}
		dst = append(dst, src[i])
		i++
	}
	return dst, i
}

// match is the length of the longest needle b starts with, or 0.
func (r *Redactor) match(b []byte) int {
	for _, n := range r.byFirst[b[0]] {
		if len(n) <= len(b) && string(b[:len(n)]) == n {
			return len(n)
		}
	}
	return 0
}

// partial reports whether b is a proper prefix of a needle: the needle may
// be completed by the next write.
func (r *Redactor) partial(b []byte) bool {
	for _, n := range r.byFirst[b[0]] {
		if len(n) > len(b) && n[:len(b)] == string(b) {
			return true
		}
	}
	return false
}

// Writer masks secrets in what is written through it. A write that ends
// with the beginning of a secret is held back until the next write shows
// whether the secret follows; Flush writes what is held.
type Writer struct {
	r       *Redactor
	w       io.Writer
	mu      sync.Mutex
	pending []byte
}

// Writer wraps w. With a nil Redactor it still returns a Writer, which
// passes everything through.
func (r *Redactor) Writer(w io.Writer) *Writer { return &Writer{r: r, w: w} }

// Write masks p (with what an earlier write held back) and writes what is
// certainly not part of a secret. It reports len(p) written unless w fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.r.empty() {
		if err := w.flush(); err != nil {
			return 0, err
		}
		return w.w.Write(p)
	}
	src := append(w.pending, p...)
	out, n := w.r.scan(nil, src, false)
	w.pending = append([]byte(nil), src[n:]...)
	if len(out) > 0 {
		if _, err := w.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what the last write held back, masked.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flush()
}

func (w *Writer) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	out := w.r.Bytes(w.pending)
	w.pending = nil
	_, err := w.w.Write(out)
	return err
}

// Unwrap is the writer underneath, for a caller that must know whether it
// is a terminal.
func (w *Writer) Unwrap() io.Writer { return w.w }

type ctxKey struct{}

// NewContext returns ctx carrying r, for the sinks FromContext serves.
func NewContext(ctx context.Context, r *Redactor) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// FromContext is the Redactor ctx carries, or nil (which redacts nothing).
func FromContext(ctx context.Context) *Redactor {
	r, _ := ctx.Value(ctxKey{}).(*Redactor)
	return r
}

// Transport masks secrets in request bodies before base sends them (nil
// base: http.DefaultTransport): a comment or pull request body built from
// a plan cannot carry a token to GitHub. Headers are left alone: the
// Authorization header must carry the token.
func (r *Redactor) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{r: r, base: base}
}

type transport struct {
	r    *Redactor
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || t.r.empty() {
		return t.base.RoundTrip(req)
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the request body: %w", err)
	}
	b = t.r.Bytes(b)
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(b))
	out.ContentLength = int64(len(b))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return t.base.RoundTrip(out)
}
