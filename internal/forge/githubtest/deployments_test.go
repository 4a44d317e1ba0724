package githubtest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func deploy(t *testing.T, s *Server, env string) int64 {
	t.Helper()
	code, _, v := call(t, s, "POST", "/repos/o/r/deployments", "Bearer "+tok, "application/json",
		`{"ref":"`+sha+`","environment":"`+env+`","auto_merge":false,"required_contexts":[],"payload":{"units":[]}}`)
	if code != http.StatusCreated {
		t.Fatalf("create deployment: %d %s", code, message(v))
	}
	return int64(v.(map[string]any)["id"].(float64))
}

// TestDeploymentChecks: the fake refuses what GitHub refuses.
func TestDeploymentChecks(t *testing.T) {
	s := New(t, "o", "r", tok)
	id := deploy(t, s, "prod/api")
	statuses := fmt.Sprintf("/repos/o/r/deployments/%d/statuses", id)
	for _, c := range []struct {
		name, method, path, auth, body string
		code                           int
		msg                            string
	}{
		{"no token", "POST", "/repos/o/r/deployments", "", `{"ref":"main","auto_merge":false,"required_contexts":[]}`, 401, "Bad credentials"},
		{"no ref", "POST", "/repos/o/r/deployments", "Bearer " + tok, `{"environment":"x","auto_merge":false,"required_contexts":[]}`, 422, "Validation Failed ref missing_field <nil>"},
		{"a context required", "POST", "/repos/o/r/deployments", "Bearer " + tok, `{"ref":"main","auto_merge":false,"required_contexts":["ci"]}`, 409, "Conflict: Commit status checks failed for main."},
		{"payload a number", "POST", "/repos/o/r/deployments", "Bearer " + tok, `{"ref":"main","auto_merge":false,"required_contexts":[],"payload":3}`, 422, "Invalid request.\n\nFor 'properties/payload', 3 is not an object or a string."},
		{"another repository", "POST", "/repos/o/other/deployments", "Bearer " + tok, `{"ref":"main","auto_merge":false,"required_contexts":[]}`, 404, "Not Found"},
		{"no state", "POST", statuses, "Bearer " + tok, `{"description":"x"}`, 422, "Validation Failed state missing_field <nil>"},
		{"unknown state", "POST", statuses, "Bearer " + tok, `{"state":"done"}`, 422, "Validation Failed state invalid <nil>"},
		{"141 characters", "POST", statuses, "Bearer " + tok, `{"state":"success","description":"` + strings.Repeat("é", 141) + `"}`, 422, "Validation Failed description custom description is too long (maximum is 140 characters)"},
		{"a log_url that is no URL", "POST", statuses, "Bearer " + tok, `{"state":"success","log_url":"run 7"}`, 422, "Validation Failed url invalid <nil>"},
		{"unknown deployment", "POST", "/repos/o/r/deployments/999/statuses", "Bearer " + tok, `{"state":"success"}`, 404, "Not Found"},
		{"commit status of a branch name", "POST", "/repos/o/r/statuses/main", "Bearer " + tok, `{"state":"success"}`, 422, "No commit found for SHA: main"},
		{"commit status in_progress", "POST", "/repos/o/r/statuses/" + sha, "Bearer " + tok, `{"state":"in_progress"}`, 422, "Validation Failed state invalid <nil>"},
		{"commit status of 141", "POST", "/repos/o/r/statuses/" + sha, "Bearer " + tok, `{"state":"failure","description":"` + strings.Repeat("x", 141) + `"}`, 422, "Validation Failed description custom description is too long (maximum is 140 characters)"},
		{"release without a tag", "POST", "/repos/o/r/releases", "Bearer " + tok, `{"name":"x"}`, 422, "Validation Failed tag_name missing_field <nil>"},
		{"no release", "GET", "/repos/o/r/releases/tags/v1", "Bearer " + tok, ``, 404, "Not Found"},
	} {
		ct := "application/json"
		if c.body == "" {
			ct = ""
		}
		code, _, v := call(t, s, c.method, c.path, c.auth, ct, c.body)
		if code != c.code || message(v) != c.msg {
			t.Errorf("%s: %d %q, want %d %q", c.name, code, message(v), c.code, c.msg)
		}
	}
	// 140 characters (not bytes) are accepted.
	code, _, v := call(t, s, "POST", statuses, "Bearer "+tok, "application/json", `{"state":"success","description":"`+strings.Repeat("é", 140)+`"}`)
	if code != http.StatusCreated {
		t.Errorf("140 characters: %d %s", code, message(v))
	}
	if got := s.Deployments()[0].Statuses; len(got) != 1 || got[0].State != "success" {
		t.Errorf("statuses = %+v: a refused status was kept", got)
	}
}

// TestAutoInactive: a success makes the earlier successful deployments
// of the same environment inactive, as auto_inactive does by default; not
// those of another environment, nor of a production environment, nor
// when auto_inactive is false.
func TestAutoInactive(t *testing.T) {
	s := New(t, "o", "r", tok)
	set := func(id int64, body string) {
		t.Helper()
		code, _, v := call(t, s, "POST", fmt.Sprintf("/repos/o/r/deployments/%d/statuses", id), "Bearer "+tok, "application/json", body)
		if code != http.StatusCreated {
			t.Fatalf("status %s: %d %s", body, code, message(v))
		}
	}
	a := deploy(t, s, "staging/api")
	set(a, `{"state":"success"}`)
	w := deploy(t, s, "staging/web")
	set(w, `{"state":"success"}`)
	p := deploy(t, s, "production")
	set(p, `{"state":"success"}`)
	f := deploy(t, s, "staging/api")
	set(f, `{"state":"failure"}`) // a failure leaves the success active
	b := deploy(t, s, "staging/api")
	set(b, `{"state":"in_progress"}`)
	set(b, `{"state":"success"}`)
	p2 := deploy(t, s, "production")
	set(p2, `{"state":"success"}`) // production: not made inactive
	n := deploy(t, s, "staging/web")
	set(n, `{"state":"success","auto_inactive":false}`)

	var got []string
	for _, d := range s.Deployments() {
		var states []string
		for _, st := range d.Statuses {
			states = append(states, st.State)
		}
		got = append(got, d.Environment+" "+strings.Join(states, ","))
	}
	want := []string{
		"staging/api success,inactive",
		"staging/web success",
		"production success",
		"staging/api failure",
		"staging/api in_progress,success",
		"production success",
		"staging/web success",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}
}

// TestReleases: one release per tag, found by its tag; with TagExists, a
// release of a tag that does not exist fails the test (GitHub would make
// the tag at the default branch).
func TestReleases(t *testing.T) {
	s := New(t, "o", "r", tok)
	s.TagExists = func(tag string) bool { return tag == "v1.0.0" }
	code, _, v := call(t, s, "POST", "/repos/o/r/releases", "Bearer "+tok, "application/json", `{"tag_name":"v1.0.0","name":"v1.0.0","body":"notes"}`)
	if code != http.StatusCreated {
		t.Fatalf("create release: %d %s", code, message(v))
	}
	code, _, v = call(t, s, "POST", "/repos/o/r/releases", "Bearer "+tok, "application/json", `{"tag_name":"v1.0.0"}`)
	if code != 422 || message(v) != "Validation Failed tag_name already_exists <nil>" {
		t.Errorf("second release of v1.0.0: %d %s", code, message(v))
	}
	code, _, v = call(t, s, "GET", "/repos/o/r/releases/tags/v1.0.0", "Bearer "+tok, "", "")
	if m, _ := v.(map[string]any); code != 200 || m["body"] != "notes" || !strings.HasSuffix(m["html_url"].(string), "/o/r/releases/tag/v1.0.0") {
		t.Errorf("release by tag: %d %v", code, v)
	}
	ft := &fakeT{TB: t}
	s.t = ft
	call(t, s, "POST", "/repos/o/r/releases", "Bearer "+tok, "application/json", `{"tag_name":"v2.0.0"}`)
	if len(ft.errors) != 1 || !strings.Contains(ft.errors[0], "release of tag v2.0.0, which does not exist") {
		t.Errorf("a release of a missing tag reported %q", ft.errors)
	}
}

// fakeT records Errorf instead of failing, to test what fails a test.
type fakeT struct {
	testing.TB
	errors []string
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

// TestDeploymentDefaultsFail: a deployment that leaves auto_merge or
// required_contexts to GitHub's defaults fails the test.
func TestDeploymentDefaultsFail(t *testing.T) {
	s := New(t, "o", "r", tok)
	ft := &fakeT{TB: t}
	s.t = ft
	call(t, s, "POST", "/repos/o/r/deployments", "Bearer "+tok, "application/json", `{"ref":"main","required_contexts":[]}`)
	code, _, _ := call(t, s, "POST", "/repos/o/r/deployments", "Bearer "+tok, "application/json", `{"ref":"main","auto_merge":false}`)
	if len(ft.errors) != 2 || !strings.Contains(ft.errors[0], "without auto_merge false") || !strings.Contains(ft.errors[1], "without required_contexts") || code != http.StatusConflict {
		t.Errorf("defaults left to GitHub: %q, %d", ft.errors, code)
	}
}
