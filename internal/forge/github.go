package forge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v92/github"
)

// maxPages bounds every paginated listing, so that a forge that keeps
// answering with a next page cannot hold a run forever.
const maxPages = 100

// GitHub is the Forge of github.com and GitHub Enterprise Server.
type GitHub struct {
	owner, repo string
	client      *github.Client
	token       string // only for scrubbing errors; never formatted
	timeout     time.Duration
	hint        string
	log         *slog.Logger

	// login is who gearshift is on GitHub (see Identity), learnt once.
	loginMu       sync.Mutex
	login         string
	fallbackLogin string
}

var _ Forge = (*GitHub)(nil)

// Option configures NewGitHub.
type Option func(*options)

type options struct {
	login      string
	fallback   string
	baseURL    string
	timeout    time.Duration
	hint       string
	log        *slog.Logger
	httpClient *http.Client
}

func defaults() options {
	return options{
		timeout: 30 * time.Second,
		log:     slog.New(slog.DiscardHandler),
	}
}

// WithBaseURL points the client at a GitHub Enterprise Server (for example
// "https://ghe.example.com/api/v3/", the GITHUB_API_URL of its runners) or
// at a test server. The URL must not carry credentials.
func WithBaseURL(u string) Option { return func(o *options) { o.baseURL = u } }

// WithTimeout bounds each request; the default is 30 seconds. The caller's
// context may end a request sooner.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithTruncationHint is appended to the note of a body that had to be
// truncated, to say where the full text is (a workflow run URL, say).
func WithTruncationHint(hint string) Option { return func(o *options) { o.hint = hint } }

// WithLogger receives one debug line per change made on the forge. By
// default nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithLogin names gearshift's own identity on GitHub: the login of the
// token's user, or of a GitHub App's bot ("<slug>[bot]"). Only comments
// written by it are ever edited. Without it the identity is asked of
// GitHub (GET /user), see Identity.
func WithLogin(login string) Option { return func(o *options) { o.login = login } }

// WithFallbackLogin is the identity to assume when GitHub refuses to say
// (GET /user answers 403 to a GitHub App installation token): in GitHub
// Actions, GITHUB_TOKEN belongs to "github-actions[bot]".
func WithFallbackLogin(login string) Option { return func(o *options) { o.fallback = login } }

// WithHTTPClient replaces the HTTP client (its transport, say, for a proxy).
// Its redirect policy is replaced by one that stays on the same host.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// NewGitHub returns a Forge for the repository owner/repo authenticated by
// token.
func NewGitHub(owner, repo, token string, opts ...Option) (*GitHub, error) {
	if _, _, err := ParseRepository(owner + "/" + repo); err != nil {
		return nil, err
	}
	if token == "" {
		return nil, errors.New("no github token given")
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return nil, errors.New("github token contains white space")
	}
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("github request timeout must be positive, got %v", o.timeout)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	hc := &http.Client{}
	if o.httpClient != nil {
		c := *o.httpClient
		hc = &c
	}
	hc.CheckRedirect = sameHostRedirect
	copts := []github.ClientOptionsFunc{
		github.WithHTTPClient(hc),
		github.WithAuthToken(token),
		github.WithUserAgent("gearshift"),
	}
	if o.baseURL != "" {
		u, err := url.Parse(o.baseURL)
		if err != nil {
			// The parse error quotes the URL, which may hold a password.
			return nil, errors.New("invalid github base url: want http(s)://host[/path]")
		}
		if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("invalid github base url %q: want http(s)://host[/path]", u.Redacted())
		}
		if u.User != nil {
			return nil, fmt.Errorf("github base url %q must not carry credentials: pass the token instead", u.Redacted())
		}
		copts = append(copts, github.WithEnterpriseURLs(o.baseURL, o.baseURL))
	}
	client, err := github.NewClient(copts...)
	if err != nil {
		return nil, scrub(fmt.Errorf("github client: %w", err), token)
	}
	return &GitHub{owner: owner, repo: repo, client: client, token: token,
		timeout: o.timeout, hint: o.hint, log: o.log,
		login: strings.TrimSpace(o.login), fallbackLogin: strings.TrimSpace(o.fallback)}, nil
}

// sameHostRedirect refuses to follow a redirect to another host: the token
// is set on every request by go-github's transport, so following one would
// hand it to whoever the redirect names.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host || (via[0].URL.Scheme == "https" && req.URL.Scheme != "https") {
		return fmt.Errorf("refusing redirect from %s to %s: the token must stay with the forge", via[0].URL.Host, req.URL.Host)
	}
	return nil
}

// EnsurePullRequest implements Forge. The PR found for the branch is also
// moved to pr.Base if it targets another base, so one branch has one PR.
func (g *GitHub) EnsurePullRequest(ctx context.Context, pr PullRequest) (PullRequest, bool, error) {
	switch {
	case pr.Branch == "" || pr.Base == "":
		return PullRequest{}, false, errors.New("pull request needs a branch and a base")
	case pr.Branch == pr.Base:
		return PullRequest{}, false, fmt.Errorf("pull request from %q into itself", pr.Branch)
	case strings.TrimSpace(pr.Title) == "":
		return PullRequest{}, false, fmt.Errorf("pull request from %q needs a title", pr.Branch)
	}
	body := Truncate(pr.Body, MaxBodyLength, g.hint)
	pr.Title = TruncateTitle(pr.Title)

	existing, err := g.findOpenPullRequest(ctx, pr.Branch, pr.Base)
	if err != nil {
		return PullRequest{}, false, err
	}
	if existing == nil {
		var created *github.PullRequest
		err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
			var resp *github.Response
			var err error
			created, resp, err = g.client.PullRequests.Create(ctx, g.owner, g.repo, github.CreatePullRequest{
				Title: github.Ptr(pr.Title),
				Head:  pr.Branch,
				Base:  pr.Base,
				Body:  github.Ptr(body),
			})
			return resp, err
		})
		if err != nil {
			return PullRequest{}, false, fmt.Errorf("open pull request %s -> %s in %s/%s: %w", pr.Branch, pr.Base, g.owner, g.repo, err)
		}
		g.log.Debug("opened pull request", "repo", g.owner+"/"+g.repo, "number", created.GetNumber(), "branch", pr.Branch)
		return fromGitHub(created), true, nil
	}

	if existing.GetTitle() == pr.Title && existing.GetBody() == body && existing.GetBase().GetRef() == pr.Base {
		return fromGitHub(existing), false, nil
	}
	edit := &github.PullRequest{Title: github.Ptr(pr.Title), Body: github.Ptr(body)}
	if existing.GetBase().GetRef() != pr.Base {
		edit.Base = &github.PullRequestBranch{Ref: github.Ptr(pr.Base)}
	}
	var updated *github.PullRequest
	err = g.call(ctx, func(ctx context.Context) (*github.Response, error) {
		var resp *github.Response
		var err error
		updated, resp, err = g.client.PullRequests.Edit(ctx, g.owner, g.repo, existing.GetNumber(), edit)
		return resp, err
	})
	if err != nil {
		return PullRequest{}, false, fmt.Errorf("update pull request #%d in %s/%s: %w", existing.GetNumber(), g.owner, g.repo, err)
	}
	g.log.Debug("updated pull request", "repo", g.owner+"/"+g.repo, "number", updated.GetNumber(), "branch", pr.Branch)
	return fromGitHub(updated), false, nil
}

// findOpenPullRequest returns the open PR from branch (preferring one into
// base), or nil. The head filter is checked again here because GitHub
// silently ignores a malformed one and lists every open PR.
func (g *GitHub) findOpenPullRequest(ctx context.Context, branch, base string) (*github.PullRequest, error) {
	opts := &github.PullRequestListOptions{
		State:       "open",
		Head:        g.owner + ":" + branch,
		ListOptions: github.ListOptions{PerPage: 100},
	}
	var found *github.PullRequest
	for page := 0; page < maxPages; page++ {
		var prs []*github.PullRequest
		var resp *github.Response
		err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
			var err error
			prs, resp, err = g.client.PullRequests.List(ctx, g.owner, g.repo, opts)
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("list open pull requests from %s in %s/%s: %w", branch, g.owner, g.repo, err)
		}
		for _, p := range prs {
			if !g.fromBranch(p, branch) {
				continue
			}
			if p.GetBase().GetRef() == base {
				return p, nil
			}
			if found == nil {
				found = p
			}
		}
		if resp.NextPage == 0 {
			return found, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, fmt.Errorf("list open pull requests from %s in %s/%s: more than %d pages", branch, g.owner, g.repo, maxPages)
}

// OpenPullRequests implements Forge.
func (g *GitHub) OpenPullRequests(ctx context.Context) ([]PullRequest, error) {
	opts := &github.PullRequestListOptions{State: "open", ListOptions: github.ListOptions{PerPage: 100}}
	var out []PullRequest
	for page := 0; page < maxPages; page++ {
		var prs []*github.PullRequest
		var resp *github.Response
		err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
			var err error
			prs, resp, err = g.client.PullRequests.List(ctx, g.owner, g.repo, opts)
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("list open pull requests in %s/%s: %w", g.owner, g.repo, err)
		}
		for _, p := range prs {
			if g.fromBranch(p, p.GetHead().GetRef()) {
				out = append(out, fromGitHub(p))
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, fmt.Errorf("list open pull requests in %s/%s: more than %d pages", g.owner, g.repo, maxPages)
}

// ClosePullRequest implements Forge.
func (g *GitHub) ClosePullRequest(ctx context.Context, number int, comment string) error {
	if comment != "" {
		err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
			_, resp, err := g.client.Issues.CreateComment(ctx, g.owner, g.repo, number, github.IssueCommentRequest{Body: Truncate(comment, MaxBodyLength, g.hint)})
			return resp, err
		})
		if err != nil {
			return fmt.Errorf("comment on pull request #%d in %s/%s: %w", number, g.owner, g.repo, err)
		}
	}
	err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
		_, resp, err := g.client.PullRequests.Edit(ctx, g.owner, g.repo, number, &github.PullRequest{State: github.Ptr("closed")})
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("close pull request #%d in %s/%s: %w", number, g.owner, g.repo, err)
	}
	g.log.Debug("closed pull request", "repo", g.owner+"/"+g.repo, "number", number)
	return nil
}

// fromBranch reports whether p's head is branch of this repository's owner
// (a PR whose head repository was deleted has none, and still counts).
func (g *GitHub) fromBranch(p *github.PullRequest, branch string) bool {
	if p.GetHead().GetRef() != branch {
		return false
	}
	repo := p.GetHead().GetRepo()
	return repo == nil || strings.EqualFold(repo.GetOwner().GetLogin(), g.owner)
}

// ErrUnknownIdentity is wrapped when gearshift cannot learn which GitHub
// user or app it is, so it cannot tell its own comments from others'.
var ErrUnknownIdentity = errors.New("cannot tell which comments are gearshift's")

// Identity is the login gearshift writes as, learnt once: WithLogin's,
// else the token's user (GET /user), else, when GitHub refuses to say
// (403: a GitHub App installation token, GITHUB_TOKEN in Actions
// included), WithFallbackLogin's. Without any of them it fails with
// ErrUnknownIdentity rather than guess, because a wrong guess would edit
// someone else's comment.
func (g *GitHub) Identity(ctx context.Context) (string, error) {
	g.loginMu.Lock()
	defer g.loginMu.Unlock()
	if g.login != "" {
		return g.login, nil
	}
	var user *github.User
	var resp *github.Response
	err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
		var err error
		user, resp, err = g.client.Users.Get(ctx, "")
		return resp, err
	})
	switch {
	case err == nil && user.GetLogin() != "":
		g.login = user.GetLogin()
	case resp != nil && resp.StatusCode == http.StatusForbidden && g.fallbackLogin != "":
		g.login = g.fallbackLogin
	case resp != nil && resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("%w: GitHub does not say who this token is (GET /user answered 403, as it does for a GitHub App installation token): name the app's bot login (<slug>[bot]) in GEARSHIFT_BOT_LOGIN", ErrUnknownIdentity)
	case err != nil:
		return "", fmt.Errorf("who is this token (GET /user): %w", err)
	default:
		return "", fmt.Errorf("%w: GET /user answered no login", ErrUnknownIdentity)
	}
	g.log.Debug("github identity", "login", g.login)
	return g.login, nil
}

// UpsertComment implements Forge. The marker (see MarkerComment) is the
// first line of the comment; only a comment starting with it and written by
// gearshift's own identity (see Identity) is taken as ours, so a reply
// quoting it, or a comment someone else wrote to look like ours, is left
// alone. If a race left several, the oldest is kept up to date.
func (g *GitHub) UpsertComment(ctx context.Context, number int, marker, body string) error {
	if number <= 0 {
		return fmt.Errorf("invalid issue number %d", number)
	}
	head, err := MarkerComment(marker)
	if err != nil {
		return err
	}
	full := head + "\n" + Truncate(body, MaxBodyLength-len(head)-1, g.hint)

	login, err := g.Identity(ctx)
	if err != nil {
		return fmt.Errorf("comment on #%d in %s/%s: %w", number, g.owner, g.repo, err)
	}
	existing, err := g.findComment(ctx, number, head, login)
	if err != nil {
		return err
	}
	if existing == nil {
		var c *github.IssueComment
		err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
			var resp *github.Response
			var err error
			c, resp, err = g.client.Issues.CreateComment(ctx, g.owner, g.repo, number, github.IssueCommentRequest{Body: full})
			return resp, err
		})
		if err != nil {
			return fmt.Errorf("comment on #%d in %s/%s: %w", number, g.owner, g.repo, err)
		}
		g.log.Debug("created comment", "repo", g.owner+"/"+g.repo, "number", number, "comment", c.GetID(), "marker", marker)
		return nil
	}
	if existing.GetBody() == full {
		return nil
	}
	err = g.call(ctx, func(ctx context.Context) (*github.Response, error) {
		_, resp, err := g.client.Issues.UpdateComment(ctx, g.owner, g.repo, existing.GetID(), github.IssueCommentRequest{Body: full})
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("edit comment %d on #%d in %s/%s: %w", existing.GetID(), number, g.owner, g.repo, err)
	}
	g.log.Debug("edited comment", "repo", g.owner+"/"+g.repo, "number", number, "comment", existing.GetID(), "marker", marker)
	return nil
}

// findComment returns the oldest comment on issue number written by login
// whose body starts with head, or nil, reading every page.
func (g *GitHub) findComment(ctx context.Context, number int, head, login string) (*github.IssueComment, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < maxPages; page++ {
		var comments []*github.IssueComment
		var resp *github.Response
		err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
			var err error
			comments, resp, err = g.client.Issues.ListComments(ctx, g.owner, g.repo, number, opts)
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("list comments on #%d in %s/%s: %w", number, g.owner, g.repo, err)
		}
		for _, c := range comments {
			if !strings.EqualFold(c.GetUser().GetLogin(), login) {
				continue
			}
			if b := c.GetBody(); b == head || strings.HasPrefix(b, head+"\n") || strings.HasPrefix(b, head+"\r\n") {
				return c, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, fmt.Errorf("list comments on #%d in %s/%s: more than %d pages", number, g.owner, g.repo, maxPages)
}

// call runs one request under the per-request timeout and turns its error
// into one a user can act on, without the token.
func (g *GitHub) call(ctx context.Context, do func(context.Context) (*github.Response, error)) error {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	resp, err := do(ctx)
	if err == nil {
		return nil
	}
	return scrub(explain(resp, err), g.token)
}

// ErrUnauthorized is wrapped by errors caused by a token GitHub refused.
var ErrUnauthorized = errors.New("github refused the token (HTTP 401): check that it is set, valid and not expired")

// ErrForbidden is wrapped by errors caused by a token without the
// permission needed (contents, pull-requests and issues: write).
var ErrForbidden = errors.New("github denied the request (HTTP 403): the token lacks a permission (pull-requests: write, issues: write) or the run is from a fork")

func explain(resp *github.Response, err error) error {
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		return fmt.Errorf("github rate limit exhausted until %s: %w", rl.Rate.Reset.Format(time.RFC3339), err)
	case errors.As(err, &abuse):
		return fmt.Errorf("github secondary rate limit, retry after %v: %w", abuse.GetRetryAfter(), err)
	case resp == nil:
		return err
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("github answered 404: the repository or issue does not exist, or the token cannot see it: %w", err)
	}
	return err
}

// scrub returns err with every occurrence of token replaced, and without
// the wrapped chain (which still holds the token) when there was one.
func scrub(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "***"))
}

func fromGitHub(p *github.PullRequest) PullRequest {
	return PullRequest{
		Number: p.GetNumber(),
		URL:    p.GetHTMLURL(),
		Branch: p.GetHead().GetRef(),
		Base:   p.GetBase().GetRef(),
		Title:  p.GetTitle(),
		Body:   p.GetBody(),
	}
}
