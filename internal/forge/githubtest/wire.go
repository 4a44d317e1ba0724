package githubtest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// fieldError is one entry of the "errors" array of a 422 answer.
type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string, errs []fieldError) {
	body := map[string]any{
		"message":           msg,
		"documentation_url": "https://docs.github.com/rest",
		"status":            strconv.Itoa(status),
	}
	if errs != nil {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fields maps the keys an operation declares, spelled exactly, to where
// their values go (a pointer to a pointer, left nil when the key is absent
// or null).
type fields map[string]any

// maxRequestBody bounds what the fake reads of a request.
const maxRequestBody = 1 << 20

// decode reads a JSON request body the way GitHub does: it must be declared
// as JSON and be exactly one JSON object, with nothing but white space
// after it (else 400 "Problems parsing JSON"). Keys are matched exactly:
// GitHub ignores a key it does not know, so {"Title": "x"} carries no
// title. A known key whose value has the wrong type is 422 "Invalid
// request", naming the property as GitHub's schema validation does.
func decode(w http.ResponseWriter, r *http.Request, into fields) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Unsupported 'Content-Type' header", nil)
		return false
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", nil)
		return false
	}
	// json.Unmarshal refuses anything after the value, unlike a Decoder.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", nil)
		return false
	}
	for key, dst := range into {
		raw, ok := obj[key]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			writeError(w, http.StatusUnprocessableEntity,
				fmt.Sprintf("Invalid request.\n\nFor 'properties/%s', %s is not a %s.", key, raw, jsonType(dst)), nil)
			return false
		}
	}
	return true
}

func jsonType(dst any) string {
	switch dst.(type) {
	case **string:
		return "string"
	case **bool:
		return "boolean"
	case **int64, **int:
		return "integer"
	case **[]string:
		return "array"
	}
	return "value of the declared type"
}

func titleTooLong(title string) []fieldError {
	if utf8.RuneCountInString(title) <= MaxTitleLength {
		return nil
	}
	return []fieldError{{Resource: "Issue", Field: "title", Code: "custom",
		Message: fmt.Sprintf("title is too long (maximum is %d characters)", MaxTitleLength)}}
}

func tooLong(resource, body string) []fieldError {
	if utf8.RuneCountInString(body) <= MaxBodyLength {
		return nil
	}
	return []fieldError{{Resource: resource, Field: "body", Code: "custom",
		Message: fmt.Sprintf("body is too long (maximum is %d characters)", MaxBodyLength)}}
}

// pagination reads page and per_page as GitHub does: per_page defaults to
// 30 and is capped at 100, page starts at 1.
func pagination(w http.ResponseWriter, q map[string][]string) (page, perPage int, ok bool) {
	page, perPage = 1, 30
	get := func(name string) string {
		if v := q[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if v := get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "Invalid page", nil)
			return 0, 0, false
		}
		page = max(n, 1)
	}
	if v := get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "Invalid per_page", nil)
			return 0, 0, false
		}
		perPage = min(max(n, 1), 100)
	}
	return page, perPage, true
}

// writePage answers one page of items with GitHub's Link header.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, items []map[string]any, page, perPage int) {
	last := max((len(items)+perPage-1)/perPage, 1)
	link := func(p int, rel string) string {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		q := u.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(perPage))
		u.RawQuery = q.Encode()
		return fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(min(page-1, last), "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	from := min((page-1)*perPage, len(items))
	to := min(from+perPage, len(items))
	out := items[from:to]
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) htmlBase(r *http.Request) string {
	return "http://" + r.Host + "/" + s.owner + "/" + s.repo
}

func (s *Server) apiBase(r *http.Request) string {
	return "http://" + r.Host + "/api/v3/repos/" + s.owner + "/" + s.repo
}

func (s *Server) pullJSON(r *http.Request, p PullRequest) map[string]any {
	repo := map[string]any{
		"name":      s.repo,
		"full_name": s.owner + "/" + s.repo,
		"owner":     map[string]any{"login": s.owner},
	}
	branch := func(ref string) map[string]any {
		return map[string]any{"ref": ref, "label": s.owner + ":" + ref, "repo": repo}
	}
	return map[string]any{
		"number":   p.Number,
		"state":    p.State,
		"title":    p.Title,
		"body":     p.Body,
		"url":      fmt.Sprintf("%s/pulls/%d", s.apiBase(r), p.Number),
		"html_url": fmt.Sprintf("%s/pull/%d", s.htmlBase(r), p.Number),
		"head":     branch(p.Head),
		"base":     branch(p.Base),
		"user":     map[string]any{"login": s.Login},
	}
}

func (s *Server) commentJSON(r *http.Request, c Comment) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339)
	return map[string]any{
		"id":         c.ID,
		"body":       c.Body,
		"url":        fmt.Sprintf("%s/issues/comments/%d", s.apiBase(r), c.ID),
		"html_url":   fmt.Sprintf("%s/issues/%d#issuecomment-%d", s.htmlBase(r), c.Issue, c.ID),
		"user":       map[string]any{"login": c.Author},
		"created_at": now,
		"updated_at": now,
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
