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
