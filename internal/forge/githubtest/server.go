// Package githubtest is the one fake of this project: an in-process HTTP
// server that answers the GitHub REST endpoints gearshift uses the way
// GitHub does, checks every request as strictly as GitHub would, and
// records its state so tests can assert on pull requests, comments and the
// requests made.
//
// It serves under /api/v3/, as GitHub Enterprise Server does, so a client
// configured with forge.WithBaseURL(s.URL) exercises the Enterprise path.
// It never records the Authorization header, so a test log cannot leak the
// token either.
//
// Behaviour reproduced from GitHub, checked against its published OpenAPI
// description (github/rest-api-description, api.github.com.2026-03-10.yaml:
// pulls/create, pulls/update, pulls/list, issues/create-comment,
// issues/update-comment, issues/list-comments, users/get-authenticated)
// and its documented behaviour (deployments, deployment and commit
// statuses and releases are described in deployments.go):
//
//   - 400 for an X-GitHub-Api-Version other than the supported ones
//     (2022-11-28, 2026-03-10; none means 2022-11-28);
//   - 401 "Bad credentials" for a wrong token (Bearer or token scheme);
//   - owner and repo are matched case-insensitively ("The name is not case
//     sensitive"), and answers spell them as the repository does;
//   - 415 for a body that is not declared as JSON; 400 "Problems parsing
//     JSON" for a body that is not one JSON object, or has anything after
//     it; keys are matched case-sensitively and unknown keys are ignored,
//     so {"Title": "x"} is a request without a title; a known key of the
//     wrong type is 422 "Invalid request";
//   - 422 "Validation Failed" for a missing required field (pulls/create
//     requires head and base, and title unless an issue is converted,
//     which the fake does not model), a body over 65,536 characters, a
//     title over 256, a head naming no branch or equal to the base, a
//     second open pull request with the same head and base, and a base
//     change on a closed pull request;
//   - GET /user answers the token's user, and 403 "Resource not accessible
//     by integration" for a GitHub App installation token (the endpoint is
//     not enabled for GitHub Apps; GITHUB_TOKEN in Actions is one);
//   - a comment is edited only by its author (403 otherwise). GitHub also
//     lets a repository's maintainers edit others' comments; the fake is
//     stricter, because gearshift must never edit a comment it did not
//     write;
//   - a head filter without "owner:" is silently ignored; comments are
//     listed oldest first, 30 per page by default and at most 100, with
//     RFC 5988 Link headers.
//
// Each token the server accepts stands for one identity (New's token is
// Login's, AddUser and AddAppToken add others), and a comment is authored
// by the identity whose token created it. Branches are not modelled: any
// head and base are accepted. An unknown route answers 404 and fails the
// test.
package githubtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// MaxBodyLength is GitHub's limit on a comment or pull request body, in
// characters.
const MaxBodyLength = 65536

// PullRequest is a pull request held by the server.
type PullRequest struct {
	Number int
	State  string // "open" or "closed"
	Head   string // branch name
	Base   string
	Title  string
	Body   string
}

// Comment is an issue or pull request comment held by the server.
type Comment struct {
	ID     int64
	Issue  int
	Body   string
	Author string
}

// Request is one request the server answered, without its headers.
type Request struct {
	Method string
	Path   string // without the /api/v3 prefix
	Query  string
	Status int
}

// Server is a fake GitHub for one repository.
type Server struct {
	// URL is the API base URL to give the client under test.
	URL string
	// Login is the user New's token belongs to. Set it before the first
	// request to name that user otherwise.
	Login string

	t           testing.TB
	owner, repo string
	token       string
	srv         *httptest.Server

	mu       sync.Mutex
	tokens   map[string]identity // other tokens than New's
	prs      []PullRequest
	issues   map[int]bool // issue numbers that exist (PRs are issues too)
	comments []Comment
	next     int   // next issue or PR number
	nextID   int64 // next comment id
	requests []Request

	// deployments.go
	deployments []*Deployment
	statuses    []CommitStatus
	releases    []Release
	// TagExists, when set, says whether a tag exists in the repository
	// (the git server's): a release of a tag it denies fails the test.
	TagExists func(tag string) bool
}

// New starts a fake GitHub holding the empty repository owner/repo that
// accepts token, and stops it when the test ends.
func New(t testing.TB, owner, repo, token string) *Server {
	t.Helper()
	s := &Server{
		Login:  "gearshift-bot",
		t:      t,
		owner:  owner,
		repo:   repo,
		token:  token,
		tokens: map[string]identity{},
		issues: map[int]bool{},
		next:   1,
		nextID: 1000,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/api/v3/"
	t.Cleanup(s.srv.Close)
	return s
}

// identity is who a token authenticates as.
type identity struct {
	login string
	// app is a GitHub App installation token: GET /user refuses it.
	app bool
	// without are the permissions the token lacks (AddAppTokenWithout).
	without []string
}

// AddUser makes the server accept token as the personal token of login.
func (s *Server) AddUser(token, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = identity{login: login}
}

// AddAppToken makes the server accept token as a GitHub App installation
// token whose bot is login ("<slug>[bot]"; GITHUB_TOKEN in Actions is
// "github-actions[bot]"): GET /user refuses it, as GitHub does.
func (s *Server) AddAppToken(token, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = identity{login: login, app: true}
}

// AddIssue creates an issue and returns its number, for comment tests that
// need no pull request.
func (s *Server) AddIssue() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.next
	s.next++
	s.issues[n] = true
	return n
}

// AddComment adds a comment on issue number as if author had written it,
// to seed a conversation.
func (s *Server) AddComment(number int, author, body string) Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Comment{ID: s.nextID, Issue: number, Body: body, Author: author}
	s.nextID++
	s.comments = append(s.comments, c)
	return c
}

// PullRequests returns every pull request, in creation order.
func (s *Server) PullRequests() []PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.prs)
}

// Comments returns the comments on issue number, oldest first.
func (s *Server) Comments(number int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.comments {
		if c.Issue == number {
			out = append(out, c)
		}
	}
	return out
}

// Requests returns the log of requests answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

var (
	userRE         = regexp.MustCompile(`^/user$`)
	pullsRE        = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/pulls$`)
	pullRE         = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/pulls/([0-9]+)$`)
	issueCommentRE = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/issues/([0-9]+)/comments$`)
	commentRE      = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/issues/comments/([0-9]+)$`)
)

type route struct {
	re     *regexp.Regexp
	method string
	handle func(s *Server, w *recorder, r *http.Request, who identity, id int64)
}

var routes = []route{
	{userRE, http.MethodGet, (*Server).getUser},
	{pullsRE, http.MethodGet, (*Server).listPulls},
	{pullsRE, http.MethodPost, (*Server).createPull},
	{pullRE, http.MethodPatch, (*Server).editPull},
	{issueCommentRE, http.MethodGet, (*Server).listComments},
	{issueCommentRE, http.MethodPost, (*Server).createComment},
	{commentRE, http.MethodPatch, (*Server).editComment},
}

// recorder remembers the status written, for the request log.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	w := &recorder{ResponseWriter: rw, status: http.StatusOK}
	path, ok := strings.CutPrefix(r.URL.Path, "/api/v3")
	defer func() {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: path, Query: r.URL.RawQuery, Status: w.status})
		s.mu.Unlock()
	}()
	if !ok {
		s.unknown(w, r)
		return
	}
	for _, rt := range routes {
		m := rt.re.FindStringSubmatch(path)
		if m == nil || r.Method != rt.method {
			continue
		}
		if v := r.Header.Get("X-GitHub-Api-Version"); v != "" && !slices.Contains(APIVersions, v) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("API version %s is not supported.", v), nil)
			return
		}
		who, ok := s.authorized(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "Bad credentials", nil)
			return
		}
		if len(m) > 2 && (!strings.EqualFold(m[1], s.owner) || !strings.EqualFold(m[2], s.repo)) {
			writeError(w, http.StatusNotFound, "Not Found", nil)
			return
		}
		var id int64
		if len(m) > 3 {
			id, _ = strconv.ParseInt(m[3], 10, 64)
		}
		rt.handle(s, w, r, who, id)
		return
	}
	s.unknown(w, r)
}

func (s *Server) unknown(w http.ResponseWriter, r *http.Request) {
	s.t.Errorf("githubtest: unexpected request %s %s", r.Method, r.URL.Path)
	writeError(w, http.StatusNotFound, "Not Found", nil)
}

// APIVersions are the values of X-GitHub-Api-Version GitHub accepts (the
// versions rest-api-description publishes a description of).
var APIVersions = []string{"2022-11-28", "2026-03-10"}

// MaxTitleLength is the longest title GitHub accepts for a pull request
// or an issue, in characters.
const MaxTitleLength = 256

func (s *Server) authorized(r *http.Request) (identity, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "token")) || tok == "" {
		return identity{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok == s.token {
		return identity{login: s.Login}, true
	}
	who, ok := s.tokens[tok]
	return who, ok
}

// getUser is GET /user: the token's user, refused to an installation token.
func (s *Server) getUser(w *recorder, r *http.Request, who identity, _ int64) {
	if who.app {
		writeError(w, http.StatusForbidden, "Resource not accessible by integration", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": who.login, "type": "User", "user_view_type": "public"})
}

func (s *Server) listPulls(w *recorder, r *http.Request, _ identity, _ int64) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	headOwner, head, headOK := strings.Cut(q.Get("head"), ":")
	base := q.Get("base")
	s.mu.Lock()
	var out []map[string]any
	for i := len(s.prs) - 1; i >= 0; i-- { // newest first, as GitHub sorts by default
		p := s.prs[i]
		if state != "all" && p.State != state ||
			headOK && (headOwner != s.owner || head != p.Head) ||
			base != "" && base != p.Base {
			continue
		}
		out = append(out, s.pullJSON(r, p))
	}
	s.mu.Unlock()
	page, perPage, ok := pagination(w, q)
	if !ok {
		return
	}
	s.writePage(w, r, out, page, perPage)
}

func (s *Server) createPull(w *recorder, r *http.Request, _ identity, _ int64) {
	var in struct {
		Title *string
		Head  *string
		Base  *string
		Body  *string
		Draft *bool
		Issue *int64
	}
	if !decode(w, r, fields{"title": &in.Title, "head": &in.Head, "base": &in.Base, "body": &in.Body, "draft": &in.Draft, "issue": &in.Issue}) {
		return
	}
	if in.Issue != nil {
		s.t.Errorf("githubtest: converting issue %d to a pull request is not modelled", *in.Issue)
	}
	var errs []fieldError
	for _, f := range []struct {
		name string
		v    *string
	}{{"title", in.Title}, {"head", in.Head}, {"base", in.Base}} {
		if f.v == nil || *f.v == "" {
			errs = append(errs, fieldError{Resource: "PullRequest", Field: f.name, Code: "missing_field"})
		}
	}
	body := deref(in.Body)
	errs = append(errs, tooLong("PullRequest", body)...)
	errs = append(errs, titleTooLong(deref(in.Title))...)
	if len(errs) > 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", errs)
		return
	}
	head := *in.Head
	if owner, branch, ok := strings.Cut(head, ":"); ok {
		if !strings.EqualFold(owner, s.owner) {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
				[]fieldError{{Resource: "PullRequest", Field: "head", Code: "invalid"}})
			return
		}
		head = branch
	}
	switch {
	case strings.TrimSpace(head) == "":
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			[]fieldError{{Resource: "PullRequest", Field: "head", Code: "invalid"}})
		return
	case head == *in.Base:
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", []fieldError{{Resource: "PullRequest", Code: "custom",
			Message: fmt.Sprintf("No commits between %s and %s", *in.Base, head)}})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.prs {
		if p.State == "open" && p.Head == head && p.Base == *in.Base {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed", []fieldError{{Resource: "PullRequest", Code: "custom",
				Message: fmt.Sprintf("A pull request already exists for %s:%s.", s.owner, head)}})
			return
		}
	}
	p := PullRequest{Number: s.next, State: "open", Head: head, Base: *in.Base, Title: *in.Title, Body: body}
	s.next++
	s.issues[p.Number] = true
	s.prs = append(s.prs, p)
	writeJSON(w, http.StatusCreated, s.pullJSON(r, p))
}

func (s *Server) editPull(w *recorder, r *http.Request, _ identity, number int64) {
	var in struct {
		Title *string
		Body  *string
		State *string
		Base  *string
		// MaintainerCanModify is accepted and ignored.
		MaintainerCanModify *bool
	}
	if !decode(w, r, fields{"title": &in.Title, "body": &in.Body, "state": &in.State, "base": &in.Base, "maintainer_can_modify": &in.MaintainerCanModify}) {
		return
	}
	if in.Body != nil {
		if errs := tooLong("PullRequest", *in.Body); errs != nil {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed", errs)
			return
		}
	}
	if errs := titleTooLong(deref(in.Title)); errs != nil {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", errs)
		return
	}
	if in.State != nil && *in.State != "open" && *in.State != "closed" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			[]fieldError{{Resource: "PullRequest", Field: "state", Code: "invalid"}})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.prs, func(p PullRequest) bool { return int64(p.Number) == number })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	p := &s.prs[i]
	if in.Base != nil && *in.Base != p.Base {
		// The state in the same request does not help: GitHub checks
		// the pull request as it is.
		switch {
		case p.State != "open":
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed", []fieldError{{Resource: "PullRequest", Field: "base", Code: "invalid",
				Message: "Cannot change the base branch of a closed pull request."}})
			return
		case *in.Base == "" || *in.Base == p.Head:
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
				[]fieldError{{Resource: "PullRequest", Field: "base", Code: "invalid"}})
			return
		}
	}
	if in.Title != nil {
		if *in.Title == "" {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
				[]fieldError{{Resource: "PullRequest", Field: "title", Code: "missing_field"}})
			return
		}
		p.Title = *in.Title
	}
	if in.Body != nil {
		p.Body = *in.Body
	}
	if in.Base != nil {
		p.Base = *in.Base
	}
	if in.State != nil {
		p.State = *in.State
	}
	writeJSON(w, http.StatusOK, s.pullJSON(r, *p))
}

func (s *Server) listComments(w *recorder, r *http.Request, _ identity, number int64) {
	s.mu.Lock()
	exists := s.issues[int(number)]
	var out []map[string]any
	for _, c := range s.comments {
		if int64(c.Issue) == number {
			out = append(out, s.commentJSON(r, c))
		}
	}
	s.mu.Unlock()
	if !exists {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	page, perPage, ok := pagination(w, r.URL.Query())
	if !ok {
		return
	}
	s.writePage(w, r, out, page, perPage)
}

func (s *Server) createComment(w *recorder, r *http.Request, who identity, number int64) {
	var in struct{ Body *string }
	if !decode(w, r, fields{"body": &in.Body}) {
		return
	}
	if in.Body == nil || *in.Body == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			[]fieldError{{Resource: "IssueComment", Field: "body", Code: "missing_field"}})
		return
	}
	if errs := tooLong("IssueComment", *in.Body); errs != nil {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", errs)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.issues[int(number)] {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	c := Comment{ID: s.nextID, Issue: int(number), Body: *in.Body, Author: who.login}
	s.nextID++
	s.comments = append(s.comments, c)
	writeJSON(w, http.StatusCreated, s.commentJSON(r, c))
}

func (s *Server) editComment(w *recorder, r *http.Request, who identity, id int64) {
	var in struct{ Body *string }
	if !decode(w, r, fields{"body": &in.Body}) {
		return
	}
	if in.Body == nil || *in.Body == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			[]fieldError{{Resource: "IssueComment", Field: "body", Code: "missing_field"}})
		return
	}
	if errs := tooLong("IssueComment", *in.Body); errs != nil {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", errs)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.comments, func(c Comment) bool { return c.ID == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	if !strings.EqualFold(s.comments[i].Author, who.login) {
		writeError(w, http.StatusForbidden, "Resource not accessible by integration", nil)
		return
	}
	s.comments[i].Body = *in.Body
	writeJSON(w, http.StatusOK, s.commentJSON(r, s.comments[i]))
}
