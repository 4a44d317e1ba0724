package forge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/forge"
	"github.com/gearshift-dev/gearshift/internal/forge/githubtest"
)

const (
	owner = "acme"
	repo  = "fleet"
	token = "ghs_s3cr3tT0kenThatMustNeverLeak42"
)

// newForge starts a fake GitHub and a client of it whose debug log goes to
// the returned buffer, so tests can check that the token never reaches it.
func newForge(t *testing.T, clientToken string, opts ...forge.Option) (*forge.GitHub, *githubtest.Server, *bytes.Buffer) {
	t.Helper()
	srv := githubtest.New(t, owner, repo, token)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]forge.Option{forge.WithBaseURL(srv.URL), forge.WithLogger(log)}, opts...)
	g, err := forge.NewGitHub(owner, repo, clientToken, opts...)
	if err != nil {
		t.Fatalf("NewGitHub: %v", err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), clientToken) || strings.Contains(logs.String(), token) {
			t.Errorf("the log holds the token:\n%s", logs.String())
		}
	})
	return g, srv, &logs
}

func requests(srv *githubtest.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		out = append(out, fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status))
	}
	return out
}

func TestEnsurePullRequestTwiceUpdates(t *testing.T) {
	ctx := context.Background()
	g, srv, _ := newForge(t, token)

	first, created, err := g.EnsurePullRequest(ctx, forge.PullRequest{
		Branch: "gearshift/bump-billing", Base: "main", Title: "bump billing to v1.2.0", Body: "first",
	})
	if err != nil || !created {
		t.Fatalf("first EnsurePullRequest = created %v, %v, want created", created, err)
	}
	want := forge.PullRequest{
		Number: 1, URL: first.URL, Branch: "gearshift/bump-billing", Base: "main",
		Title: "bump billing to v1.2.0", Body: "first",
	}
	if diff := cmp.Diff(first, want); diff != "" {
		t.Errorf("first PR (-got +want):\n%s", diff)
	}
	if !strings.HasSuffix(first.URL, "/acme/fleet/pull/1") {
		t.Errorf("PR URL = %q, want it to end in /acme/fleet/pull/1", first.URL)
	}

	second, created, err := g.EnsurePullRequest(ctx, forge.PullRequest{
		Branch: "gearshift/bump-billing", Base: "main", Title: "bump billing to v1.3.0", Body: "second",
	})
	if err != nil || created {
		t.Fatalf("second EnsurePullRequest = created %v, %v, want updated", created, err)
	}
	if second.Number != 1 || second.Title != "bump billing to v1.3.0" || second.Body != "second" {
		t.Errorf("second PR = %+v, want #1 with the new title and body", second)
	}

	// The same content again changes nothing and sends no edit.
	if _, created, err := g.EnsurePullRequest(ctx, forge.PullRequest{
		Branch: "gearshift/bump-billing", Base: "main", Title: "bump billing to v1.3.0", Body: "second",
	}); err != nil || created {
		t.Fatalf("third EnsurePullRequest = created %v, %v, want unchanged", created, err)
	}

	wantPRs := []githubtest.PullRequest{{Number: 1, State: "open", Head: "gearshift/bump-billing", Base: "main",
		Title: "bump billing to v1.3.0", Body: "second"}}
	if diff := cmp.Diff(srv.PullRequests(), wantPRs); diff != "" {
		t.Errorf("PRs on the server (-got +want):\n%s", diff)
	}
	wantReqs := []string{
		"GET /repos/acme/fleet/pulls 200",
		"POST /repos/acme/fleet/pulls 201",
		"GET /repos/acme/fleet/pulls 200",
		"PATCH /repos/acme/fleet/pulls/1 200",
		"GET /repos/acme/fleet/pulls 200",
	}
	if diff := cmp.Diff(requests(srv), wantReqs); diff != "" {
		t.Errorf("requests (-got +want):\n%s", diff)
	}
	if q, _ := url.ParseQuery(srv.Requests()[0].Query); q.Get("head") != "acme:gearshift/bump-billing" || q.Get("state") != "open" {
		t.Errorf("list query = %q, want state=open and head=acme:gearshift/bump-billing", srv.Requests()[0].Query)
	}
}

func TestEnsurePullRequestLeavesOtherBranchesAlone(t *testing.T) {
	ctx := context.Background()
	g, srv, _ := newForge(t, token)
	mustEnsure := func(pr forge.PullRequest) forge.PullRequest {
		t.Helper()
		got, _, err := g.EnsurePullRequest(ctx, pr)
		if err != nil {
			t.Fatalf("EnsurePullRequest(%s): %v", pr.Branch, err)
		}
		return got
	}
	mustEnsure(forge.PullRequest{Branch: "bump-a", Base: "main", Title: "a"})
	mustEnsure(forge.PullRequest{Branch: "bump-b", Base: "main", Title: "b"})
	// A PR of the branch into another base is moved, not duplicated.
	moved := mustEnsure(forge.PullRequest{Branch: "bump-a", Base: "release", Title: "a for release"})
	if moved.Number != 1 || moved.Base != "release" {
		t.Errorf("PR after a base change = %+v, want #1 into release", moved)
	}
	want := []githubtest.PullRequest{
		{Number: 1, State: "open", Head: "bump-a", Base: "release", Title: "a for release"},
		{Number: 2, State: "open", Head: "bump-b", Base: "main", Title: "b"},
	}
	if diff := cmp.Diff(srv.PullRequests(), want); diff != "" {
		t.Errorf("PRs on the server (-got +want):\n%s", diff)
	}
}

func TestEnsurePullRequestRefusesIncompleteInput(t *testing.T) {
	g, srv, _ := newForge(t, token)
	for _, pr := range []forge.PullRequest{
		{Base: "main", Title: "t"},
		{Branch: "b", Title: "t"},
		{Branch: "b", Base: "main", Title: "  "},
		{Branch: "main", Base: "main", Title: "t"},
	} {
		if _, _, err := g.EnsurePullRequest(context.Background(), pr); err == nil {
			t.Errorf("EnsurePullRequest(%+v) succeeded, want an error", pr)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent for invalid input, want none", n)
	}
}

func TestUpsertCommentTwiceEdits(t *testing.T) {
	ctx := context.Background()
	g, srv, _ := newForge(t, token)
	pr, _, err := g.EnsurePullRequest(ctx, forge.PullRequest{Branch: "b", Base: "main", Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	srv.AddComment(pr.Number, "reviewer", "LGTM")
	// A reply quoting our comment carries the marker but is not ours.
	srv.AddComment(pr.Number, "reviewer", "> <!-- gearshift:plan:prod -->\n> plan: 1 to deploy")

	if err := g.UpsertComment(ctx, pr.Number, "plan:prod", "plan: 1 to deploy"); err != nil {
		t.Fatalf("first UpsertComment: %v", err)
	}
	if err := g.UpsertComment(ctx, pr.Number, "plan:prod", "plan: 2 to deploy"); err != nil {
		t.Fatalf("second UpsertComment: %v", err)
	}
	if err := g.UpsertComment(ctx, pr.Number, "plan:dev", "plan: no changes"); err != nil {
		t.Fatalf("UpsertComment with another marker: %v", err)
	}

	var ours []string
	for _, c := range srv.Comments(pr.Number) {
		if c.Author == srv.Login {
			ours = append(ours, c.Body)
		}
	}
	want := []string{
		"<!-- gearshift:plan:prod -->\nplan: 2 to deploy",
		"<!-- gearshift:plan:dev -->\nplan: no changes",
	}
	if diff := cmp.Diff(ours, want); diff != "" {
		t.Errorf("our comments (-got +want):\n%s", diff)
	}
	if got := srv.Comments(pr.Number)[1].Body; !strings.HasPrefix(got, "> ") {
		t.Errorf("the quoting reply was changed to %q", got)
	}
	var edits int
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPatch && strings.Contains(r.Path, "/issues/comments/") {
			edits++
		}
	}
	if edits != 1 {
		t.Errorf("%d comment edits, want 1", edits)
	}
}

func TestUpsertCommentTruncatesLongBody(t *testing.T) {
	ctx := context.Background()
	g, srv, _ := newForge(t, token, forge.WithTruncationHint("The full plan is in the step summary of https://example.test/runs/7."))
	n := srv.AddIssue()
	long := strings.Repeat("- deploy unit-0000 v1.0.0 -> v1.0.1\n", 70000/36+1)[:70000]

	if err := g.UpsertComment(ctx, n, "plan:prod", long); err != nil {
		t.Fatalf("UpsertComment(70,000 chars): %v", err)
	}
	comments := srv.Comments(n)
	if len(comments) != 1 {
		t.Fatalf("%d comments, want 1", len(comments))
	}
	body := comments[0].Body
	if len(body) >= githubtest.MaxBodyLength {
		t.Errorf("comment is %d characters, want fewer than %d", len(body), githubtest.MaxBodyLength)
	}
	for _, s := range []string{"<!-- gearshift:plan:prod -->\n- deploy", "**Truncated**", "https://example.test/runs/7"} {
		if !strings.Contains(body, s) {
			t.Errorf("truncated comment lacks %q", s)
		}
	}

	// A long PR body is truncated too, not refused.
	if _, _, err := g.EnsurePullRequest(ctx, forge.PullRequest{Branch: "b", Base: "main", Title: "t", Body: long}); err != nil {
		t.Fatalf("EnsurePullRequest(70,000 chars): %v", err)
	}
	if got := len(srv.PullRequests()[0].Body); got >= githubtest.MaxBodyLength {
		t.Errorf("PR body is %d characters, want fewer than %d", got, githubtest.MaxBodyLength)
	}
}

func TestUpsertCommentFindsMarkerOnLaterPage(t *testing.T) {
	ctx := context.Background()
	g, srv, _ := newForge(t, token)
	n := srv.AddIssue()
	for i := range 150 {
		if i == 130 {
			srv.AddComment(n, srv.Login, "<!-- gearshift:plan:prod -->\nold plan")
			continue
		}
		srv.AddComment(n, "someone", fmt.Sprintf("comment %d", i))
	}
	if err := g.UpsertComment(ctx, n, "plan:prod", "new plan"); err != nil {
		t.Fatalf("UpsertComment: %v", err)
	}
	comments := srv.Comments(n)
	if len(comments) != 150 {
		t.Errorf("%d comments, want 150 (the marked one edited, none added)", len(comments))
	}
	if got := comments[130].Body; got != "<!-- gearshift:plan:prod -->\nnew plan" {
		t.Errorf("marked comment = %q, want it edited", got)
	}
	var pages []string
	for _, r := range srv.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/comments") {
			q, _ := url.ParseQuery(r.Query)
			pages = append(pages, q.Get("page"))
		}
	}
	if diff := cmp.Diff(pages, []string{"", "2"}); diff != "" {
		t.Errorf("pages read (-got +want):\n%s", diff)
	}
}

func TestWrongTokenNeverLeaks(t *testing.T) {
	ctx := context.Background()
	const wrong = "ghp_wr0ngT0kenButStillSecret99"
	g, srv, logs := newForge(t, wrong)
	n := srv.AddIssue()

	_, _, prErr := g.EnsurePullRequest(ctx, forge.PullRequest{Branch: "b", Base: "main", Title: "t"})
	commentErr := g.UpsertComment(ctx, n, "plan:prod", "body")
	for name, err := range map[string]error{"EnsurePullRequest": prErr, "UpsertComment": commentErr} {
		if err == nil {
			t.Errorf("%s with a wrong token succeeded", name)
			continue
		}
		if !errors.Is(err, forge.ErrUnauthorized) {
			t.Errorf("%s error = %v, want ErrUnauthorized", name, err)
		}
		if msg := fmt.Sprintf("%v %+v %#v", err, err, err); strings.Contains(msg, wrong) || strings.Contains(msg, token) {
			t.Errorf("%s error holds the token: %s", name, msg)
		}
		if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "Bad credentials") {
			t.Errorf("%s error = %q, want it to say 401 Bad credentials", name, err)
		}
	}
	if strings.Contains(logs.String(), wrong) {
		t.Errorf("the log holds the token:\n%s", logs)
	}
	if len(srv.PullRequests()) != 0 || len(srv.Comments(n)) != 0 {
		t.Errorf("a request with a wrong token changed state")
	}
}

func TestNewGitHubRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name         string
		owner, repo  string
		token        string
		opts         []forge.Option
		wantContains string
	}{
		{name: "no token", owner: "o", repo: "r", wantContains: "no github token"},
		{name: "token with a newline", owner: "o", repo: "r", token: token + "\n", wantContains: "white space"},
		{name: "bad repository", owner: "o/x", repo: "r", token: token, wantContains: "invalid repository"},
		{name: "credentials in the URL", owner: "o", repo: "r", token: token,
			opts: []forge.Option{forge.WithBaseURL("https://x:" + token + "@ghe.example.test/api/v3/")}, wantContains: "must not carry credentials"},
		{name: "not a URL", owner: "o", repo: "r", token: token,
			opts: []forge.Option{forge.WithBaseURL("ghe.example.test")}, wantContains: "invalid github base url"},
		{name: "unparsable URL with credentials", owner: "o", repo: "r", token: token,
			opts: []forge.Option{forge.WithBaseURL("https://x:" + token + "@ghe example/\x7f")}, wantContains: "invalid github base url"},
		{name: "zero timeout", owner: "o", repo: "r", token: token,
			opts: []forge.Option{forge.WithTimeout(0)}, wantContains: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := forge.NewGitHub(tt.owner, tt.repo, tt.token, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.wantContains) {
				t.Fatalf("NewGitHub error = %v, want one containing %q", err, tt.wantContains)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("NewGitHub error holds the token: %v", err)
			}
		})
	}
}

func TestRequestTimeout(t *testing.T) {
	g, _, _ := newForge(t, token, forge.WithTimeout(time.Nanosecond))
	_, _, err := g.EnsurePullRequest(context.Background(), forge.PullRequest{Branch: "b", Base: "main", Title: "t"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("EnsurePullRequest with a 1ns timeout = %v, want context.DeadlineExceeded", err)
	}
}

func TestCancelledContext(t *testing.T) {
	g, _, _ := newForge(t, token)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.UpsertComment(ctx, 1, "plan:prod", "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("UpsertComment on a cancelled context = %v, want context.Canceled", err)
	}
}

// TestUpsertCommentLeavesOthersMarkedCommentAlone: a comment someone else
// wrote to start with gearshift's marker is neither edited (it would put
// the plan under their name, or fail with 403 and lose the plan) nor taken
// as ours; gearshift writes its own.
func TestUpsertCommentLeavesOthersMarkedCommentAlone(t *testing.T) {
	ctx := context.Background()
	g, srv, _ := newForge(t, token)
	n := srv.AddIssue()
	const forged = "<!-- gearshift:plan:prod -->\nplan: nothing to do, merge away"
	srv.AddComment(n, "mallory", forged)

	for _, body := range []string{"plan: 1 to deploy", "plan: 2 to deploy"} {
		if err := g.UpsertComment(ctx, n, "plan:prod", body); err != nil {
			t.Fatalf("UpsertComment(%q): %v", body, err)
		}
	}
	want := []githubtest.Comment{
		{ID: 1000, Issue: n, Author: "mallory", Body: forged},
		{ID: 1001, Issue: n, Author: srv.Login, Body: "<!-- gearshift:plan:prod -->\nplan: 2 to deploy"},
	}
	if diff := cmp.Diff(srv.Comments(n), want); diff != "" {
		t.Errorf("comments (-got +want):\n%s", diff)
	}
	var users int
	for _, r := range srv.Requests() {
		if r.Path == "/user" {
			users++
		}
	}
	if users != 1 {
		t.Errorf("GET /user sent %d times, want once per client", users)
	}
}

// TestIdentity: the identity comes from WithLogin, else GET /user, else
// (for an installation token, to which GET /user answers 403) the
// fallback; without one gearshift refuses to guess and writes nothing.
func TestIdentity(t *testing.T) {
	const appToken = "ghs_installationT0kenNeverPrinted7"
	tests := []struct {
		name      string
		token     string
		opts      []forge.Option
		wantLogin string
		wantErr   error
	}{
		{"token's user", token, nil, "gearshift-bot", nil},
		{"override", token, []forge.Option{forge.WithLogin("gearshift-app[bot]")}, "gearshift-app[bot]", nil},
		{"installation token in Actions", appToken, []forge.Option{forge.WithFallbackLogin("github-actions[bot]")}, "github-actions[bot]", nil},
		{"installation token, override wins", appToken,
			[]forge.Option{forge.WithLogin("gearshift-app[bot]"), forge.WithFallbackLogin("github-actions[bot]")}, "gearshift-app[bot]", nil},
		{"installation token, nobody to assume", appToken, nil, "", forge.ErrUnknownIdentity},
		{"wrong token", "ghp_wr0ngT0kenButStillSecret99", nil, "", forge.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			g, srv, _ := newForge(t, tt.token, tt.opts...)
			srv.AddAppToken(appToken, "github-actions[bot]")
			n := srv.AddIssue()
			srv.AddComment(n, "someone", "<!-- gearshift:plan:dev -->\nnot ours")

			login, err := g.Identity(ctx)
			if !errors.Is(err, tt.wantErr) || login != tt.wantLogin {
				t.Fatalf("Identity = %q, %v; want %q, %v", login, err, tt.wantLogin, tt.wantErr)
			}
			err = g.UpsertComment(ctx, n, "plan:dev", "plan")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("UpsertComment = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), appToken) {
					t.Errorf("error holds the token: %v", err)
				}
				if got := len(srv.Comments(n)); got != 1 {
					t.Errorf("%d comments after a failed upsert, want only the other one", got)
				}
				return
			}
			comments := srv.Comments(n)
			if len(comments) != 2 || comments[0].Body != "<!-- gearshift:plan:dev -->\nnot ours" {
				t.Errorf("comments = %+v, want the other's untouched and one of ours", comments)
			}
		})
	}
}

// TestEnsurePullRequestCutsLongTitle: GitHub refuses a title over 256
// characters (the fake too); a long title is cut instead, and a second run
// with the same title changes nothing.
func TestEnsurePullRequestCutsLongTitle(t *testing.T) {
	ctx := context.Background()
	g, srv, _ := newForge(t, token)
	long := "Bump " + strings.Repeat("é", 300)
	for range 2 {
		if _, _, err := g.EnsurePullRequest(ctx, forge.PullRequest{Branch: "b", Base: "main", Title: long}); err != nil {
			t.Fatalf("EnsurePullRequest with a 305-character title: %v", err)
		}
	}
	prs := srv.PullRequests()
	if len(prs) != 1 {
		t.Fatalf("%d pull requests, want 1", len(prs))
	}
	if got := []rune(prs[0].Title); len(got) != forge.MaxTitleLength || got[len(got)-1] != '…' || !strings.HasPrefix(prs[0].Title, "Bump é") {
		t.Errorf("title of %d characters %q, want %d ending in …", len(got), prs[0].Title, forge.MaxTitleLength)
	}
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPatch {
			t.Errorf("the unchanged title was sent again: %s %s", r.Method, r.Path)
		}
	}
}
