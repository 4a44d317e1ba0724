package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Deployments, deployment statuses, commit statuses and releases, checked
// as GitHub checks them (rest-api-description: repos/create-deployment,
// repos/create-deployment-status, repos/create-commit-status,
// repos/create-release, repos/get-release-by-tag):
//
//   - a deployment needs ref (422 missing_field otherwise). auto_merge
//     defaults to true and required_contexts to every context: the fake
//     does not model merging or contexts, and fails the test when a
//     deployment leaves either to its default, since GitHub would then
//     merge the default branch into ref or refuse with 409;
//   - a deployment status's state is one of error, failure, inactive,
//     in_progress, queued, pending and success, its description at most
//     140 characters (422 otherwise); auto_inactive (default true) on a
//     success makes the earlier deployments of the same environment whose
//     latest status is success inactive, unless they are transient or
//     production (production_environment defaults to true for an
//     environment named "production");
//   - a commit status's state is one of error, failure, pending and
//     success, its description at most 140 characters, its context
//     "default" when not given, and the commit a full SHA here (the fake
//     holds no branches to resolve a name against);
//   - a release needs tag_name, is refused (422 already_exists) for a tag
//     that has one, and a body over 125,000 characters is refused. When
//     TagExists is set, a release of a tag it does not know fails the
//     test: GitHub would create that tag at the default branch's head.

// MaxDescriptionLength is GitHub's limit on a deployment or commit
// status description, in characters.
const MaxDescriptionLength = 140

// MaxReleaseBodyLength is GitHub's limit on a release body, in characters.
const MaxReleaseBodyLength = 125000

// Deployment is a deployment held by the server, with its statuses, oldest
// first.
type Deployment struct {
	ID                    int64
	Ref                   string
	Environment           string
	Description           string
	Payload               json.RawMessage
	AutoMerge             bool
	RequiredContexts      []string
	TransientEnvironment  bool
	ProductionEnvironment bool
	Creator               string
	Statuses              []DeploymentStatus
}

// State is the deployment's latest status, or "" without one.
func (d Deployment) State() string {
	if len(d.Statuses) == 0 {
		return ""
	}
	return d.Statuses[len(d.Statuses)-1].State
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	State          string
	Description    string
	LogURL         string
	EnvironmentURL string
	// Auto says the server added it (auto_inactive), not a request.
	Auto bool
}

// CommitStatus is a status set on a commit.
type CommitStatus struct {
	SHA         string
	State       string
	Context     string
	Description string
	TargetURL   string
	Creator     string
}

// Release is a release held by the server.
type Release struct {
	ID         int64
	Tag        string
	Name       string
	Body       string
	Prerelease bool
	Draft      bool
}

var (
	deploymentsRE      = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/deployments$`)
	deploymentStatusRE = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/deployments/([0-9]+)/statuses$`)
	commitStatusRE     = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/statuses/([^/]+)$`)
	releasesRE         = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/releases$`)
	releaseByTagRE     = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/releases/tags/(.+)$`)
	shaRE              = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

func init() {
	routes = append(routes,
		route{deploymentsRE, http.MethodPost, (*Server).createDeployment},
		route{deploymentStatusRE, http.MethodPost, (*Server).createDeploymentStatus},
		route{commitStatusRE, http.MethodPost, (*Server).createCommitStatus},
		route{releasesRE, http.MethodPost, (*Server).createRelease},
		route{releaseByTagRE, http.MethodGet, (*Server).getReleaseByTag},
	)
}

// AddAppTokenWithout makes the server accept token as a GitHub App
// installation token of login that lacks the permissions named
// ("deployments", "statuses", "contents"): the calls that need one answer
// 403 "Resource not accessible by integration", as GITHUB_TOKEN's do in
// a workflow whose permissions do not grant them.
func (s *Server) AddAppTokenWithout(token, login string, permissions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = identity{login: login, app: true, without: permissions}
}

// denied answers 403 when who lacks permission.
func denied(w *recorder, who identity, permission string) bool {
	if slices.Contains(who.without, permission) {
		writeError(w, http.StatusForbidden, "Resource not accessible by integration", nil)
		return true
	}
	return false
}

// Deployments returns every deployment, in creation order.
func (s *Server) Deployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Deployment, len(s.deployments))
	for i, d := range s.deployments {
		out[i] = *d
		out[i].Statuses = slices.Clone(d.Statuses)
	}
	return out
}

// CommitStatuses returns every commit status set, oldest first.
func (s *Server) CommitStatuses() []CommitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.statuses)
}

// Releases returns every release, in creation order.
func (s *Server) Releases() []Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.releases)
}

var deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
var commitStates = []string{"error", "failure", "pending", "success"}

func (s *Server) createDeployment(w *recorder, r *http.Request, who identity, _ int64) {
	if denied(w, who, "deployments") {
		return
	}
	var in struct {
		Ref, Task, Environment, Description *string
		AutoMerge, Transient, Production    *bool
		RequiredContexts                    *[]string
		Payload                             *json.RawMessage
	}
	if !decode(w, r, fields{"ref": &in.Ref, "task": &in.Task, "environment": &in.Environment, "description": &in.Description,
		"auto_merge": &in.AutoMerge, "transient_environment": &in.Transient, "production_environment": &in.Production,
		"required_contexts": &in.RequiredContexts, "payload": &in.Payload}) {
		return
	}
	if in.Ref == nil || *in.Ref == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", []fieldError{{Resource: "Deployment", Field: "ref", Code: "missing_field"}})
		return
	}
	if in.AutoMerge == nil || *in.AutoMerge {
		s.t.Errorf("githubtest: deployment of %s without auto_merge false: GitHub would merge the default branch into it", *in.Ref)
	}
	if in.RequiredContexts == nil {
		s.t.Errorf("githubtest: deployment of %s without required_contexts: GitHub would require every commit status to pass", *in.Ref)
		writeError(w, http.StatusConflict, "Conflict: Commit status checks failed for "+*in.Ref+".", nil)
		return
	}
	if len(*in.RequiredContexts) > 0 {
		writeError(w, http.StatusConflict, "Conflict: Commit status checks failed for "+*in.Ref+".", nil)
		return
	}
	if in.Payload != nil {
		// payload is an object or a JSON string.
		p := strings.TrimSpace(string(*in.Payload))
		if p == "" || (p[0] != '{' && p[0] != '"') {
			writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\nFor 'properties/payload', "+p+" is not an object or a string.", nil)
			return
		}
	}
	env := deref(in.Environment)
	if env == "" {
		env = "production"
	}
	d := &Deployment{Ref: *in.Ref, Environment: env, Description: deref(in.Description), AutoMerge: in.AutoMerge == nil || *in.AutoMerge,
		RequiredContexts: *in.RequiredContexts, TransientEnvironment: in.Transient != nil && *in.Transient,
		ProductionEnvironment: env == "production", Creator: who.login}
	if in.Production != nil {
		d.ProductionEnvironment = *in.Production
	}
	if in.Payload != nil {
		d.Payload = *in.Payload
	}
	s.mu.Lock()
	s.nextID++
	d.ID = s.nextID
	s.deployments = append(s.deployments, d)
	out := s.deploymentJSON(r, d)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) createDeploymentStatus(w *recorder, r *http.Request, who identity, id int64) {
	if denied(w, who, "deployments") {
		return
	}
	var in struct {
		State, TargetURL, LogURL, Description, Environment, EnvironmentURL *string
		AutoInactive                                                       *bool
	}
	if !decode(w, r, fields{"state": &in.State, "target_url": &in.TargetURL, "log_url": &in.LogURL, "description": &in.Description,
		"environment": &in.Environment, "environment_url": &in.EnvironmentURL, "auto_inactive": &in.AutoInactive}) {
		return
	}
	var errs []fieldError
	switch {
	case in.State == nil:
		errs = append(errs, fieldError{Resource: "DeploymentStatus", Field: "state", Code: "missing_field"})
	case !slices.Contains(deploymentStates, *in.State):
		errs = append(errs, fieldError{Resource: "DeploymentStatus", Field: "state", Code: "invalid"})
	}
	errs = append(errs, descriptionTooLong("DeploymentStatus", deref(in.Description))...)
	for _, u := range []*string{in.LogURL, in.EnvironmentURL, in.TargetURL} {
		if u != nil && *u != "" && !isHTTPURL(*u) {
			errs = append(errs, fieldError{Resource: "DeploymentStatus", Field: "url", Code: "invalid"})
		}
	}
	if len(errs) > 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", errs)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.deployments, func(d *Deployment) bool { return d.ID == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	d := s.deployments[i]
	if in.Environment != nil && *in.Environment != "" {
		d.Environment = *in.Environment
	}
	st := DeploymentStatus{State: *in.State, Description: deref(in.Description), LogURL: deref(in.LogURL), EnvironmentURL: deref(in.EnvironmentURL)}
	if st.LogURL == "" {
		st.LogURL = deref(in.TargetURL)
	}
	d.Statuses = append(d.Statuses, st)
	if st.State == "success" && (in.AutoInactive == nil || *in.AutoInactive) {
		for _, e := range s.deployments[:i] {
			if e.Environment == d.Environment && !e.TransientEnvironment && !e.ProductionEnvironment && e.State() == "success" {
				e.Statuses = append(e.Statuses, DeploymentStatus{State: "inactive", Auto: true})
			}
		}
	}
	s.nextID++
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": s.nextID, "state": st.State, "description": st.Description, "log_url": st.LogURL, "target_url": st.LogURL,
		"environment": d.Environment, "environment_url": st.EnvironmentURL, "creator": map[string]any{"login": who.login},
		"deployment_url": fmt.Sprintf("%s/deployments/%d", s.apiBase(r), d.ID), "created_at": time.Now().UTC().Format(time.RFC3339),
	})
}

func (s *Server) deploymentJSON(r *http.Request, d *Deployment) map[string]any {
	var payload any = map[string]any{}
	if len(d.Payload) > 0 {
		payload = d.Payload
	}
	return map[string]any{
		"id": d.ID, "ref": d.Ref, "sha": d.Ref, "task": "deploy", "environment": d.Environment, "description": d.Description,
		"payload": payload, "creator": map[string]any{"login": d.Creator},
		"url":                    fmt.Sprintf("%s/deployments/%d", s.apiBase(r), d.ID),
		"statuses_url":           fmt.Sprintf("%s/deployments/%d/statuses", s.apiBase(r), d.ID),
		"transient_environment":  d.TransientEnvironment,
		"production_environment": d.ProductionEnvironment,
		"created_at":             time.Now().UTC().Format(time.RFC3339),
	}
}

func (s *Server) createCommitStatus(w *recorder, r *http.Request, who identity, _ int64) {
	if denied(w, who, "statuses") {
		return
	}
	sha := commitStatusRE.FindStringSubmatch(strings.TrimPrefix(r.URL.Path, "/api/v3"))[3]
	var in struct{ State, TargetURL, Description, Context *string }
	if !decode(w, r, fields{"state": &in.State, "target_url": &in.TargetURL, "description": &in.Description, "context": &in.Context}) {
		return
	}
	var errs []fieldError
	switch {
	case in.State == nil:
		errs = append(errs, fieldError{Resource: "Status", Field: "state", Code: "missing_field"})
	case !slices.Contains(commitStates, *in.State):
		errs = append(errs, fieldError{Resource: "Status", Field: "state", Code: "invalid"})
	}
	errs = append(errs, descriptionTooLong("Status", deref(in.Description))...)
	if u := deref(in.TargetURL); u != "" && !isHTTPURL(u) {
		errs = append(errs, fieldError{Resource: "Status", Field: "target_url", Code: "invalid"})
	}
	if len(errs) > 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", errs)
		return
	}
	if !shaRE.MatchString(sha) {
		writeError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+sha, nil)
		return
	}
	c := CommitStatus{SHA: sha, State: *in.State, Context: deref(in.Context), Description: deref(in.Description), TargetURL: deref(in.TargetURL), Creator: who.login}
	if c.Context == "" {
		c.Context = "default"
	}
	s.mu.Lock()
	s.statuses = append(s.statuses, c)
	s.nextID++
	id := s.nextID
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "state": c.State, "context": c.Context, "description": c.Description,
		"target_url": c.TargetURL, "creator": map[string]any{"login": who.login}, "url": fmt.Sprintf("%s/statuses/%s", s.apiBase(r), sha)})
}

func (s *Server) createRelease(w *recorder, r *http.Request, who identity, _ int64) {
	if denied(w, who, "contents") {
		return
	}
	var in struct {
		TagName, TargetCommitish, Name, Body, MakeLatest *string
		Draft, Prerelease, GenerateReleaseNotes          *bool
	}
	if !decode(w, r, fields{"tag_name": &in.TagName, "target_commitish": &in.TargetCommitish, "name": &in.Name, "body": &in.Body,
		"make_latest": &in.MakeLatest, "draft": &in.Draft, "prerelease": &in.Prerelease, "generate_release_notes": &in.GenerateReleaseNotes}) {
		return
	}
	if in.TagName == nil || *in.TagName == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", []fieldError{{Resource: "Release", Field: "tag_name", Code: "missing_field"}})
		return
	}
	if utf8.RuneCountInString(deref(in.Body)) > MaxReleaseBodyLength {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", []fieldError{{Resource: "Release", Field: "body", Code: "custom",
			Message: fmt.Sprintf("body is too long (maximum is %d characters)", MaxReleaseBodyLength)}})
		return
	}
	tag := *in.TagName
	if s.TagExists != nil && !s.TagExists(tag) {
		s.t.Errorf("githubtest: release of tag %s, which does not exist: GitHub would create it at %s", tag, cmpOr(deref(in.TargetCommitish), "the default branch"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.ContainsFunc(s.releases, func(x Release) bool { return x.Tag == tag }) {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed", []fieldError{{Resource: "Release", Field: "tag_name", Code: "already_exists"}})
		return
	}
	s.nextID++
	rel := Release{ID: s.nextID, Tag: tag, Name: deref(in.Name), Body: deref(in.Body), Prerelease: in.Prerelease != nil && *in.Prerelease, Draft: in.Draft != nil && *in.Draft}
	s.releases = append(s.releases, rel)
	writeJSON(w, http.StatusCreated, s.releaseJSON(r, rel))
}

func (s *Server) getReleaseByTag(w *recorder, r *http.Request, _ identity, _ int64) {
	raw := releaseByTagRE.FindStringSubmatch(strings.TrimPrefix(r.URL.EscapedPath(), "/api/v3"))[3]
	tag, err := url.PathUnescape(raw)
	if err != nil {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.releases, func(x Release) bool { return x.Tag == tag && !x.Draft })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	writeJSON(w, http.StatusOK, s.releaseJSON(r, s.releases[i]))
}

func (s *Server) releaseJSON(r *http.Request, rel Release) map[string]any {
	return map[string]any{
		"id": rel.ID, "tag_name": rel.Tag, "name": rel.Name, "body": rel.Body, "prerelease": rel.Prerelease, "draft": rel.Draft,
		"html_url": s.htmlBase(r) + "/releases/tag/" + url.PathEscape(rel.Tag),
		"url":      fmt.Sprintf("%s/releases/%d", s.apiBase(r), rel.ID),
	}
}

func descriptionTooLong(resource, d string) []fieldError {
	if utf8.RuneCountInString(d) <= MaxDescriptionLength {
		return nil
	}
	return []fieldError{{Resource: resource, Field: "description", Code: "custom",
		Message: fmt.Sprintf("description is too long (maximum is %d characters)", MaxDescriptionLength)}}
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
