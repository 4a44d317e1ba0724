package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler("greeter", "1.3.0"))
	defer srv.Close()
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/healthz", "ok\n", 200},
		{"/", "greeter 1.3.0\n", 200},
		{"/nope", "404 page not found\n", 404},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(b) != tc.body {
			t.Errorf("GET %s: got %d %q, want %d %q", tc.path, resp.StatusCode, b, tc.status, tc.body)
		}
	}
}

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(Handler("greeter", "1.3.0"))
	defer srv.Close()
	var out, errb bytes.Buffer
	if code := run([]string{"check", srv.URL + "/"}, &out, &errb); code != 0 {
		t.Errorf("check /: got exit %d (%s), want 0", code, errb.String())
	}
	if !strings.Contains(out.String(), "greeter 1.3.0") {
		t.Errorf("check /: got %q, want the body", out.String())
	}
	errb.Reset()
	if code := run([]string{"check", srv.URL + "/missing"}, &out, &errb); code != 1 {
		t.Errorf("check /missing: got exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "404 Not Found") {
		t.Errorf("check /missing: got %q, want the status", errb.String())
	}
	if code := run([]string{"check", "http://127.0.0.1:1/"}, &out, &errb); code != 1 {
		t.Errorf("check on a closed port: got exit %d, want 1", code)
	}
}
