package gitops

import (
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
)

// These tests run against the real git http-backend (issue 8, item 6): a
// token goes to the state repository's host and to the hosts the operator
// named, never to a host a URL in the state names; a clone's credential is
// its push's; no URL is printed with its credentials.

// basic is the Authorization header a client sends with the token.
func basic(token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(tokenUsername+":"+token))
}

// asHost is u with its host name replaced (same server, another name).
func asHost(t *testing.T, raw, hostname string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostname + ":" + u.Port()
	return u.String()
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// carried lists the Authorization headers srv received from hosts named
// like hostname ("" for all).
func carried(srv *gitserver.Server, hostname string) (with, without int) {
	for _, r := range srv.Received() {
		if hostname != "" && !strings.HasPrefix(r.Host, hostname+":") {
			continue
		}
		if r.Authorization != "" {
			with++
		} else {
			without++
		}
	}
	return with, without
}

func TestTokenGoesOnlyToTheStateRepositoryHost(t *testing.T) {
	ctx := testContext(t)
	state := gitserver.New(t, testToken)
	state.CreateRepo("state", "main", map[string]string{"a.cue": "a\n"})
	state.CreateRepo("private-lib", "main", nil)
	state.Tag("private-lib", "v1.0.0", "main")
	source := gitserver.New(t, "") // anonymous: serves anyone, records what it is sent
	source.CreateRepo("lib", "main", nil)
	source.Tag("lib", "v2.0.0", "main")

	// What a CI job has: a token, and no idea yet where the state is.
	env := AuthFromEnv(func(k string) string { return map[string]string{EnvToken: testToken}[k] })
	c, err := Open(ctx, state.URL("state"), "main", t.TempDir(), env)
	if err != nil {
		t.Fatalf("Open of the state repository with the token: %v", err)
	}
	auth := env.ForRepo(c)
	lister := NewTagLister(auth)

	// A release source on another server (a frameworks.*.releases or
	// track.source URL from the state) is asked anonymously.
	if tags, err := lister.Tags(ctx, source.URL("lib")); err != nil || len(tags) != 1 {
		t.Fatalf("tags of the other server = %v, %v", tags, err)
	}
	if with, without := carried(source, ""); with != 0 || without == 0 {
		t.Errorf("the other server received %d requests with an Authorization header (and %d without), want none with", with, without)
	}

	// The state's own server under another name is another host too.
	_, err = lister.Tags(ctx, asHost(t, state.URL("private-lib"), "localhost"))
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), EnvTokenHosts) {
		t.Errorf("tags of the state's server named localhost = %v, want ErrAuth saying the token is withheld (%s)", err, EnvTokenHosts)
	}
	assertNoSecret(t, "error", err.Error())
	if with, _ := carried(state, "localhost"); with != 0 {
		t.Errorf("the server reached as localhost received the token %d times", with)
	}

	// The state repository's host gets it, for the state and its other
	// repositories.
	if tags, err := lister.Tags(ctx, state.URL("private-lib")); err != nil || len(tags) != 1 {
		t.Errorf("tags of a private repository on the state's host = %v, %v", tags, err)
	}
	for _, r := range state.Received() {
		if strings.HasPrefix(r.Host, "127.0.0.1:") && r.Status == 0 && r.Authorization != basic(testToken) {
			t.Errorf("a request to the state's host was served without the token: %+v", r.Path)
		}
	}

	// A host the operator names in GEARSHIFT_GIT_TOKEN_HOSTS gets it.
	more := AuthFromEnv(func(k string) string {
		return map[string]string{EnvToken: testToken, EnvTokenHosts: "git.example.invalid, " + hostOf(t, source.URL("lib"))}[k]
	}).ForRepo(c)
	before := len(source.Received())
	if _, err := ListTags(ctx, source.URL("lib"), more); err != nil {
		t.Fatal(err)
	}
	for _, r := range source.Received()[before:] {
		if r.Authorization != basic(testToken) {
			t.Errorf("a host named in %s was not sent the token: %+v", EnvTokenHosts, r.Path)
		}
	}
}

// TestLocalCheckoutStateHostIsOrigin: for a local checkout (a CI checkout)
// the state repository's host is its origin's.
func TestLocalCheckoutStateHostIsOrigin(t *testing.T) {
	ctx := testContext(t)
	srv := gitserver.New(t, testToken)
	srv.CreateRepo("state", "main", map[string]string{"a.cue": "a\n"})
	srv.CreateRepo("lib", "main", nil)
	srv.Tag("lib", "v1.0.0", "main")
	env := Auth{Token: testToken}
	cloned, err := Open(ctx, srv.URL("state"), "main", t.TempDir(), env)
	if err != nil {
		t.Fatal(err)
	}
	// The cache is a git repository whose origin is the server: open it as
	// a local checkout, the way a CI job's checkout is opened.
	local, err := Open(ctx, cloned.Dir, "", "", env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ListTags(ctx, srv.URL("lib"), env); !errors.Is(err, ErrAuth) {
		t.Errorf("ListTags without the state's host = %v, want ErrAuth (the token withheld)", err)
	}
	if _, err := ListTags(ctx, srv.URL("lib"), env.ForRepo(local)); err != nil {
		t.Errorf("ListTags on the origin's host: %v", err)
	}
	if _, err := CommitBranch(ctx, local, "gearshift/x", "x", map[string][]byte{"b": []byte("b\n")}, Author{}); err != nil {
		t.Fatal(err)
	}
	if err := Push(ctx, local, "gearshift/x", true, env); err != nil {
		t.Errorf("push of a local checkout to its origin with the token: %v", err)
	}
}

// TestCloneCredentialIsThePushCredential: bump --repo
// http://x-access-token:T@host/... clones with T and pushes with T, with no
// token in the environment, and T is never written to disk.
func TestCloneCredentialIsThePushCredential(t *testing.T) {
	ctx := testContext(t)
	srv := gitserver.New(t, testToken)
	srv.CreateRepo("state", "main", map[string]string{"a.cue": "a\n"})
	u, err := url.Parse(srv.URL("state"))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("x-access-token", testToken)
	noEnv := AuthFromEnv(func(string) string { return "" })

	c, err := Open(ctx, u.String(), "main", t.TempDir(), noEnv)
	if err != nil {
		t.Fatalf("clone with the token in the URL: %v", err)
	}
	assertNoSecret(t, "Source", c.Source)
	commit, err := CommitBranch(ctx, c, "gearshift/bump-a", "bump a", map[string][]byte{"a.cue": []byte("b\n")}, Author{})
	if err != nil {
		t.Fatal(err)
	}
	before := len(srv.Received())
	if err := PushBranches(ctx, c, []string{"gearshift/bump-a"}, true, noEnv); err != nil {
		t.Fatalf("push after a clone with the token in the URL: %v", err)
	}
	if got := srv.Head("state", "gearshift/bump-a"); got != commit {
		t.Errorf("the server's branch is at %s, want the pushed %s", got, commit)
	}
	for _, r := range srv.Received()[before:] {
		if r.Authorization != basic(testToken) {
			t.Errorf("push request %s %s did not carry the clone's credential", r.Method, r.Path)
		}
	}
	// The URL's token is the state host's credential for the rest of the
	// run (a release source beside the state), and goes nowhere else.
	srv.CreateRepo("lib", "main", nil)
	srv.Tag("lib", "v1.0.0", "main")
	if _, err := ListTags(ctx, srv.URL("lib"), noEnv.ForRepo(c)); err != nil {
		t.Errorf("tags of a repository beside the state with the URL's token: %v", err)
	}
	if _, err := ListTags(ctx, asHost(t, srv.URL("lib"), "localhost"), noEnv.ForRepo(c)); !errors.Is(err, ErrAuth) {
		t.Errorf("tags under another host name = %v, want ErrAuth (no token sent)", err)
	}
	if with, _ := carried(srv, "localhost"); with != 0 {
		t.Errorf("the URL's token was sent to another host name %d times", with)
	}
	config, err := os.ReadFile(filepath.Join(c.Dir, ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, ".git/config", string(config))
}

// TestQueryInURLRefusedAndNeverPrinted: a token in a URL's query (or
// fragment) is refused before anything is sent, and no message shows it.
func TestQueryInURLRefusedAndNeverPrinted(t *testing.T) {
	ctx := testContext(t)
	srv, auth := newServer(t)
	srv.CreateRepo("state", "main", map[string]string{"a.cue": "a\n"})
	for _, raw := range []string{
		srv.URL("state") + "?token=" + testToken,
		srv.URL("state") + "?access_token=" + testToken + "&x=1",
		srv.URL("state") + "#" + testToken,
		"https://x-access-token:" + testToken + "@git.example.invalid/state.git?token=" + testToken,
	} {
		_, openErr := Open(ctx, raw, "main", t.TempDir(), auth)
		_, tagsErr := ListTags(ctx, raw, auth)
		statusErr := WriteStatus(ctx, raw, "", map[string][]byte{"dev.json": []byte("{}")}, "status", auth)
		for name, err := range map[string]error{"Open": openErr, "ListTags": tagsErr, "WriteStatus": statusErr} {
			if err == nil {
				t.Errorf("%s(%s) succeeded, want a query refused", name, RedactURL(raw))
				continue
			}
			assertNoSecret(t, name+" error", err.Error())
			if !strings.Contains(err.Error(), "?***") || !strings.Contains(err.Error(), "query") {
				t.Errorf("%s error %q does not say the query is refused", name, err)
			}
		}
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("the server received %d requests for URLs with a query, want none", n)
	}
}
