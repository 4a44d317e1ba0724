package gitops

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
)

// testToken is long and unusual so that a leak is found by a plain search.
const testToken = "ghp_TESTtoken0123456789abcdefSECRET"

// newServer starts a git server that accepts testToken, and an Auth that
// may send it there (the server is the state repository's host).
func newServer(t testing.TB) (*gitserver.Server, Auth) {
	t.Helper()
	srv := gitserver.New(t, testToken)
	u, err := url.Parse(srv.URL("x"))
	if err != nil {
		t.Fatal(err)
	}
	return srv, Auth{Token: testToken, Hosts: []string{u.Host}}
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// assertNoSecret fails when s holds the token or any long piece of it.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{testToken, testToken[4:20], "wrongTOKENvalue42"} {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains a secret: %s", what, s)
		}
	}
}
