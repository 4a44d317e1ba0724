package nginx

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStartTestReload checks the server end to end: it answers 502 until
// the upstream file names a live server, and the test and reload argv
// work on this instance alone.
func TestStartTestReload(t *testing.T) {
	s := Start(t, "app")
	if code, _ := get(t, s.URL); code != http.StatusBadGateway {
		t.Fatalf("before any upstream: got status %d, want 502", code)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "backend")
	}))
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "http://")
	if err := os.WriteFile(s.UpstreamFile, []byte("upstream app {\n    server "+addr+";\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{s.TestArgv, s.ReloadArgv} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := get(t, s.URL)
		if code == http.StatusOK && body == "backend" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after reload: got %d %q, want 200 \"backend\"", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A broken upstream file fails the config test.
	if err := os.WriteFile(s.UpstreamFile, []byte("upstream app {"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(s.TestArgv[0], s.TestArgv[1:]...).Run(); err == nil {
		t.Error("config test passed with a broken upstream file")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
