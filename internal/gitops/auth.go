package gitops

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Timeouts of the network calls. A caller's context with an earlier deadline
// wins; these only stop a hung server from hanging gearshift.
const (
	listTimeout  = 30 * time.Second
	fetchTimeout = 5 * time.Minute
	pushTimeout  = 2 * time.Minute
)

// tokenUsername is the basic-auth username sent with a token. GitHub accepts
// it for personal, app and Actions tokens; other forges ignore the username.
const tokenUsername = "x-access-token"

// Environment variables a token is read from, in order of preference, and
// the ones that say where it may be sent.
const (
	EnvToken       = "GEARSHIFT_GIT_TOKEN"
	EnvGitHubToken = "GITHUB_TOKEN"
	// EnvTokenHosts is a comma-separated list of more hosts (host, or
	// host:port) the token may be sent to, besides the state repository's.
	EnvTokenHosts = "GEARSHIFT_GIT_TOKEN_HOSTS"
	// EnvGitHubServer is set by GitHub Actions (https://github.com, or a
	// GitHub Enterprise Server's URL).
	EnvGitHubServer = "GITHUB_SERVER_URL"
	// EnvGitHubAPI is set by GitHub Actions (https://api.github.com, or a
	// GitHub Enterprise Server's /api/v3 URL).
	EnvGitHubAPI = "GITHUB_API_URL"
)

// ErrAuth is matched (errors.Is) by every error caused by a remote refusing
// the credentials, or asking for some when none were given.
var ErrAuth = errors.New("authentication refused")

// Auth holds the token sent to git remotes over HTTPS. Its String and
// GoString methods mask the token so that no %v or %#v can print it.
type Auth struct {
	Token string
	// Hosts are the only hosts the token is sent to, each "host" (any
	// port) or "host:port": a URL written in the state repo (a framework's
	// releases, a unit's track.source) must not be able to collect the
	// CI's token. Other hosts are asked anonymously; with no Hosts the
	// token goes nowhere. Open adds the state repository's host (ForRepo
	// gives it to the other calls of a run). A token written in a URL's
	// userinfo is sent to that URL only, and, for the state repository's
	// URL, to the other repositories of exactly its host and port.
	Hosts []string

	// stateHost and stateToken are the state repository URL's host:port
	// and the token written in its userinfo, which ForRepo carries to the
	// other repositories of exactly that host:port (a release source
	// beside the state).
	stateHost, stateToken string
}

// AuthFromEnv reads the token from GEARSHIFT_GIT_TOKEN, else GITHUB_TOKEN.
// It may go to the hosts of GITHUB_SERVER_URL and GITHUB_API_URL (GitHub,
// whose token it is in Actions) and of GEARSHIFT_GIT_TOKEN_HOSTS; Open adds
// the state repository's. getenv is os.Getenv in production and a map
// lookup in tests.
func AuthFromEnv(getenv func(string) string) Auth {
	var a Auth
	if a.Token = strings.TrimSpace(getenv(EnvToken)); a.Token == "" {
		a.Token = strings.TrimSpace(getenv(EnvGitHubToken))
	}
	for _, name := range []string{EnvGitHubServer, EnvGitHubAPI} {
		if u, err := url.Parse(getenv(name)); err == nil && u.Host != "" && u.User == nil {
			a = a.withHost(u.Host)
		}
	}
	for _, h := range strings.Split(getenv(EnvTokenHosts), ",") {
		a = a.withHost(strings.TrimSpace(h))
	}
	return a
}

// ForRepo is a with the host of the state repository c was opened from
// added (a URL's, or a local repository's origin's): the auth for the other
// remotes of a run (release sources, the status branch). A nil c, or one
// that has no remote, adds nothing.
func (a Auth) ForRepo(c *Checkout) Auth {
	if c == nil || c.host == "" {
		return a
	}
	a = a.withHost(c.host)
	if c.remote != nil && c.remote.urlToken != "" {
		a.stateHost, a.stateToken = c.host, c.remote.urlToken
	}
	return a
}

// withHost returns a copy of a that may also send its token to host.
func (a Auth) withHost(host string) Auth {
	if host == "" || slices.ContainsFunc(a.Hosts, func(h string) bool { return strings.EqualFold(h, host) }) {
		return a
	}
	a.Hosts = append(slices.Clip(a.Hosts), host)
	return a
}

// For is a with its token only when the token may go to rawURL's host
// (sendsTo), else without credentials: for a repository URL that comes
// from the state (a gear's own repository).
func (a Auth) For(rawURL string) Auth {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || !a.sendsTo(u) {
		return Auth{}
	}
	return a
}

// sendsTo says whether the token may be sent to u's host: a Hosts entry
// names its host name (case-insensitively), and its port when it has one
// (the scheme's default port when u has none).
func (a Auth) sendsTo(u *url.URL) bool {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	for _, h := range a.Hosts {
		name, p, err := net.SplitHostPort(h)
		if err != nil {
			name, p = strings.Trim(h, "[]"), ""
		}
		if strings.EqualFold(name, u.Hostname()) && (p == "" || p == port) {
			return true
		}
	}
	return false
}

// String masks the token.
func (a Auth) String() string {
	if a.Token == "" {
		return "gitops.Auth{Token: <none>}"
	}
	return "gitops.Auth{Token: ***}"
}

// GoString masks the token for %#v.
func (a Auth) GoString() string { return a.String() }

// remote is a repository location ready for go-git: the URL without any
// credentials (so that neither .git/config nor an error message can hold
// them), the auth method to use, and the secrets to redact from errors.
type remote struct {
	url     string
	auth    transport.AuthMethod
	secrets []string
	// urlToken is the token written in the URL's userinfo, if any.
	urlToken string
	// withheld says why a token that exists was not sent: the URL is plain
	// HTTP to a host that is not on loopback, or the host is not one of
	// Auth.Hosts. Empty when the token is sent or there is none.
	withheld string
}

// newRemote takes credentials out of raw. A token in the URL's userinfo
// (https://x-access-token:TOKEN@host/..., or https://TOKEN@host/...) is
// preferred over a's, being the more specific; a's token goes only to
// a.Hosts. A token is only sent over HTTPS, or plain HTTP to a loopback
// address (local test servers). A URL with a query or a fragment is
// refused: git sends neither (it appends its own path to the URL), and
// whatever is in them must not be printed or stored.
func newRemote(raw string, a Auth) (*remote, error) {
	r := &remote{url: raw}
	if a.Token != "" {
		r.secrets = append(r.secrets, a.Token)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		// scp-like ssh (git@host:path) or a local path: no token applies.
		return r, nil
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("repository URL %s: a query or fragment is not supported: give a token in %s, not in the URL", RedactURL(raw), EnvToken)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		// ssh, git and file transports do not take a token; an ssh
		// username stays in the URL.
		return r, nil
	}
	token := a.Token
	if a.stateToken != "" {
		r.secrets = append(r.secrets, a.stateToken)
		if strings.EqualFold(u.Host, a.stateHost) {
			token = a.stateToken
		}
	}
	if token != "" && !a.sendsTo(u) {
		token = ""
		to := "no host"
		if len(a.Hosts) > 0 {
			to = strings.Join(a.Hosts, ", ")
		}
		r.withheld = fmt.Sprintf("the token is only sent to the state repository's host, GitHub's and those of %s (%s): %s is not one of them", EnvTokenHosts, to, u.Host)
	}
	if u.User != nil {
		name := u.User.Username()
		password, hasPassword := u.User.Password()
		r.secrets = append(r.secrets, name, password)
		switch {
		case hasPassword && password != "":
			token, r.withheld, r.urlToken = password, "", password
		case name != "":
			token, r.withheld, r.urlToken = name, "", name
		}
		u.User = nil
		r.url = u.String()
	}
	if token == "" {
		return r, nil
	}
	if scheme == "http" && !isLoopback(u.Hostname()) {
		r.withheld = "a token is never sent over plain http to a host that is not on loopback"
		return r, nil
	}
	r.auth = &githttp.BasicAuth{Username: tokenUsername, Password: token}
	return r, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isURL says whether a --repo argument names a remote rather than a local
// path: it has a scheme (https://, ssh://, file://, ...) or is scp-like
// (git@github.com:org/repo.git).
func isURL(arg string) bool {
	if i := strings.Index(arg, "://"); i > 0 && schemeRE.MatchString(arg[:i]) {
		return true
	}
	return scpLikeRE.MatchString(arg)
}

var (
	schemeRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)
	scpLikeRE = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]`)
	// userinfoRE finds credentials in URLs that may be embedded in any
	// message, whatever their scheme.
	userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s"']+@`)
	// queryRE finds the query and fragment of URLs embedded in any message:
	// a token may be written there (?access_token=...).
	queryRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^\s"'?#]*)[?#][^\s"']*`)
)

// RedactURL removes credentials from a URL, or from every URL in a message,
// so that it can be shown: the userinfo goes, and a query or fragment is
// replaced by "?***". It leaves text without such URLs unchanged.
func RedactURL(raw string) string {
	return queryRE.ReplaceAllString(userinfoRE.ReplaceAllString(raw, "${1}"), "${1}?***")
}

// redact removes secrets and URL credentials from s.
func redact(s string, secrets []string) string {
	s = RedactURL(s)
	for _, secret := range secrets {
		// A one or two letter "secret" (a username such as "x") would
		// mangle the message without protecting anything.
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}

// redactedError is an error whose message has been cleaned of secrets. It
// deliberately has no Unwrap, so that nothing can reach the original message;
// errors.Is still sees through it.
type redactedError struct {
	msg  string
	err  error
	kind error // ErrAuth or nil
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool {
	return (e.kind != nil && target == e.kind) || errors.Is(e.err, target)
}

// fail wraps err for the caller: "<what>: <err>" with secrets redacted, and
// a hint when the remote refused the credentials.
func (r *remote) fail(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var secrets []string
	if r != nil {
		secrets = r.secrets
	}
	var hint string
	var kind error
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) || errors.Is(err, ErrAuth) {
		kind = ErrAuth
		switch {
		case r != nil && r.withheld != "":
			hint = ": authentication refused (" + r.withheld + ")"
		case r != nil && r.auth == nil:
			hint = fmt.Sprintf(": authentication refused (no token given: set %s or %s)", EnvToken, EnvGitHubToken)
		default:
			hint = ": authentication refused (the token was refused or may not access this repository)"
		}
	}
	msg := fmt.Sprintf(format, args...) + hint + ": " + strings.TrimRight(strings.TrimSpace(err.Error()), ":")
	return &redactedError{msg: redact(msg, secrets), err: err, kind: kind}
}
