package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gearshift-dev/gearshift/internal/apply"
	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/gitops"
	"github.com/gearshift-dev/gearshift/internal/notify"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/serve"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// serveFlags are serve's own flags; the apply flags it shares are apply's.
type serveFlags struct {
	listen            string
	pollInterval      time.Duration
	observeInterval   time.Duration
	webhookSecretEnv  string
	webhookSecretFile string
	apply             applyFlags
	elect             electFlags
}

// electFlags are --leader-elect's.
type electFlags struct {
	on                  bool
	namespace, identity string
	lease, renew, retry time.Duration
}

func serveCmd() *command {
	var f serveFlags
	return &command{
		acts:         true,
		name:         "serve",
		usage:        "serve [ENV...]",
		writesStatus: true,
		summary:      "Reconcile continuously: apply each environment when its ref moves (webhook or poll), serve metrics and a status page.",
		example: "  GEARSHIFT_WEBHOOK_SECRET=... gearshift serve --repo https://github.com/acme/state\n" +
			"  gearshift serve dev staging --repo https://github.com/acme/state --listen 127.0.0.1:8080 --poll-interval 2m\n" +
			"  gearshift serve --repo https://github.com/acme/state --webhook-secret-file /run/secrets/webhook",
		complete: argsEnvs,
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&f.listen, "listen", ":8080", "address of the status page, /metrics, /healthz, /readyz and the webhook (/hook/github)")
			fs.DurationVar(&f.pollInterval, "poll-interval", serve.DefaultPollInterval, "fetch the state repository at least this often (plus up to a quarter of jitter), webhook or not")
			fs.DurationVar(&f.observeInterval, "observe-interval", serve.DefaultObserveInterval, "observe an environment whose commit did not move this often, for drift")
			fs.StringVar(&f.webhookSecretEnv, "webhook-secret-env", "GEARSHIFT_WEBHOOK_SECRET", "the environment variable holding the GitHub webhook secret (unset: no webhook)")
			fs.StringVar(&f.webhookSecretFile, "webhook-secret-file", "", "a file holding the GitHub webhook secret (instead of --webhook-secret-env)")
			fs.IntVar(&f.apply.parallelism, "parallelism", apply.DefaultParallelism, "how many actions of a wave run at once")
			fs.IntVar(&f.apply.observe.parallelism, "observe-parallelism", 32, "how many units are observed at once")
			fs.DurationVar(&f.apply.observe.timeout, "observe-timeout", 30*time.Second, "how long one unit's observation may take")
			fs.DurationVar(&f.apply.actionTimeout, "action-timeout", apply.DefaultActionTimeout, "how long one action (fetch, test, deploy, verify, rollback) may take")
			fs.StringVar(&f.apply.cacheDir, "cache-dir", "", "artifact and state repository cache (default $XDG_CACHE_HOME/gearshift or ~/.cache/gearshift)")
			f.apply.lock.add(fs)
			fs.BoolVar(&f.elect.on, "leader-elect", false, "on Kubernetes: share the environments between replicas, one coordination.k8s.io Lease per environment (the cluster from $KUBECONFIG, else in-cluster)")
			fs.StringVar(&f.elect.namespace, "leader-elect-namespace", "", "namespace of the Leases (default $POD_NAMESPACE, else the service account's)")
			fs.StringVar(&f.elect.identity, "leader-elect-identity", "", "this replica's name in the Leases (default $POD_NAME, else the host name and a random suffix)")
			fs.DurationVar(&f.elect.lease, "leader-elect-lease-duration", 15*time.Second, "how long a Lease holds without renewal: a dead replica's environments are taken over after it")
			fs.DurationVar(&f.elect.renew, "leader-elect-renew-deadline", 10*time.Second, "a leader that cannot renew within this stops its loop")
			fs.DurationVar(&f.elect.retry, "leader-elect-retry-period", 2*time.Second, "how often Leases are tried and renewed")
		},
		after: func(e *env, fs *pflag.FlagSet) {
			// A controller logs what it does: info unless --log-level says.
			if lf := fs.Lookup("log-level"); lf == nil || !lf.Changed {
				e.log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
		},
		run: func(ctx context.Context, e *env, args []string) error { return e.serve(ctx, args, f) },
	}
}

// serve builds serve.Config from the flags (the same drivers, lock and
// status branch as apply) and runs it until the context ends (SIGTERM):
// the running action finishes, the lock is released, exit 0.
func (e *env) serve(ctx context.Context, names []string, f serveFlags) error {
	secret, err := e.webhookSecret(f)
	if err != nil {
		return err
	}
	repo := e.repo
	if repo == "." {
		if repo, err = state.FindRoot(repo); err != nil {
			return err
		}
	}
	cacheDir := f.apply.cacheDir
	if cacheDir == "" {
		cacheDir = xdgDir(e, "XDG_CACHE_HOME", ".cache")
	}
	cfg := serve.Config{
		Repo: repo, Ref: e.ref, Environments: names,
		CacheDir: e.cacheDir(), StateDir: f.apply.lock.dir(e),
		Auth:   gitops.AuthFromEnv(e.getenv),
		Listen: f.listen, PollInterval: f.pollInterval, ObserveInterval: f.observeInterval,
		WebhookSecret: secret,
		Load:          state.Options{Now: e.now, Limits: e.loadLimits, KeepExpiredWaivers: true},
		Apply: apply.Options{
			Parallelism: f.apply.parallelism, ActionTimeout: f.apply.actionTimeout, CacheDir: cacheDir,
			Observe: driver.ObserveOptions{Parallelism: f.apply.observe.parallelism, Timeout: f.apply.observe.timeout},
		},
		Lock:    apply.LockOptions{Timeout: f.apply.lock.timeout, BreakStale: f.apply.lock.breakLock},
		Command: append([]string{"gearshift"}, os.Args[1:]...),
		Drivers: func(root string) (apply.Drivers, func() error) {
			ds := newDrivers(root, e.now)
			return apply.Drivers{Resolve: ds.deployer, Connect: ds.pool.Get}, ds.Close
		},
		Publish: func(ctx context.Context, c *gitops.Checkout, records []*statusrec.Record) error {
			return e.publishStatus(ctx, c, records, "serve")
		},
		// Each reconcile publishes as an apply does (a notify.Run per run).
		Notify: func(c *gitops.Checkout) (func(context.Context, *state.Environment, *plan.Environment), func(context.Context, *state.Environment, *apply.EnvResult)) {
			pub := &notify.Run{Getenv: e.getenv, Redactor: e.redact, Checkout: func() *gitops.Checkout { return c },
				Auth: e.gitAuth(), Now: e.now, GitHub: e.githubFor, Stderr: e.stderr}
			return pub.Started, pub.Finished
		},
		Log: e.log, Now: e.now,
	}
	if f.elect.on {
		if cfg.Elect, err = e.election(f.elect); err != nil {
			return err
		}
	}
	if cfg.CacheDir == "" && strings.Contains(repo, "://") {
		return errors.New("no cache directory for the state repository: set XDG_CACHE_HOME or HOME")
	}
	s, err := serve.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Run(ctx); err != nil {
		return err
	}
	e.log.Info("stopped")
	return nil
}

// webhookSecret reads the GitHub webhook secret from --webhook-secret-file
// or the variable --webhook-secret-env names, never from the state
// repository; it is added to the run's redactions. None means no webhook.
func (e *env) webhookSecret(f serveFlags) ([]byte, error) {
	var secret string
	switch {
	case f.webhookSecretFile != "":
		b, err := os.ReadFile(f.webhookSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--webhook-secret-file: %w", err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
		if secret == "" {
			return nil, fmt.Errorf("--webhook-secret-file %s is empty", f.webhookSecretFile)
		}
	case f.webhookSecretEnv != "":
		secret = e.getenv(f.webhookSecretEnv)
	}
	if secret == "" {
		e.log.Warn("no webhook secret: the webhook receiver is off, changes are found by polling", "poll_interval", f.pollInterval)
		return nil, nil
	}
	e.redact.Add(secret)
	return []byte(secret), nil
}

// election builds --leader-elect's Kubernetes client: $KUBECONFIG (or
// ~/.kube/config), else the pod's service account.
func (e *env) election(f electFlags) (*serve.Election, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k := e.getenv("KUBECONFIG"); k != "" {
		rules.ExplicitPath = k
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("--leader-elect: %w", err)
	}
	// Two requests per environment every retry period, and the member
	// Leases: more than client-go's default 5 per second.
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("--leader-elect: %w", err)
	}
	ns := f.namespace
	if ns == "" {
		ns = e.getenv("POD_NAMESPACE")
	}
	if ns == "" {
		if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
			ns = strings.TrimSpace(string(b))
		}
	}
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			return nil, errors.New("--leader-elect: no namespace for the Leases: give --leader-elect-namespace")
		}
	}
	id := f.identity
	if id == "" {
		id = e.getenv("POD_NAME")
	}
	return &serve.Election{Client: client, Namespace: ns, Identity: id, LeaseDuration: f.lease, RenewDeadline: f.renew, RetryPeriod: f.retry}, nil
}
