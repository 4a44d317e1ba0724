package artifact

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	getter "github.com/hashicorp/go-getter/v2"
)

// redacted replaces every credential in a source shown to a user.
const redacted = "redacted"

// forcedRe matches go-getter's "getter::url" syntax.
var forcedRe = regexp.MustCompile(`^([A-Za-z0-9]+)::(.+)$`)

// source is a parsed artifact source: what go-getter is given, what a user may
// see, and the secret strings that must be masked in any error text.
type source struct {
	getterSrc string
	display   string
	secrets   []string
}

// parseSource checks that src names one of the getters gearshift means to use
// and prepares it for go-getter, adding the checksum when one is declared.
// Sources must be explicit URLs (no go-getter shorthand such as
// "github.com/org/repo"), so that what the state repo says is what is fetched.
func parseSource(src, sum string, allowLocal bool) (*source, error) {
	s := &source{display: maskSource(src)}
	raw := strings.TrimSpace(src)
	if raw == "" {
		return s, errors.New("empty source")
	}
	forced := ""
	if m := forcedRe.FindStringSubmatch(raw); m != nil {
		forced, raw = strings.ToLower(m[1]), m[2]
	}
	if forced == "" && filepath.IsAbs(raw) {
		if !allowLocal {
			return s, fmt.Errorf("%w: local path", ErrLocalSource)
		}
		raw = (&url.URL{Scheme: "file", Path: raw}).String()
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The parse error quotes the source, secrets included: do not wrap it.
		return s, errors.New("source is not a valid URL")
	}
	if u.Scheme == "" {
		return s, errors.New("source must be a URL with a scheme (https://, ...)")
	}
	s.secrets = urlSecrets(u)
	scheme := strings.ToLower(u.Scheme)
	if scheme == "file" && !allowLocal {
		return s, fmt.Errorf("%w: %s", ErrLocalSource, "file://")
	}
	switch forced {
	case "":
		if scheme != "http" && scheme != "https" && scheme != "file" {
			return s, fmt.Errorf("unsupported source scheme %q", scheme)
		}
	case "git":
		// go-getter's git getter runs git with gearshift's whole
		// environment (tokens included) and whatever credential helpers
		// the machine's git configuration names: artifacts come over
		// HTTP(S), where what is sent is gearshift's own choice.
		return s, errors.New("git sources (git::) are not supported: name the release archive's https:// URL")
	default:
		return s, fmt.Errorf("unsupported getter %q", forced)
	}
	if _, sub := getter.SourceDirSubdir(raw); sub != "" {
		return s, errors.New("subdirectory (//) sources are not supported: name the archive file itself")
	}
	q := u.Query()
	for _, k := range []string{"checksum", "archive", "filename"} {
		if q.Has(k) {
			return s, fmt.Errorf("source query parameter %q is not allowed: pass the checksum as its own argument", k)
		}
	}
	if sum != "" {
		q.Set("checksum", "sha256:"+sum)
		u.RawQuery = q.Encode()
	}
	s.getterSrc = u.String()
	if forced != "" {
		s.getterSrc = forced + "::" + s.getterSrc
	}
	return s, nil
}

// secretParam reports whether a query parameter name looks like it carries a
// credential (token=, access_token=, X-Amz-Signature=, sshkey=, ...).
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"token", "secret", "password", "passwd", "signature", "credential", "key", "auth", "sig"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// urlSecrets lists the credentials in u in every spelling they may take in an
// error message from net/http, git or go-getter.
func urlSecrets(u *url.URL) []string {
	var vals []string
	if u.User != nil {
		scheme := strings.ToLower(u.Scheme)
		// "git@host" for ssh is a login name, not a secret; for HTTP a
		// user name is often the token itself.
		if name := u.User.Username(); name != "" && scheme != "ssh" && scheme != "git" {
			vals = append(vals, name)
		}
		if p, ok := u.User.Password(); ok && p != "" {
			vals = append(vals, p)
		}
	}
	for _, part := range strings.FieldsFunc(u.RawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if !secretParam(k) || v == "" {
			continue
		}
		vals = append(vals, v)
		if dv, err := url.QueryUnescape(v); err == nil {
			vals = append(vals, dv)
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, v := range vals {
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if form != "" && !seen[form] {
				seen[form] = true
				out = append(out, form)
			}
		}
	}
	// Longest first, so that a secret containing another is masked whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

var (
	userinfoRe = regexp.MustCompile(`(://)[^/?#@]*@`)
	paramRe    = regexp.MustCompile(`([?&;])([^=&;#]*)=([^&;#]*)`)
)

// maskSource returns src fit to be shown: the userinfo of an URL and the
// values of secret-looking query parameters are replaced. It works on the
// text, so it also masks sources that do not parse.
func maskSource(src string) string {
	out := userinfoRe.ReplaceAllString(src, "${1}"+redacted+"@")
	return paramRe.ReplaceAllStringFunc(out, func(m string) string {
		sub := paramRe.FindStringSubmatch(m)
		name := sub[2]
		if dn, err := url.QueryUnescape(name); err == nil {
			name = dn
		}
		if !secretParam(name) {
			return m
		}
		return sub[1] + sub[2] + "=" + redacted
	})
}

// maskedError hides secrets that a library below quoted in its message (a
// net/http error quotes the whole URL, query and all) while keeping the error
// chain intact for errors.Is and errors.As.
type maskedError struct {
	err     error
	secrets []string
}

func (e *maskedError) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, redacted)
	}
	return msg
}

func (e *maskedError) Unwrap() error { return e.err }

// mask wraps err so that its text never shows the secrets of s.
func (s *source) mask(err error) error {
	if err == nil || len(s.secrets) == 0 {
		return err
	}
	return &maskedError{err: err, secrets: s.secrets}
}
