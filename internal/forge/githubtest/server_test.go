package githubtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const tok = "ghs_faketoken"

// call sends one request to the fake and returns the status and the
// decoded JSON answer.
func call(t *testing.T, s *Server, method, path, auth, contentType, body string) (int, http.Header, any) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(s.URL, "/")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s %s answered non-JSON %q: %v", method, path, data, err)
	}
	return resp.StatusCode, resp.Header, v
}

func message(v any) string {
	m, _ := v.(map[string]any)
	msg, _ := m["message"].(string)
	if errs, ok := m["errors"].([]any); ok && len(errs) > 0 {
		e, _ := errs[0].(map[string]any)
		msg += fmt.Sprintf(" %v %v %v", e["field"], e["code"], e["message"])
	}
	return msg
}

func TestAuthorization(t *testing.T) {
	s := New(t, "o", "r", tok)
	n := s.AddIssue()
	path := fmt.Sprintf("/repos/o/r/issues/%d/comments", n)
	tests := []struct {
		auth       string
		wantStatus int
	}{
		{"Bearer " + tok, 200},
		{"token " + tok, 200},
		{"Bearer wrong", 401},
		{"Basic " + tok, 401},
		{"", 401},
	}
	for _, tt := range tests {
		status, _, v := call(t, s, "GET", path, tt.auth, "", "")
		if status != tt.wantStatus {
			t.Errorf("GET with Authorization %q = %d, want %d", tt.auth, status, tt.wantStatus)
		}
		if status == 401 && message(v) != "Bad credentials" {
			t.Errorf("401 body = %v, want message Bad credentials", v)
		}
	}
	for _, r := range s.Requests() {
		if strings.Contains(fmt.Sprint(r), tok) {
			t.Errorf("request log holds the token: %+v", r)
		}
	}
}

func TestCreatePullValidation(t *testing.T) {
	s := New(t, "o", "r", tok)
	auth := "Bearer " + tok
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantMessage string
	}{
		{"not JSON content type", "text/plain", `{"title":"t","head":"b","base":"main"}`, 415, "Unsupported 'Content-Type' header"},
		{"malformed JSON", "application/json", `{"title":`, 400, "Problems parsing JSON"},
		{"missing title", "application/json", `{"head":"b","base":"main"}`, 422, "Validation Failed title missing_field <nil>"},
		{"missing base", "application/json", `{"title":"t","head":"b"}`, 422, "Validation Failed base missing_field <nil>"},
		{"head of another owner", "application/json", `{"title":"t","head":"x:b","base":"main"}`, 422, "Validation Failed head invalid <nil>"},
		{"body too long", "application/json", fmt.Sprintf(`{"title":"t","head":"b","base":"main","body":%q}`, strings.Repeat("x", MaxBodyLength+1)),
			422, "Validation Failed body custom body is too long (maximum is 65536 characters)"},
		{"created", "application/json; charset=utf-8", `{"title":"t","head":"o:b","base":"main","body":"` + strings.Repeat("é", MaxBodyLength) + `"}`, 201, ""},
		{"duplicate head and base", "application/json", `{"title":"t2","head":"b","base":"main"}`, 422,
			"Validation Failed <nil> custom A pull request already exists for o:b."},
		{"same head, other base", "application/json", `{"title":"t3","head":"b","base":"release"}`, 201, ""},
	}
	for _, tt := range tests {
		status, _, v := call(t, s, "POST", "/repos/o/r/pulls", auth, tt.contentType, tt.body)
		if status != tt.wantStatus || (tt.wantMessage != "" && message(v) != tt.wantMessage) {
			t.Errorf("%s: POST pulls = %d %q, want %d %q", tt.name, status, message(v), tt.wantStatus, tt.wantMessage)
		}
	}
	// Once closed, the branch may have a new PR.
	if status, _, v := call(t, s, "PATCH", "/repos/o/r/pulls/1", auth, "application/json", `{"state":"closed"}`); status != 200 {
		t.Fatalf("close PR = %d %q", status, message(v))
	}
	if status, _, v := call(t, s, "POST", "/repos/o/r/pulls", auth, "application/json", `{"title":"t4","head":"b","base":"main"}`); status != 201 {
		t.Errorf("new PR after closing = %d %q, want 201", status, message(v))
	}
	if status, _, _ := call(t, s, "PATCH", "/repos/o/r/pulls/99", auth, "application/json", `{"title":"x"}`); status != 404 {
		t.Errorf("PATCH a missing PR = %d, want 404", status)
	}
}

func TestListPullsFilters(t *testing.T) {
	s := New(t, "o", "r", tok)
	auth := "Bearer " + tok
	for _, head := range []string{"a", "b"} {
		if status, _, v := call(t, s, "POST", "/repos/o/r/pulls", auth, "application/json",
			fmt.Sprintf(`{"title":"t","head":%q,"base":"main"}`, head)); status != 201 {
			t.Fatalf("create PR from %s = %d %q", head, status, message(v))
		}
	}
	call(t, s, "PATCH", "/repos/o/r/pulls/1", auth, "application/json", `{"state":"closed"}`)
	tests := []struct {
		query string
		want  []float64
	}{
		{"", []float64{2}},
		{"?state=all", []float64{2, 1}},
		{"?state=closed", []float64{1}},
		{"?state=all&head=o:a", []float64{1}},
		{"?head=o:b", []float64{2}},
		{"?head=x:b", nil},
		{"?state=all&head=a", []float64{2, 1}}, // GitHub ignores a head without owner
	}
	for _, tt := range tests {
		_, _, v := call(t, s, "GET", "/repos/o/r/pulls"+tt.query, auth, "", "")
		var got []float64
		for _, p := range v.([]any) {
			got = append(got, p.(map[string]any)["number"].(float64))
		}
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("GET pulls%s (-got +want):\n%s", tt.query, diff)
		}
	}
}

func TestCommentsPagination(t *testing.T) {
	s := New(t, "o", "r", tok)
	auth := "Bearer " + tok
	n := s.AddIssue()
	for i := range 5 {
		s.AddComment(n, "u", fmt.Sprintf("c%d", i))
	}
	path := fmt.Sprintf("/repos/o/r/issues/%d/comments", n)
	tests := []struct {
		query    string
		want     []string
		wantRels []string
	}{
		{"?per_page=2", []string{"c0", "c1"}, []string{"next", "last"}},
		{"?per_page=2&page=2", []string{"c2", "c3"}, []string{"next", "last", "first", "prev"}},
		{"?per_page=2&page=3", []string{"c4"}, []string{"first", "prev"}},
		{"?per_page=2&page=9", nil, []string{"first", "prev"}},
		{"", []string{"c0", "c1", "c2", "c3", "c4"}, nil},
	}
	for _, tt := range tests {
		status, h, v := call(t, s, "GET", path+tt.query, auth, "", "")
		if status != 200 {
			t.Fatalf("GET comments%s = %d", tt.query, status)
		}
		var got []string
		for _, c := range v.([]any) {
			got = append(got, c.(map[string]any)["body"].(string))
		}
		if diff := cmp.Diff(got, tt.want); diff != "" {
			t.Errorf("GET comments%s (-got +want):\n%s", tt.query, diff)
		}
		var rels []string
		for l := range strings.SplitSeq(h.Get("Link"), ", ") {
			if _, rel, ok := strings.Cut(l, `rel="`); ok {
				rels = append(rels, strings.TrimSuffix(rel, `"`))
			}
		}
		if diff := cmp.Diff(rels, tt.wantRels); diff != "" {
			t.Errorf("Link of comments%s = %q (-got +want):\n%s", tt.query, h.Get("Link"), diff)
		}
	}
	if status, _, _ := call(t, s, "GET", "/repos/o/r/issues/99/comments", auth, "", ""); status != 404 {
		t.Errorf("comments of a missing issue = %d, want 404", status)
	}
}

func TestCommentValidation(t *testing.T) {
	s := New(t, "o", "r", tok)
	auth := "Bearer " + tok
	n := s.AddIssue()
	path := fmt.Sprintf("/repos/o/r/issues/%d/comments", n)
	tests := []struct {
		body        string
		wantStatus  int
		wantMessage string
	}{
		{`{}`, 422, "Validation Failed body missing_field <nil>"},
		{fmt.Sprintf(`{"body":%q}`, strings.Repeat("x", MaxBodyLength+1)), 422,
			"Validation Failed body custom body is too long (maximum is 65536 characters)"},
		{fmt.Sprintf(`{"body":%q}`, strings.Repeat("x", MaxBodyLength)), 201, ""},
	}
	for _, tt := range tests {
		status, _, v := call(t, s, "POST", path, auth, "application/json", tt.body)
		if status != tt.wantStatus || (tt.wantMessage != "" && message(v) != tt.wantMessage) {
			t.Errorf("POST comment (%d bytes) = %d %q, want %d %q", len(tt.body), status, message(v), tt.wantStatus, tt.wantMessage)
		}
	}
	id := s.Comments(n)[0].ID
	edit := fmt.Sprintf("/repos/o/r/issues/comments/%d", id)
	if status, _, _ := call(t, s, "PATCH", edit, auth, "application/json", fmt.Sprintf(`{"body":%q}`, strings.Repeat("y", MaxBodyLength+1))); status != 422 {
		t.Errorf("PATCH comment over the limit = %d, want 422", status)
	}
	if status, _, _ := call(t, s, "PATCH", edit, auth, "application/json", `{"body":"edited"}`); status != 200 {
		t.Errorf("PATCH comment = %d, want 200", status)
	}
	if got := s.Comments(n)[0].Body; got != "edited" {
		t.Errorf("comment after PATCH = %q, want edited", got)
	}
}

// failureRecorder stands in for the test to observe the failures the
// fake reports.
type failureRecorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (f *failureRecorder) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, fmt.Sprintf(format, args...))
}

func TestUnknownRouteFailsTheTest(t *testing.T) {
	rec := &failureRecorder{TB: t}
	s := New(rec, "o", "r", tok)
	for _, r := range []struct{ method, path string }{
		{"GET", "/repos/o/r/issues/1"},
		{"DELETE", "/repos/o/r/issues/comments/1"},
		{"PUT", "/repos/o/r/pulls"},
	} {
		if status, _, _ := call(t, s, r.method, r.path, "Bearer "+tok, "", ""); status != 404 {
			t.Errorf("%s %s = %d, want 404", r.method, r.path, status)
		}
	}
	if len(rec.failed) != 3 {
		t.Errorf("the fake reported %d failures, want 3: %q", len(rec.failed), rec.failed)
	}
	if status, _, _ := call(t, s, "GET", "/repos/other/r/pulls", "Bearer "+tok, "", ""); status != 404 {
		t.Errorf("GET pulls of another repository = %d, want 404", status)
	}
}

// TestRefusesWhatGitHubRefuses: each request GitHub refuses (according to
// its OpenAPI description and documented behaviour) is refused by the fake
// with GitHub's status, so a client mistake fails a test instead of
// passing here and failing in production.
func TestRefusesWhatGitHubRefuses(t *testing.T) {
	const other = "ghp_otherUsersT0ken"
	const app = "ghs_installationT0ken"
	longTitle := strings.Repeat("t", MaxTitleLength+1)
	tests := []struct {
		name        string
		method      string
		path        string
		token       string            // default: tok
		header      map[string]string // extra request headers
		body        string
		wantStatus  int
		wantMessage string
	}{
		{name: "unsupported API version", method: "GET", path: "/repos/o/r/pulls",
			header: map[string]string{"X-GitHub-Api-Version": "2021-01-01"}, wantStatus: 400, wantMessage: "API version 2021-01-01 is not supported."},
		{name: "supported API version", method: "GET", path: "/repos/o/r/pulls",
			header: map[string]string{"X-GitHub-Api-Version": "2026-03-10"}, wantStatus: 200},
		{name: "no API version means the default", method: "GET", path: "/repos/o/r/pulls", wantStatus: 200},
		{name: "owner and repo in another case", method: "GET", path: "/repos/O/R/pulls", wantStatus: 200},
		{name: "another repository", method: "GET", path: "/repos/o/r2/pulls", wantStatus: 404, wantMessage: "Not Found"},
		{name: "head equals base", method: "POST", path: "/repos/o/r/pulls",
			body: `{"title":"t","head":"main","base":"main"}`, wantStatus: 422, wantMessage: "Validation Failed <nil> custom No commits between main and main"},
		{name: "owner-qualified head equals base", method: "POST", path: "/repos/o/r/pulls",
			body: `{"title":"t","head":"O:main","base":"main"}`, wantStatus: 422, wantMessage: "Validation Failed <nil> custom No commits between main and main"},
		{name: "head names no branch", method: "POST", path: "/repos/o/r/pulls",
			body: `{"title":"t","head":"o:","base":"main"}`, wantStatus: 422, wantMessage: "Validation Failed head invalid <nil>"},
		{name: "empty head", method: "POST", path: "/repos/o/r/pulls",
			body: `{"title":"t","head":"","base":"main"}`, wantStatus: 422, wantMessage: "Validation Failed head missing_field <nil>"},
		{name: "title over 256 characters", method: "POST", path: "/repos/o/r/pulls",
			body: `{"title":"` + longTitle + `","head":"b","base":"main"}`, wantStatus: 422,
			wantMessage: "Validation Failed title custom title is too long (maximum is 256 characters)"},
		{name: "title over 256 characters on edit", method: "PATCH", path: "/repos/o/r/pulls/2",
			body: `{"title":"` + longTitle + `"}`, wantStatus: 422,
			wantMessage: "Validation Failed title custom title is too long (maximum is 256 characters)"},
		{name: "base change on a closed pull request", method: "PATCH", path: "/repos/o/r/pulls/3",
			body: `{"base":"release"}`, wantStatus: 422,
			wantMessage: "Validation Failed base invalid Cannot change the base branch of a closed pull request."},
		{name: "base change and reopening at once", method: "PATCH", path: "/repos/o/r/pulls/3",
			body: `{"state":"open","base":"release"}`, wantStatus: 422,
			wantMessage: "Validation Failed base invalid Cannot change the base branch of a closed pull request."},
		{name: "keys in the wrong case are unknown", method: "POST", path: "/repos/o/r/pulls",
			body: `{"Title":"t","Head":"b","Base":"main"}`, wantStatus: 422, wantMessage: "Validation Failed title missing_field <nil>"},
		{name: "comment body key in the wrong case", method: "POST", path: "/repos/o/r/issues/1/comments",
			body: `{"Body":"hello"}`, wantStatus: 422, wantMessage: "Validation Failed body missing_field <nil>"},
		{name: "trailing garbage after the body", method: "POST", path: "/repos/o/r/issues/1/comments",
			body: `{"body":"hello"} x`, wantStatus: 400, wantMessage: "Problems parsing JSON"},
		{name: "two objects", method: "PATCH", path: "/repos/o/r/pulls/2",
			body: `{"title":"a"}{"title":"b"}`, wantStatus: 400, wantMessage: "Problems parsing JSON"},
		{name: "not an object", method: "POST", path: "/repos/o/r/issues/1/comments",
			body: `["hello"]`, wantStatus: 400, wantMessage: "Problems parsing JSON"},
		{name: "a value of the wrong type", method: "POST", path: "/repos/o/r/pulls",
			body: `{"title":7,"head":"b","base":"main"}`, wantStatus: 422, wantMessage: "Invalid request.\n\nFor 'properties/title', 7 is not a string."},
		{name: "another user's comment", method: "PATCH", path: "/repos/o/r/issues/comments/1000", token: other,
			body: `{"body":"edited"}`, wantStatus: 403, wantMessage: "Resource not accessible by integration"},
		{name: "own comment", method: "PATCH", path: "/repos/o/r/issues/comments/1000",
			body: `{"body":"edited"}`, wantStatus: 200},
		{name: "the token's user", method: "GET", path: "/user", token: other, wantStatus: 200},
		{name: "the user of an installation token", method: "GET", path: "/user", token: app,
			wantStatus: 403, wantMessage: "Resource not accessible by integration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t, "o", "r", tok)
			s.AddUser(other, "octocat")
			s.AddAppToken(app, "github-actions[bot]")
			// Issue 1 with comment 1000, open PR 2, closed PR 3.
			auth := "Bearer " + tok
			n := s.AddIssue()
			if _, _, v := call(t, s, "POST", "/repos/o/r/issues/1/comments", auth, "application/json", `{"body":"mine"}`); message(v) != "" {
				t.Fatalf("seed comment: %q", message(v))
			}
			for _, pr := range []string{`{"title":"a","head":"a","base":"main"}`, `{"title":"b","head":"b","base":"main"}`} {
				if status, _, v := call(t, s, "POST", "/repos/o/r/pulls", auth, "application/json", pr); status != 201 {
					t.Fatalf("seed PR: %d %q", status, message(v))
				}
			}
			if status, _, v := call(t, s, "PATCH", "/repos/o/r/pulls/3", auth, "application/json", `{"state":"closed"}`); status != 200 {
				t.Fatalf("close PR: %d %q", status, message(v))
			}
			if tt.token != "" {
				auth = "Bearer " + tt.token
			}
			status, _, v := callWith(t, s, tt.method, tt.path, auth, tt.header, tt.body)
			if status != tt.wantStatus || message(v) != tt.wantMessage && tt.wantMessage != "" {
				t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, status, message(v), tt.wantStatus, tt.wantMessage)
			}
			if tt.wantStatus >= 400 && tt.method != "GET" {
				if got := s.Comments(n)[0].Body; got != "mine" {
					t.Errorf("a refused request changed the comment to %q", got)
				}
				if got := s.PullRequests(); len(got) != 2 || got[1].Base != "main" || got[0].Title != "a" {
					t.Errorf("a refused request changed the pull requests: %+v", got)
				}
			}
		})
	}
}

// TestCommentsAreAuthoredByTheTokensIdentity: who wrote a comment is the
// identity of the token that created it, and GET /user says who that is.
func TestCommentsAreAuthoredByTheTokensIdentity(t *testing.T) {
	s := New(t, "o", "r", tok)
	s.AddUser("ghp_octo", "octocat")
	s.AddAppToken("ghs_app", "gearshift-app[bot]")
	n := s.AddIssue()
	for _, token := range []string{tok, "ghp_octo", "ghs_app"} {
		if status, _, v := call(t, s, "POST", fmt.Sprintf("/repos/o/r/issues/%d/comments", n), "token "+token, "application/json", `{"body":"hi"}`); status != 201 {
			t.Fatalf("comment with %s: %d %q", token, status, message(v))
		}
	}
	var got []string
	for _, c := range s.Comments(n) {
		got = append(got, c.Author)
	}
	if diff := cmp.Diff(got, []string{"gearshift-bot", "octocat", "gearshift-app[bot]"}); diff != "" {
		t.Errorf("authors (-got +want):\n%s", diff)
	}
	_, _, v := call(t, s, "GET", "/user", "token ghp_octo", "", "")
	if login, _ := v.(map[string]any)["login"].(string); login != "octocat" {
		t.Errorf("GET /user = %v, want login octocat", v)
	}
}

// callWith is call with extra headers; a body makes it a JSON request.
func callWith(t *testing.T, s *Server, method, path, auth string, header map[string]string, body string) (int, http.Header, any) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(s.URL, "/")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s %s answered non-JSON %q: %v", method, path, data, err)
	}
	return resp.StatusCode, resp.Header, v
}
