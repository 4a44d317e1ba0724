package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/google/go-github/v92/github"
)

// MaxDescriptionLength is the longest description GitHub accepts on a
// deployment status or a commit status, in characters (422 beyond).
const MaxDescriptionLength = 140

// TruncateDescription returns d unchanged if it has at most
// MaxDescriptionLength characters, and otherwise cut to fit with an
// ellipsis.
func TruncateDescription(d string) string {
	if utf8.RuneCountInString(d) <= MaxDescriptionLength {
		return d
	}
	r := []rune(d)
	return string(r[:MaxDescriptionLength-1]) + "…"
}

// Deployment is a deployment to record on GitHub's Environments page.
type Deployment struct {
	// Ref is the branch, tag or commit SHA deployed (the state commit).
	Ref         string
	Environment string
	Description string
	// Payload is extra JSON data about the deployment (the units and
	// versions); it is shown by the API, not the page.
	Payload any
}

// Deployment states GitHub accepts on a deployment status.
const (
	StateInProgress = "in_progress"
	StateSuccess    = "success"
	StateFailure    = "failure"
	StateError      = "error"
	StateInactive   = "inactive"
	StatePending    = "pending"
	StateQueued     = "queued"
)

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	State       string
	Description string
	// LogURL is where the deployment's log is (the Actions run).
	LogURL string
	// EnvironmentURL is where what was deployed serves.
	EnvironmentURL string
}

// CreateDeployment records a deployment and returns its id. It never asks
// GitHub to merge the default branch into ref (auto_merge false) nor to
// wait for commit statuses (required_contexts empty): gearshift records
// what it deployed, it does not gate it.
func (g *GitHub) CreateDeployment(ctx context.Context, d Deployment) (int64, error) {
	if d.Ref == "" || d.Environment == "" {
		return 0, errors.New("a deployment needs a ref and an environment")
	}
	req := github.DeploymentRequest{
		Ref:              d.Ref,
		AutoMerge:        github.Ptr(false),
		RequiredContexts: []string{},
		Environment:      github.Ptr(d.Environment),
		Payload:          d.Payload,
	}
	if d.Description != "" {
		req.Description = github.Ptr(TruncateDescription(d.Description))
	}
	var dep *github.Deployment
	var resp *github.Response
	err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
		var err error
		dep, resp, err = g.client.Repositories.CreateDeployment(ctx, g.owner, g.repo, req)
		return resp, err
	})
	if err != nil {
		return 0, fmt.Errorf("create deployment of %s to %s in %s/%s%s: %w", shortRef(d.Ref), d.Environment, g.owner, g.repo, needs(err, "deployments: write"), err)
	}
	if resp != nil && resp.StatusCode == http.StatusAccepted || dep.GetID() == 0 {
		// 202: GitHub merged the default branch instead; never asked for.
		return 0, fmt.Errorf("create deployment of %s to %s in %s/%s: GitHub made no deployment", shortRef(d.Ref), d.Environment, g.owner, g.repo)
	}
	g.log.Debug("created deployment", "repo", g.owner+"/"+g.repo, "id", dep.GetID(), "environment", d.Environment)
	return dep.GetID(), nil
}

// SetDeploymentStatus adds a status to deployment id. A success makes the
// environment's earlier deployments inactive (auto_inactive).
func (g *GitHub) SetDeploymentStatus(ctx context.Context, id int64, s DeploymentStatus) error {
	req := github.DeploymentStatusRequest{State: s.State}
	if s.Description != "" {
		req.Description = github.Ptr(TruncateDescription(s.Description))
	}
	if s.LogURL != "" {
		req.LogURL = github.Ptr(s.LogURL)
	}
	if s.EnvironmentURL != "" {
		req.EnvironmentURL = github.Ptr(s.EnvironmentURL)
	}
	if s.State == StateSuccess {
		req.AutoInactive = github.Ptr(true)
	}
	err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
		_, resp, err := g.client.Repositories.CreateDeploymentStatus(ctx, g.owner, g.repo, id, req)
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("set deployment %d %s in %s/%s%s: %w", id, s.State, g.owner, g.repo, needs(err, "deployments: write"), err)
	}
	return nil
}

// CommitStatus is a status on a commit (the checks list of the commit).
type CommitStatus struct {
	// State is pending, success, failure or error.
	State       string
	Context     string
	Description string
	TargetURL   string
}

// SetCommitStatus sets the status of context on commit sha.
func (g *GitHub) SetCommitStatus(ctx context.Context, sha string, s CommitStatus) error {
	if sha == "" {
		return errors.New("a commit status needs a commit")
	}
	st := github.RepoStatus{State: github.Ptr(s.State), Context: github.Ptr(s.Context)}
	if s.Description != "" {
		st.Description = github.Ptr(TruncateDescription(s.Description))
	}
	if s.TargetURL != "" {
		st.TargetURL = github.Ptr(s.TargetURL)
	}
	err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
		_, resp, err := g.client.Repositories.CreateStatus(ctx, g.owner, g.repo, sha, st)
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("set status %s of %s in %s/%s%s: %w", s.Context, shortRef(sha), g.owner, g.repo, needs(err, "statuses: write"), err)
	}
	return nil
}

// Release is a GitHub release of a tag.
type Release struct {
	Tag        string
	Name       string
	Body       string
	Prerelease bool
	// URL is set by the forge: the release's page.
	URL string
}

// ReleaseByTag returns the release of tag, and whether there is one.
func (g *GitHub) ReleaseByTag(ctx context.Context, tag string) (Release, bool, error) {
	var rel *github.RepositoryRelease
	var resp *github.Response
	err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
		var err error
		rel, resp, err = g.client.Repositories.GetReleaseByTag(ctx, g.owner, g.repo, tag)
		return resp, err
	})
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return Release{}, false, nil
	}
	if err != nil {
		return Release{}, false, fmt.Errorf("release of %s in %s/%s: %w", tag, g.owner, g.repo, err)
	}
	return Release{Tag: rel.GetTagName(), Name: rel.GetName(), Body: rel.GetBody(), Prerelease: rel.GetPrerelease(), URL: rel.GetHTMLURL()}, true, nil
}

// EnsureRelease publishes the release of r.Tag, which must exist, unless
// one exists already (it is left as it is: a release, like its tag, is
// made once). The bool reports whether it was created now.
func (g *GitHub) EnsureRelease(ctx context.Context, r Release) (Release, bool, error) {
	if existing, ok, err := g.ReleaseByTag(ctx, r.Tag); err != nil || ok {
		return existing, false, err
	}
	req := github.CreateReleaseRequest{
		TagName:    r.Tag,
		Name:       github.Ptr(TruncateTitle(r.Name)),
		Body:       github.Ptr(Truncate(r.Body, MaxBodyLength, g.hint)),
		Prerelease: github.Ptr(r.Prerelease),
		Draft:      github.Ptr(false),
	}
	var rel *github.RepositoryRelease
	err := g.call(ctx, func(ctx context.Context) (*github.Response, error) {
		var resp *github.Response
		var err error
		rel, resp, err = g.client.Repositories.CreateRelease(ctx, g.owner, g.repo, req)
		return resp, err
	})
	if err != nil {
		return Release{}, false, fmt.Errorf("create release %s in %s/%s%s: %w", r.Tag, g.owner, g.repo, needs(err, "contents: write"), err)
	}
	r.URL = rel.GetHTMLURL()
	g.log.Debug("created release", "repo", g.owner+"/"+g.repo, "tag", r.Tag)
	return r, true, nil
}

// Repository is owner/repo.
func (g *GitHub) Repository() string { return g.owner + "/" + g.repo }

// needs names the permission a refused call lacks, for the message.
func needs(err error, permission string) string {
	if errors.Is(err, ErrForbidden) {
		return " (the token needs " + permission + ")"
	}
	return ""
}

func shortRef(ref string) string {
	if len(ref) == 40 {
		return ref[:12]
	}
	return ref
}
