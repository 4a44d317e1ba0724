package forge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gearshift-dev/gearshift/internal/forge"
)

const commit = "89abcdef0123456789abcdef0123456789abcdef"

// TestDeploymentLifecycle: a deployment of a commit, in_progress then
// success with its log and environment URLs; a description longer than
// GitHub's 140 characters is cut to fit rather than refused; the next
// success makes the first inactive.
func TestDeploymentLifecycle(t *testing.T) {
	g, srv, _ := newForge(t, token)
	ctx := context.Background()
	id, err := g.CreateDeployment(ctx, forge.Deployment{Ref: commit, Environment: "prod/gn3", Description: "gn3 0.0.12", Payload: map[string]string{"unit": "gn3"}})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a health check failed, and ", 10)
	for _, st := range []forge.DeploymentStatus{
		{State: forge.StateInProgress, LogURL: "https://github.com/acme/fleet/actions/runs/1"},
		{State: forge.StateSuccess, Description: long, LogURL: "https://github.com/acme/fleet/actions/runs/1", EnvironmentURL: "https://gn3.example.org"},
	} {
		if err := g.SetDeploymentStatus(ctx, id, st); err != nil {
			t.Fatalf("%s: %v", st.State, err)
		}
	}
	id2, err := g.CreateDeployment(ctx, forge.Deployment{Ref: commit, Environment: "prod/gn3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetDeploymentStatus(ctx, id2, forge.DeploymentStatus{State: forge.StateSuccess}); err != nil {
		t.Fatal(err)
	}
	ds := srv.Deployments()
	if len(ds) != 2 || ds[0].Ref != commit || ds[0].Environment != "prod/gn3" || string(ds[0].Payload) != `{"unit":"gn3"}` {
		t.Fatalf("deployments = %+v", ds)
	}
	st := ds[0].Statuses
	if len(st) != 3 || st[0].State != "in_progress" || st[1].State != "success" || st[2].State != "inactive" || !st[2].Auto {
		t.Fatalf("statuses = %+v, want in_progress, success, inactive", st)
	}
	if d := st[1].Description; utf8.RuneCountInString(d) != forge.MaxDescriptionLength || !strings.HasSuffix(d, "…") || !strings.HasPrefix(long, strings.TrimSuffix(d, "…")) {
		t.Errorf("description = %q (%d characters)", d, utf8.RuneCountInString(d))
	}
	if st[1].EnvironmentURL != "https://gn3.example.org" || st[1].LogURL != "https://github.com/acme/fleet/actions/runs/1" {
		t.Errorf("success status = %+v", st[1])
	}
}

// TestCommitStatusAndRelease: a commit status with a cut description; a
// release made once, found again by its tag; errors name the call and
// never the token.
func TestCommitStatusAndRelease(t *testing.T) {
	g, srv, _ := newForge(t, token)
	ctx := context.Background()
	if err := g.SetCommitStatus(ctx, commit, forge.CommitStatus{State: forge.StateFailure, Context: "gearshift/prod", Description: strings.Repeat("x", 300)}); err != nil {
		t.Fatal(err)
	}
	if cs := srv.CommitStatuses(); len(cs) != 1 || cs[0].State != "failure" || cs[0].Context != "gearshift/prod" || utf8.RuneCountInString(cs[0].Description) != 140 {
		t.Errorf("commit statuses = %+v", cs)
	}
	r, created, err := g.EnsureRelease(ctx, forge.Release{Tag: "prod-20261122-89abcdef", Name: "prod", Body: "notes"})
	if err != nil || !created || !strings.HasSuffix(r.URL, "/acme/fleet/releases/tag/prod-20261122-89abcdef") {
		t.Fatalf("EnsureRelease = %+v, %v, %v", r, created, err)
	}
	r, created, err = g.EnsureRelease(ctx, forge.Release{Tag: "prod-20261122-89abcdef", Name: "prod", Body: "other notes"})
	if err != nil || created || r.Body != "notes" {
		t.Errorf("second EnsureRelease = %+v, %v, %v; want the first kept", r, created, err)
	}
	if n := len(srv.Releases()); n != 1 {
		t.Errorf("%d releases, want 1", n)
	}

	bad, _, _ := newForge(t, "ghp_wrong_token_0123456789")
	_, err = bad.CreateDeployment(ctx, forge.Deployment{Ref: commit, Environment: "prod"})
	if !errors.Is(err, forge.ErrUnauthorized) || !strings.Contains(err.Error(), "create deployment of 89abcdef0123 to prod in acme/fleet") || strings.Contains(err.Error(), "ghp_wrong") {
		t.Errorf("refused deployment: %v", err)
	}
	if _, err := g.CreateDeployment(ctx, forge.Deployment{Environment: "prod"}); err == nil {
		t.Error("a deployment without a ref was sent")
	}
}
