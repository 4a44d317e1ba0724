package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// Defaults of Config.
const (
	// DefaultPollInterval is the backstop between two fetches when no
	// webhook comes (Argo CD: 120 s + up to 60 s of jitter).
	DefaultPollInterval = 60 * time.Second
	// DefaultObserveInterval is how often an environment whose commit
	// did not move is observed live for drift.
	DefaultObserveInterval = 5 * time.Minute
	// maxBackoff caps the wait after repeated failures.
	maxBackoff = 10 * time.Minute
	// maxRuns is how many runs of each environment the page keeps.
	maxRuns = 10
)

// Config is what serve needs. Drivers, Publish and the apply and load
// options come from the command line, as for `gearshift apply`.
type Config struct {
	// Repo is the state repository: a git URL (fetched into CacheDir) or
	// a local directory (read as it is checked out).
	Repo string
	// Ref is the ref first read to learn each environment's deployFrom
	// ("" the remote's default branch).
	Ref string
	// Environments are served; empty serves every environment of Ref.
	Environments []string
	// CacheDir holds one shallow working tree per environment.
	CacheDir string
	// StateDir is apply's local state (locks and journals of exec
	// targets, status record files).
	StateDir string
	Auth     gitops.Auth
	// Listen is the address of the HTTP server ("" serves none).
	Listen string
	// PollInterval is the backstop poll, jittered by up to a quarter.
	PollInterval time.Duration
	// ObserveInterval is how often an unchanged environment is observed
	// live for drift.
	ObserveInterval time.Duration
	// WebhookSecret enables /hook/github; without it the receiver
	// answers 404.
	WebhookSecret []byte
	Load          state.Options
	// Apply are apply.Reconcile's options; Planned, Progress and Now are
	// serve's own.
	Apply   apply.Options
	Lock    apply.LockOptions
	Command []string
	// Drivers builds the drivers of one reconcile, as apply does, and
	// returns what closes them.
	Drivers func(root string) (apply.Drivers, func() error)
	// Publish writes status records to the status branch (nil: none).
	Publish func(ctx context.Context, c *gitops.Checkout, records []*statusrec.Record) error
	// Notify returns, for one reconcile from checkout c, the hooks that
	// publish what apply publishes (release tags, GitHub deployments,
	// notifications: internal/notify), as apply.Options' Started and
	// Finished; nil: none.
	Notify func(c *gitops.Checkout) (started func(context.Context, *state.Environment, *plan.Environment), finished func(context.Context, *state.Environment, *apply.EnvResult))
	Log    *slog.Logger
	Now    func() time.Time
	// Listening is told the address the HTTP server listens on.
	Listening func(addr string)
	// Elect, when set, shares the environments between replicas on
	// Kubernetes: a loop runs only while this replica holds the
	// environment's Lease.
	Elect *Election
}

// Server is one `gearshift serve`.
type Server struct {
	cfg   Config
	m     *metrics
	loops []*envLoop
	// publish serialises status-branch writes of the loops.
	publish sync.Mutex
	// el is the leader election, with Config.Elect.
	el *elector
}

// New checks cfg and makes a server.
func New(cfg Config) (*Server, error) {
	if cfg.Repo == "" {
		return nil, errors.New("serve: no state repository")
	}
	if cfg.Drivers == nil {
		return nil, errors.New("serve: no drivers")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.ObserveInterval <= 0 {
		cfg.ObserveInterval = DefaultObserveInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, m: newMetrics()}, nil
}

// Run serves until ctx is done: it then lets each loop finish the
// action it is running (apply.Reconcile starts no new one and releases
// the lock), stops the HTTP server and returns.
func (s *Server) Run(ctx context.Context) error {
	names, err := s.environments(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		s.loops = append(s.loops, newLoop(s, n))
	}
	var wg sync.WaitGroup
	var el *elector
	memberCtx, stopMember := context.WithCancel(context.WithoutCancel(ctx))
	memberDone := make(chan struct{})
	if s.cfg.Elect != nil {
		e, err := s.cfg.Elect.withDefaults()
		if err != nil {
			stopMember()
			return err
		}
		el = newElector(s, e)
		s.el = el
		go func() {
			defer close(memberDone)
			el.membership(memberCtx)
		}()
	} else {
		close(memberDone)
	}
	defer func() {
		stopMember()
		<-memberDone
	}()
	var srv *http.Server
	srvErr := make(chan error, 1)
	if s.cfg.Listen != "" {
		ln, err := net.Listen("tcp", s.cfg.Listen)
		if err != nil {
			return err
		}
		srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
		s.cfg.Log.Info("serving", "addr", ln.Addr().String(), "environments", strings.Join(names, ","))
		if s.cfg.Listening != nil {
			s.cfg.Listening(ln.Addr().String())
		}
		go func() { srvErr <- srv.Serve(ln) }()
	}
	for _, l := range s.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if el != nil {
				el.campaign(ctx, l)
				return
			}
			l.run(ctx)
		}()
	}
	select {
	case <-ctx.Done():
	case err = <-srvErr:
	}
	// The loops see ctx too; a server that failed stops them through
	// their own context only when ctx ends, so wait for ctx first.
	if err != nil {
		s.cfg.Log.Error("http server", "err", err)
		<-ctx.Done()
	}
	wg.Wait()
	if srv != nil {
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// environments are the configured ones, or every environment of the
// state at cfg.Ref.
func (s *Server) environments(ctx context.Context) ([]string, error) {
	if len(s.cfg.Environments) > 0 {
		return s.cfg.Environments, nil
	}
	c, err := s.open(ctx, s.cfg.Ref, ".bootstrap")
	if err != nil {
		return nil, err
	}
	names, err := state.Discover(c.Dir)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no environments", c.Source)
	}
	return names, nil
}

// open fetches ref into the working tree of key (an environment): each
// environment has its own, so that a fetch for one never changes the
// files another is applying from. A local directory is used as it is.
func (s *Server) open(ctx context.Context, ref, key string) (*gitops.Checkout, error) {
	if !isURL(s.cfg.Repo) {
		return gitops.Open(ctx, s.cfg.Repo, "", "", s.cfg.Auth)
	}
	if s.cfg.CacheDir == "" {
		return nil, errors.New("serve: a cache directory is needed to fetch " + gitops.RedactURL(s.cfg.Repo))
	}
	return gitops.Open(ctx, s.cfg.Repo, ref, filepath.Join(s.cfg.CacheDir, "serve", key), s.cfg.Auth)
}

// isURL says whether Repo names a remote (as gitops decides: a scheme,
// or scp-like git@host:path).
func isURL(s string) bool {
	if i := strings.Index(s, "://"); i > 0 {
		return true
	}
	return scpLike.MatchString(s)
}

var scpLike = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]`)

// Handler serves the status page (/ and /status.json), the webhook
// (/hook/github), /metrics, /healthz and /readyz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /status.json", s.json)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	if len(s.cfg.WebhookSecret) > 0 {
		mux.Handle("/hook/github", &webhook{secret: s.cfg.WebhookSecret, m: s.m, wake: s.wake, now: s.cfg.Now})
	}
	return mux
}

// readyz answers 200 once every environment has been fetched and loaded
// once (successfully or not: a broken state is reported on the page, it
// does not make the process unready).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var waiting []string
	for _, l := range s.loops {
		if !l.isReady() {
			waiting = append(waiting, l.name)
		}
	}
	if len(s.loops) == 0 || len(waiting) > 0 {
		http.Error(w, "not ready: "+strings.Join(waiting, ", "), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// wake is told each signed push: it wakes the environments that deploy
// from the pushed ref, and no other.
func (s *Server) wake(p PushEvent, at time.Time) {
	var woken []string
	for _, l := range s.loops {
		if !l.wants(p.Ref) {
			continue
		}
		if s.el != nil && !s.el.leads(l.name) {
			// Another replica leads it: tell it through the cluster.
			go s.el.forward(context.Background(), l.name)
			woken = append(woken, l.name+" (forwarded)")
			continue
		}
		l.wakeUp(at)
		woken = append(woken, l.name)
	}
	s.cfg.Log.Info("push", "ref", p.Ref, "after", p.After, "woke", strings.Join(woken, ","))
}

// Status is the page's data: every environment served.
func (s *Server) Status() *Status {
	st := &Status{FormatVersion: StatusFormatVersion, GeneratedAt: s.cfg.Now().UTC(), Repo: gitops.RedactURL(s.cfg.Repo), Environments: []EnvStatus{}}
	units := map[string]bool{}
	for _, l := range s.loops {
		es := l.snapshot()
		for _, u := range es.Units {
			units[u.Name] = true
		}
		st.Environments = append(st.Environments, es)
	}
	for u := range units {
		st.Units = append(st.Units, u)
	}
	slices.Sort(st.Units)
	return st
}
