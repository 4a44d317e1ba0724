// Package gitserver runs a real git smart-HTTP server on 127.0.0.1 for tests.
//
// The server is Debian's git-http-backend behind net/http/cgi, so clones,
// fetches, pushes and tag listings speak the same protocol as a forge does.
// HTTP basic auth is checked by the Go handler in front of the backend: the
// username may be anything (x-access-token by convention) and the password
// must be the token the server was created with. A missing or wrong token
// gets 401 with a WWW-Authenticate challenge, as GitHub does. Every request
// is recorded with the Authorization header it carried (Received), so a test can
// tell exactly which server was handed which credential; the log is kept in
// memory and never printed.
//
// Repositories are set up with the git command line, always as argv lists
// and never through a shell, with a hermetic configuration (no global or
// system config is read). The package must never be imported outside tests.
package gitserver

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a git smart-HTTP server for one test. It is closed by t.Cleanup.
type Server struct {
	t        testing.TB
	token    string
	root     string // GIT_PROJECT_ROOT: one bare repository per <name>.git
	work     string // scratch space for the git command line
	gitEnv   []string
	http     *httptest.Server
	requests atomic.Int64
	refused  atomic.Int64

	logMu sync.Mutex
	log   []Request

	mu sync.Mutex // serialises repository edits made through the helpers
}

// Request is one HTTP request the server received.
type Request struct {
	Method string
	// Host is the Host header: the name the client used for the server
	// (127.0.0.1 or localhost, say).
	Host string
	Path string
	// Authorization is the header as received ("" when there was none).
	Authorization string
	// Status is 401 for a refused request, else 0 (answered by git).
	Status int
}

// commandTimeout bounds every git process the helpers start.
const commandTimeout = 60 * time.Second

// New starts a server that accepts token as the basic-auth password. An empty
// token makes the server anonymous: every request is served.
func New(t testing.TB, token string) *Server {
	t.Helper()
	backend, err := httpBackend()
	if err != nil {
		t.Skipf("git http-backend not available: %v", err)
	}
	dir := t.TempDir()
	s := &Server{
		t:     t,
		token: token,
		root:  filepath.Join(dir, "repos"),
		work:  filepath.Join(dir, "work"),
	}
	home := filepath.Join(dir, "home")
	for _, d := range []string{s.root, s.work, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.gitEnv = []string{
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_AUTHOR_NAME=gitserver", "GIT_AUTHOR_EMAIL=gitserver@example.invalid",
		"GIT_COMMITTER_NAME=gitserver", "GIT_COMMITTER_EMAIL=gitserver@example.invalid",
		"GIT_TERMINAL_PROMPT=0",
	}
	cgiEnv := append([]string{
		"GIT_PROJECT_ROOT=" + s.root,
		"GIT_HTTP_EXPORT_ALL=1",
		// Configuration through the environment (git >= 2.31): pushes over
		// HTTP are refused by http-backend unless receivepack is enabled.
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http.receivepack",
		"GIT_CONFIG_VALUE_0=true",
	}, s.gitEnv...)
	backendHandler := &cgi.Handler{
		Path:   backend,
		Root:   "/",
		Dir:    s.root,
		Env:    cgiEnv,
		Stderr: testWriter{t},
	}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		req := Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, Authorization: r.Header.Get("Authorization")}
		defer func() {
			s.logMu.Lock()
			s.log = append(s.log, req)
			s.logMu.Unlock()
		}()
		if !s.authorized(r) {
			req.Status = http.StatusUnauthorized
			s.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backendHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(s.http.Close)
	return s
}

// httpBackend finds git-http-backend in git's exec path.
func httpBackend() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "--exec-path").Output()
	if err != nil {
		return "", err
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

func (s *Server) authorized(r *http.Request) bool {
	if s.token == "" {
		return true
	}
	_, password, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(password), []byte(s.token)) == 1
}

// URL is the clone URL of repository repo (no credentials in it).
func (s *Server) URL(repo string) string {
	return s.http.URL + "/" + repo + ".git"
}

// Requests is the number of HTTP requests served so far, refused ones
// included: each is one round trip of a git client.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Received returns every request received so far, in order.
func (s *Server) Received() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]Request(nil), s.log...)
}

// Refused is the number of requests answered 401.
func (s *Server) Refused() int { return int(s.refused.Load()) }

// Path is the directory of the bare repository repo on disk, for assertions.
func (s *Server) Path(repo string) string { return filepath.Join(s.root, repo+".git") }

// CreateRepo creates the bare repository repo whose branch (which also
// becomes HEAD) holds one commit with files (path -> content). It returns
// the commit hash.
func (s *Server) CreateRepo(repo, branch string, files map[string]string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	bare := s.Path(repo)
	if _, err := os.Stat(bare); err == nil {
		s.t.Fatalf("gitserver: repository %s exists", repo)
	}
	s.git("", "init", "--quiet", "--bare", "--initial-branch="+branch, bare)
	work, err := os.MkdirTemp(s.work, repo+"-")
	if err != nil {
		s.t.Fatal(err)
	}
	defer os.RemoveAll(work)
	s.git(work, "init", "--quiet", "--initial-branch="+branch)
	s.writeFiles(work, files)
	s.git(work, "add", "--all")
	s.git(work, "commit", "--quiet", "--allow-empty", "-m", "initial commit")
	s.git(work, "push", "--quiet", bare, "HEAD:refs/heads/"+branch)
	return strings.TrimSpace(s.git(bare, "rev-parse", "refs/heads/"+branch))
}

// Commit adds a commit on branch of repo that writes files (path ->
// content), as if someone else had pushed it, and returns its hash.
func (s *Server) Commit(repo, branch, message string, files map[string]string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	bare := s.Path(repo)
	work, err := os.MkdirTemp(s.work, repo+"-")
	if err != nil {
		s.t.Fatal(err)
	}
	defer os.RemoveAll(work)
	s.git("", "clone", "--quiet", "--branch", branch, bare, work)
	s.writeFiles(work, files)
	s.git(work, "add", "--all")
	s.git(work, "commit", "--quiet", "--allow-empty", "-m", message)
	s.git(work, "push", "--quiet", "origin", "HEAD:refs/heads/"+branch)
	return strings.TrimSpace(s.git(bare, "rev-parse", "refs/heads/"+branch))
}

// Tag creates the lightweight tag tag on ref (a branch, tag or commit) of repo.
func (s *Server) Tag(repo, tag, ref string) {
	s.t.Helper()
	s.Tags(repo, ref, tag)
}

// AnnotatedTag creates the annotated tag tag on ref of repo.
func (s *Server) AnnotatedTag(repo, tag, ref, message string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.git(s.Path(repo), "tag", "--annotate", "-m", message, tag, ref)
}

// Tags creates many lightweight tags on ref of repo with one git process, so
// that a benchmark can set up thousands of tags quickly.
func (s *Server) Tags(repo, ref string, tags ...string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	bare := s.Path(repo)
	hash := strings.TrimSpace(s.git(bare, "rev-parse", "--verify", ref+"^{commit}"))
	var in bytes.Buffer
	for _, tag := range tags {
		fmt.Fprintf(&in, "create refs/tags/%s %s\n", tag, hash)
	}
	s.gitStdin(bare, &in, "update-ref", "--stdin")
}

// Head is the commit hash ref of repo points at.
func (s *Server) Head(repo, ref string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(s.git(s.Path(repo), "rev-parse", "--verify", ref+"^{commit}"))
}

// File is the content of path at ref of repo; ok is false when the file
// does not exist there.
func (s *Server) File(repo, ref, path string) (content string, ok bool) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := s.run(s.Path(repo), nil, "show", ref+":"+path)
	if err != nil {
		return "", false
	}
	return out, true
}

// Log is the list of commit subjects reachable from ref of repo, newest first.
func (s *Server) Log(repo, ref string) []string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := strings.TrimSpace(s.git(s.Path(repo), "log", "--format=%s", ref))
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// Fsck fails the test when repo holds a malformed object (a tree out of
// order, a bad commit header): the objects a client built are checked by
// git itself.
func (s *Server) Fsck(repo string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.git(s.Path(repo), "fsck", "--strict", "--no-progress")
}

func (s *Server) writeFiles(dir string, files map[string]string) {
	s.t.Helper()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *Server) git(dir string, args ...string) string {
	s.t.Helper()
	return s.gitStdin(dir, nil, args...)
}

func (s *Server) gitStdin(dir string, stdin *bytes.Buffer, args ...string) string {
	s.t.Helper()
	out, err := s.run(dir, stdin, args...)
	if err != nil {
		s.t.Fatalf("gitserver: git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// run starts git with argv, never through a shell.
func (s *Server) run(dir string, stdin *bytes.Buffer, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), s.gitEnv...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// testWriter sends the backend's stderr to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("git-http-backend: %s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}
