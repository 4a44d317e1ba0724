package gitops

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/go-cmp/cmp"
)

func TestAuthFromEnv(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		want      string
		wantHosts []string
	}{
		{"gearshift token preferred", map[string]string{EnvToken: "g", EnvGitHubToken: "h"}, "g", nil},
		{"no host but the state repository's", map[string]string{EnvGitHubToken: "h"}, "h", nil},
		{"github in actions", map[string]string{EnvGitHubToken: "h", EnvGitHubServer: "https://github.com", EnvGitHubAPI: "https://api.github.com"},
			"h", []string{"github.com", "api.github.com"}},
		{"github enterprise", map[string]string{EnvGitHubToken: "h", EnvGitHubServer: "https://ghe.example.com", EnvGitHubAPI: "https://ghe.example.com/api/v3"},
			"h", []string{"ghe.example.com"}},
		{"more hosts", map[string]string{EnvGitHubToken: "h", EnvGitHubServer: "https://github.com", EnvTokenHosts: "git.example.com, ghe.example.com:8443,"},
			"h", []string{"github.com", "git.example.com", "ghe.example.com:8443"}},
		{"more hosts for the gearshift token", map[string]string{EnvToken: "g", EnvTokenHosts: "git.example.com"}, "g", []string{"git.example.com"}},
		{"server URL with credentials ignored", map[string]string{EnvToken: "g", EnvGitHubServer: "https://u:p@evil.example"}, "g", nil},
		{"blank gearshift token ignored", map[string]string{EnvToken: "  ", EnvGitHubToken: "h"}, "h", nil},
		{"none", nil, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AuthFromEnv(func(k string) string { return tc.env[k] })
			if got.Token != tc.want {
				t.Errorf("AuthFromEnv(%v).Token = %q, want %q", tc.env, got.Token, tc.want)
			}
			if diff := cmp.Diff(tc.wantHosts, got.Hosts); diff != "" {
				t.Errorf("AuthFromEnv(%v).Hosts (-want +got):\n%s", tc.env, diff)
			}
		})
	}
}

func TestAuthNeverFormatsToken(t *testing.T) {
	a := Auth{Token: testToken}
	holder := struct {
		A Auth
		P *Auth
	}{a, &a}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{a, &a, holder} {
			assertNoSecret(t, verb, fmt.Sprintf(verb, v))
		}
	}
	if got := fmt.Sprint(Auth{}); !strings.Contains(got, "none") {
		t.Errorf("empty Auth formats as %q, want it to say there is none", got)
	}
}

func TestNewRemote(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		auth     Auth
		wantURL  string
		wantPass string // "" when no auth is sent
		withheld bool
	}{
		{"host allowed", "https://github.com/o/r.git", Auth{Token: "envtoken", Hosts: []string{"GitHub.com"}}, "https://github.com/o/r.git", "envtoken", false},
		{"host not allowed", "https://evil.example/o/r.git", Auth{Token: "envtoken", Hosts: []string{"github.com"}}, "https://evil.example/o/r.git", "", true},
		{"no hosts: nowhere", "https://github.com/o/r.git", Auth{Token: "envtoken"}, "https://github.com/o/r.git", "", true},
		{"URL token goes to its host", "https://u:urltoken@evil.example/o/r.git", Auth{Token: "envtoken", Hosts: []string{"github.com"}}, "https://evil.example/o/r.git", "urltoken", false},
		{"https without token", "https://github.com/o/r.git", Auth{}, "https://github.com/o/r.git", "", false},
		{"token in URL preferred", "https://x-access-token:urltoken@github.com/o/r.git", Auth{Token: "envtoken", Hosts: []string{"github.com"}}, "https://github.com/o/r.git", "urltoken", false},
		{"token as URL username", "https://urltoken@github.com/o/r.git", Auth{}, "https://github.com/o/r.git", "urltoken", false},
		{"host entry with its port", "http://127.0.0.1:8080/r.git", Auth{Token: "envtoken", Hosts: []string{"127.0.0.1:8080"}}, "http://127.0.0.1:8080/r.git", "envtoken", false},
		{"another port of the host", "http://127.0.0.1:9090/r.git", Auth{Token: "envtoken", Hosts: []string{"127.0.0.1:8080"}}, "http://127.0.0.1:9090/r.git", "", true},
		{"another name of the host", "http://localhost:8080/r.git", Auth{Token: "envtoken", Hosts: []string{"127.0.0.1:8080"}}, "http://localhost:8080/r.git", "", true},
		{"default port", "https://git.example.com/r.git", Auth{Token: "envtoken", Hosts: []string{"git.example.com:443"}}, "https://git.example.com/r.git", "envtoken", false},
		{"host entry without port: any", "https://git.example.com:8443/r.git", Auth{Token: "envtoken", Hosts: []string{"git.example.com"}}, "https://git.example.com:8443/r.git", "envtoken", false},
		{"localhost http", "http://localhost/r.git", Auth{Token: "envtoken", Hosts: []string{"localhost"}}, "http://localhost/r.git", "envtoken", false},
		{"ipv6 loopback http", "http://[::1]:80/r.git", Auth{Token: "envtoken", Hosts: []string{"[::1]:80"}}, "http://[::1]:80/r.git", "envtoken", false},
		{"plain http elsewhere", "http://git.example.com/r.git", Auth{Token: "envtoken", Hosts: []string{"git.example.com"}}, "http://git.example.com/r.git", "", true},
		{"plain http elsewhere, URL token", "http://u:urltoken@git.example.com/r.git", Auth{}, "http://git.example.com/r.git", "", true},
		{"ssh keeps its user", "ssh://git@github.com/o/r.git", Auth{Token: "envtoken"}, "ssh://git@github.com/o/r.git", "", false},
		{"scp-like", "git@github.com:o/r.git", Auth{Token: "envtoken"}, "git@github.com:o/r.git", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := newRemote(tc.raw, tc.auth)
			if err != nil {
				t.Fatal(err)
			}
			if r.url != tc.wantURL {
				t.Errorf("url = %q, want %q", r.url, tc.wantURL)
			}
			var pass string
			if r.auth != nil {
				pass = r.auth.(*githttp.BasicAuth).Password
				if user := r.auth.(*githttp.BasicAuth).Username; user != tokenUsername {
					t.Errorf("username = %q, want %q", user, tokenUsername)
				}
			}
			if pass != tc.wantPass || (r.withheld != "") != tc.withheld {
				t.Errorf("password %q, withheld %q; want %q, withheld %v", pass, r.withheld, tc.wantPass, tc.withheld)
			}
		})
	}
}

func TestIsURL(t *testing.T) {
	for arg, want := range map[string]bool{
		"https://github.com/o/r":  true,
		"ssh://git@host/r.git":    true,
		"file:///srv/git/r.git":   true,
		"git@github.com:o/r.git":  true,
		".":                       false,
		"./state":                 false,
		"/home/me/state":          false,
		"state":                   false,
		"C:/state":                false,
		"dir/with:colon":          false,
		"relative/https://x":      false,
		"weird name@host:/x":      false,
		"HTTPS://GITHUB.COM/o/r":  true,
		"git+ssh://host/repo.git": true,
	} {
		if got := isURL(arg); got != want {
			t.Errorf("isURL(%q) = %v, want %v", arg, got, want)
		}
	}
}

func TestRedaction(t *testing.T) {
	if got, want := RedactURL("https://x-access-token:"+testToken+"@github.com/o/r.git"), "https://github.com/o/r.git"; got != want {
		t.Errorf("RedactURL = %q, want %q", got, want)
	}
	if got := RedactURL("/local/path"); got != "/local/path" {
		t.Errorf("RedactURL(path) = %q", got)
	}
	for in, want := range map[string]string{
		"https://github.com/o/r.git?token=" + testToken:                      "https://github.com/o/r.git?***",
		"https://u:p@github.com/o/r.git?access_token=" + testToken + "#frag": "https://github.com/o/r.git?***",
		`Get "http://127.0.0.1:1/r.git?t=` + testToken + `/info/refs": 404`:  `Get "http://127.0.0.1:1/r.git?***": 404`,
		"no URL? no change#": "no URL? no change#",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}

	r, err := newRemote("https://x-access-token:"+testToken+"@github.com/o/r.git", Auth{Token: "otherSECRETtoken"})
	if err != nil {
		t.Fatal(err)
	}
	cause := fmt.Errorf("Get %q: %w (token %s, other otherSECRETtoken)",
		"https://x-access-token:"+testToken+"@github.com/o/r.git/info/refs", transport.ErrAuthenticationRequired, testToken)
	err = r.fail(cause, "clone %s", "https://u:"+testToken+"@github.com/o/r.git")
	msg := err.Error()
	assertNoSecret(t, "error", msg)
	if strings.Contains(msg, "otherSECRETtoken") {
		t.Errorf("error holds the environment token: %s", msg)
	}
	if !errors.Is(err, ErrAuth) || !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("errors.Is lost through redaction: %v", err)
	}
	if errors.Unwrap(err) != nil {
		t.Errorf("a redacted error unwraps to the original message")
	}
	if !strings.Contains(msg, "https://github.com/o/r.git") {
		t.Errorf("error %q no longer names the repository", msg)
	}
}
