package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/proc"
	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// KindNotification is the kind of the reports made here.
const KindNotification = "notification"

// Report outcomes.
const (
	Sent    = "sent"
	Skipped = "skipped"
	Failed  = "failed"
)

// StatusSetter sets commit statuses (forge.GitHub).
type StatusSetter interface {
	SetCommitStatus(ctx context.Context, sha string, s forge.CommitStatus) error
}

// Sender sends an environment's notifications.
type Sender struct {
	// Getenv reads gearshift's own environment (the variables the state
	// names).
	Getenv func(string) string
	// Redactor learns every secret read, and cleans bodies and errors.
	Redactor *redact.Redactor
	// GitHub sets the commit statuses; nil without a token.
	GitHub StatusSetter
	// Client sends webhooks (nil: a client of its own). Its redirects are
	// never followed.
	Client *http.Client
	// Backoff is the wait before the first retry, doubled after each
	// (DefaultBackoff when zero).
	Backoff time.Duration
}

// DefaultBackoff is the wait before a notification's first retry.
const DefaultBackoff = 250 * time.Millisecond

// Send sends ev to each of notes whose on lists ev.Outcome (or, for a
// rollback's event, "rollback"), all at once, and reports each. A success
// is sent by webhooks only when the run changed something (a scheduled
// reconcile that found nothing to do says nothing); a commit status is set
// for every apply, being the commit's state, and never for a rollback.
func (s *Sender) Send(ctx context.Context, notes []state.Notification, ev Event) []apply.Report {
	reports := make([]apply.Report, len(notes))
	rollback := strings.HasPrefix(ev.Event, CommandRollback+".")
	var wg sync.WaitGroup
	for i, n := range notes {
		reports[i] = apply.Report{Kind: KindNotification, Name: fmt.Sprintf("%s#%d", n.Kind(), i)}
		on := n.On
		if len(on) == 0 {
			on = []string{OutcomeFailure}
		}
		switch {
		case !slices.Contains(on, ev.Outcome) && !(rollback && slices.Contains(on, CommandRollback)):
			reports[i].Outcome, reports[i].Detail = Skipped, "not sent on "+ev.Outcome
			continue
		case rollback && n.GitHubStatus != nil:
			// The commit status is the state commit's apply; a rollback
			// does not apply a commit.
			reports[i].Outcome, reports[i].Detail = Skipped, "a rollback sets no commit status"
			continue
		case ev.Outcome == OutcomeSuccess && !ev.Changed && n.GitHubStatus == nil:
			reports[i].Outcome, reports[i].Detail = Skipped, "nothing changed"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.send(ctx, n, ev, &reports[i])
		}()
	}
	wg.Wait()
	return reports
}

// attempt is one try: its error, and whether another try may succeed.
type attempt func(ctx context.Context) (retry bool, err error)

func (s *Sender) send(ctx context.Context, n state.Notification, ev Event, rep *apply.Report) {
	var try attempt
	var err error
	switch {
	case n.Webhook != nil:
		try, rep.Detail, err = s.webhook(n.Webhook, ev)
	case n.Slack != nil:
		try, rep.Detail, err = s.slack(n.Slack, ev)
	case n.GitHubStatus != nil:
		try, rep.Detail, err = s.commitStatus(n.GitHubStatus, ev)
	default:
		err = errors.New("no provider")
	}
	if err != nil {
		rep.Outcome, rep.Error = Failed, s.clean(err.Error())
		return
	}
	if try == nil {
		rep.Outcome = Skipped
		return
	}
	timeout := n.Timeout.Duration
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	wait := s.Backoff
	if wait <= 0 {
		wait = DefaultBackoff
	}
	for a := 1; ; a++ {
		rep.Attempts = a
		actx, cancel := context.WithTimeout(ctx, timeout)
		retry, err := try(actx)
		if err != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			retry, err = true, fmt.Errorf("no answer within %s", timeout)
		}
		cancel()
		if err == nil {
			rep.Outcome = Sent
			return
		}
		if !retry || a > n.Retries {
			rep.Outcome = Failed
			rep.Error = s.clean(err.Error())
			if a > 1 {
				rep.Error = fmt.Sprintf("after %d attempts: %s", a, rep.Error)
			}
			return
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			rep.Outcome, rep.Error = Failed, s.clean(err.Error())
			return
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (s *Sender) clean(msg string) string {
	if s.Redactor != nil {
		return s.Redactor.String(msg)
	}
	return msg
}

// secret reads the variable the state names: only one that the operator
// lists in GEARSHIFT_PASS_ENV, never gearshift's own tokens. Its value is
// added to the redactor.
func (s *Sender) secret(name string) (string, error) {
	if proc.Refused(name) {
		return "", fmt.Errorf("%s is one of gearshift's own tokens or settings: it is never sent to a notification", name)
	}
	listed := false
	for n := range strings.SplitSeq(s.Getenv(proc.PassEnv), ",") {
		if strings.TrimSpace(n) == name {
			listed = true
		}
	}
	if !listed {
		return "", fmt.Errorf("%s is not listed in %s: a notification reads only the variables the operator allows", name, proc.PassEnv)
	}
	v := strings.TrimSpace(s.Getenv(name))
	if v == "" {
		return "", fmt.Errorf("%s is not set", name)
	}
	s.Redactor.Add(v)
	s.Redactor.AddURL(v)
	return v, nil
}

func (s *Sender) client() *http.Client {
	c := &http.Client{}
	if s.Client != nil {
		*c = *s.Client
	}
	if s.Redactor != nil && c.Transport == nil {
		c.Transport = s.Redactor.Transport(nil)
	}
	// A redirect would carry the body, and the token, somewhere else.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// target checks where a webhook goes: http(s), and a secret (a token, or
// a URL that is itself one) only over https or to loopback.
func target(raw string, secret bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("the URL is not an http(s) URL")
	}
	if secret && u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("a secret is never sent over plain http to %s, which is not on loopback", u.Host)
	}
	return u, nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// shown is a URL as reports show it: scheme, host and path, or only the
// host when the URL is a secret.
func shown(u *url.URL, secret bool) string {
	if secret {
		return u.Scheme + "://" + u.Host + "/***"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// post is one POST of body to u; a 2xx answer is success, 408, 429 and
// 5xx are retried, a network error or a timeout too.
func (s *Sender) post(u *url.URL, body []byte, header http.Header) attempt {
	c := s.client()
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
		if err != nil {
			return false, errors.New("cannot make the request")
		}
		req.Header = header.Clone()
		resp, err := c.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				// Its message quotes the URL, which may be a secret.
				err = ue.Err
			}
			return true, err
		}
		defer resp.Body.Close()
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		switch code := resp.StatusCode; {
		case code >= 200 && code < 300:
			return false, nil
		case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
			return true, fmt.Errorf("HTTP %d: %s", code, strings.TrimSpace(string(snippet)))
		case code >= 300 && code < 400:
			return false, fmt.Errorf("HTTP %d: redirects are not followed", code)
		default:
			return false, fmt.Errorf("HTTP %d: %s", code, strings.TrimSpace(string(snippet)))
		}
	}
}

// webhook posts the event as JSON, with Authorization: Bearer from
// tokenEnv and an HMAC-SHA256 of the body from secretEnv.
func (s *Sender) webhook(w *state.Webhook, ev Event) (attempt, string, error) {
	raw, secretURL := w.URL, false
	if w.URLEnv != "" {
		v, err := s.secret(w.URLEnv)
		if err != nil {
			return nil, "", err
		}
		raw, secretURL = v, true
	}
	header := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"gearshift"},
		"X-Gearshift-Event": {ev.Event}, "X-Gearshift-Delivery": {ev.Run + "-" + ev.Environment}}
	var token, key string
	var err error
	if w.TokenEnv != "" {
		if token, err = s.secret(w.TokenEnv); err != nil {
			return nil, "", err
		}
		header.Set("Authorization", "Bearer "+token)
	}
	if w.SecretEnv != "" {
		if key, err = s.secret(w.SecretEnv); err != nil {
			return nil, "", err
		}
	}
	u, err := target(raw, secretURL || token != "")
	if err != nil {
		return nil, "", err
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, "", err
	}
	// Redacted before it is signed, so the signature is of what is sent.
	body = s.Redactor.Bytes(body)
	if key != "" {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(body)
		header.Set("X-Gearshift-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	return s.post(u, body, header), shown(u, secretURL), nil
}

// slack posts {"text": ...} to an incoming webhook whose URL is a secret.
func (s *Sender) slack(sl *state.Slack, ev Event) (attempt, string, error) {
	raw, err := s.secret(sl.URLEnv)
	if err != nil {
		return nil, "", err
	}
	u, err := target(raw, true)
	if err != nil {
		return nil, "", err
	}
	body, err := json.Marshal(map[string]string{"text": SlackText(ev)})
	if err != nil {
		return nil, "", err
	}
	header := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"gearshift"}}
	return s.post(u, s.Redactor.Bytes(body), header), shown(u, true), nil
}

// SlackText is the message of a Slack-compatible webhook (Slack,
// Mattermost, Rocket.Chat read "text"): the headline, a line per unit and
// the log's link, with &, < and > escaped as Slack requires, so text from
// the state cannot mention anyone or make a link.
func SlackText(ev Event) string {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	icon := map[string]string{OutcomeSuccess: ":white_check_mark:", OutcomeFailure: ":x:", OutcomeHeld: ":warning:"}[ev.Outcome]
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", icon, esc.Replace(ev.Headline()))
	for _, u := range ev.Units {
		fmt.Fprintf(&b, "\n• %s", esc.Replace(unitLine(u)))
	}
	for _, e := range ev.Errors {
		fmt.Fprintf(&b, "\n• error: %s", esc.Replace(firstLine(e)))
	}
	if ev.LogURL != "" {
		fmt.Fprintf(&b, "\n<%s|log of run %s>", ev.LogURL, esc.Replace(ev.Run))
	}
	return b.String()
}

// commitStatus sets context (gearshift/<env> by default) on the state
// commit: success, failure, or error for a run a policy held.
func (s *Sender) commitStatus(g *state.GitHubStatus, ev Event) (attempt, string, error) {
	if s.GitHub == nil {
		return nil, "", errors.New("no GitHub token and repository (GITHUB_TOKEN, GITHUB_REPOSITORY): the commit status cannot be set")
	}
	if ev.Commit == "" {
		return nil, "", errors.New("the state repository is not a git checkout: there is no commit to set a status on")
	}
	name := g.Context
	if name == "" {
		name = "gearshift/" + ev.Environment
	}
	st := map[string]string{OutcomeSuccess: forge.StateSuccess, OutcomeFailure: forge.StateFailure, OutcomeHeld: forge.StateError}[ev.Outcome]
	cs := forge.CommitStatus{State: st, Context: name, Description: forge.TruncateDescription(ev.Summary), TargetURL: ev.LogURL}
	try := func(ctx context.Context) (bool, error) {
		err := s.GitHub.SetCommitStatus(ctx, ev.Commit, cs)
		// A refused token and a refused request are not retried.
		return err != nil && !errors.Is(err, forge.ErrUnauthorized) && !errors.Is(err, forge.ErrForbidden) && !strings.Contains(err.Error(), " 422 "), err
	}
	return try, name + " on " + ev.Commit[:min(12, len(ev.Commit))], nil
}
