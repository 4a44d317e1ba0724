package redact

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const token = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"

func TestString(t *testing.T) {
	r := New(token, "abc", "", "s3cr3t-pass")
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	tests := []struct{ in, want string }{
		{"token=" + token + "\n", "token=***\n"},
		{token + token, "******"},
		{"no secret here", "no secret here"},
		// Shorter than MinLen: never masked, output stays readable.
		{"abc def", "abc def"},
		{`{"p":"` + url.QueryEscape("s3cr3t-pass") + `"}`, `{"p":"***"}`},
	}
	for _, tt := range tests {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// "x-access-token:" is 15 bytes, encoded by the first 20 characters;
	// at most the last character of the token's encoding and the padding
	// are left after the mask.
	got := r.String("Basic " + basic)
	if rest, ok := strings.CutPrefix(got, "Basic "+basic[:20]+Mask); !ok || len(rest) > 4 {
		t.Errorf("basic auth header %q masked as %q", basic, got)
	}
}

func TestEncodings(t *testing.T) {
	secret := `p<a>s&s"wo\rd/ü`
	r := New(secret, token)
	js, err := json.Marshal(map[string]string{"a": "x" + secret + "y"})
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"json":        string(js),
		"query":       "https://h/?q=" + url.QueryEscape(secret),
		"path":        "https://h/" + url.PathEscape(secret),
		"base64 at 0": base64.StdEncoding.EncodeToString([]byte(token + "tail")),
		"base64 at 1": base64.StdEncoding.EncodeToString([]byte("a" + token)),
		"base64 at 2": base64.StdEncoding.EncodeToString([]byte("ab" + token + "z")),
		"base64 url":  base64.RawURLEncoding.EncodeToString([]byte("user:" + token)),
	} {
		got := r.String(text)
		if !strings.Contains(got, Mask) {
			t.Errorf("%s: %q was not masked: %q", name, text, got)
		}
		// What is left must not decode to the secret, nor hold a long
		// piece of its encoding.
		if strings.Contains(got, secret) || strings.Contains(got, token[4:12]) {
			t.Errorf("%s: secret left in %q", name, got)
		}
	}
	if js2 := r.Bytes(js); !json.Valid(js2) {
		t.Errorf("masked JSON is not valid: %s", js2)
	}
}

func TestMultiLineSecret(t *testing.T) {
	key := "-----BEGIN KEY-----\nMIIEpAIBAAKCAQEA1\nAbCdEfGh\n-----END KEY-----"
	r := New(key)
	got := r.String("line: AbCdEfGh\n")
	if got != "line: ***\n" {
		t.Errorf("a line of a multi-line secret = %q, want it masked", got)
	}
}

// TestWriterSplit writes a text holding secrets in every possible split into
// two writes, and byte by byte: the output is the same as String's.
func TestWriterSplit(t *testing.T) {
	r := New(token, "password1")
	text := "a " + token + " b password1\npassword c " + token[:10] + " end"
	want := r.String(text)
	if strings.Contains(want, token) || strings.Contains(want, "password1") {
		t.Fatalf("String left a secret: %q", want)
	}
	for i := 0; i <= len(text); i++ {
		var b bytes.Buffer
		w := r.Writer(&b)
		io.WriteString(w, text[:i])
		io.WriteString(w, text[i:])
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("split at %d: got %q, want %q", i, b.String(), want)
		}
	}
	var b bytes.Buffer
	w := r.Writer(&b)
	for i := range len(text) {
		n, err := w.Write([]byte{text[i]})
		if n != 1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	w.Flush()
	if b.String() != want {
		t.Errorf("byte by byte: got %q, want %q", b.String(), want)
	}
}

// TestWriterHoldsOnlyPrefixes: a write that does not end with the start of
// a secret reaches the underlying writer at once (a line is never delayed).
func TestWriterHoldsOnlyPrefixes(t *testing.T) {
	r := New(token)
	var b bytes.Buffer
	w := r.Writer(&b)
	fmt.Fprintf(w, "plan: 1 to deploy\n")
	if b.String() != "plan: 1 to deploy\n" {
		t.Errorf("after a whole line, got %q", b.String())
	}
	fmt.Fprintf(w, "x gh")
	if b.String() != "plan: 1 to deploy\nx " {
		t.Errorf("the start of a secret was not held: %q", b.String())
	}
	w.Flush()
	if b.String() != "plan: 1 to deploy\nx gh" {
		t.Errorf("Flush = %q", b.String())
	}
}

func TestNilAndEmpty(t *testing.T) {
	var r *Redactor
	if got := r.String("x " + token); got != "x "+token {
		t.Errorf("nil Redactor changed text: %q", got)
	}
	var b bytes.Buffer
	w := r.Writer(&b)
	io.WriteString(w, "abc")
	if b.String() != "abc" {
		t.Errorf("nil Redactor's writer: %q", b.String())
	}
	if FromContext(context.Background()) != nil {
		t.Error("FromContext of a bare context is not nil")
	}
	r2 := New("short")
	if FromContext(NewContext(context.Background(), r2)) != r2 {
		t.Error("FromContext lost the Redactor")
	}
}

func TestAddURL(t *testing.T) {
	r := New()
	r.AddURL("https://x-access-token:" + token + "@github.example/o/r.git")
	r.AddURL("https://tok3nonly@github.example/o/r.git")
	r.AddURL("/some/dir")
	if got := r.String(token + " tok3nonly"); got != "*** ***" {
		t.Errorf("got %q", got)
	}
}

func TestFormatHidesSecrets(t *testing.T) {
	r := New(token)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, r); strings.Contains(s, token[4:]) {
			t.Errorf("%s printed the secret: %s", verb, s)
		}
	}
}

// TestTransport sends a request through a real HTTP server: the body that
// arrives is masked, the Authorization header is not.
func TestTransport(t *testing.T) {
	var gotBody, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		gotBody, gotAuth = string(b), req.Header.Get("Authorization")
	}))
	defer srv.Close()
	r := New(token)
	c := &http.Client{Transport: r.Transport(nil)}
	req, err := http.NewRequest("POST", srv.URL, strings.NewReader(`{"body":"token=`+token+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotBody != `{"body":"token=***"}` {
		t.Errorf("body = %q, want the token masked", gotBody)
	}
	if gotAuth != "Bearer "+token {
		t.Errorf("Authorization header was changed: %q", gotAuth)
	}
}
