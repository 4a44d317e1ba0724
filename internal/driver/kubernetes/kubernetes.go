package kubernetes

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// FieldManager is the server-side apply field manager of every change
// gearshift makes.
const FieldManager = "gearshift"

// What gearshift writes on a workload (docs/kubernetes.md).
const (
	// LabelUnit names the unit a workload is; Inventory lists by it.
	LabelUnit = "gearshift.dev/unit"
	// AnnVersion is the version gearshift last rolled out.
	AnnVersion = "gearshift.dev/version"
	// AnnDeployedAt is when it was rolled out (RFC 3339, UTC).
	AnnDeployedAt = "gearshift.dev/deployed-at"
	// AnnPreviousVersion and AnnPreviousImage are what ran before: what
	// Rollback returns to.
	AnnPreviousVersion = "gearshift.dev/previous-version"
	AnnPreviousImage   = "gearshift.dev/previous-image"
	// AnnRolledBack is "true" after a rollback, so that a second
	// Rollback without a version keeps what runs instead of flipping back.
	AnnRolledBack = "gearshift.dev/rolled-back"
	// AnnRestartedAt on the pod template is kubectl rollout restart's:
	// changing it replaces every pod as the workload's strategy says.
	AnnRestartedAt = "kubectl.kubernetes.io/restartedAt"
)

// DefaultRolloutTimeout bounds a rollout when neither the target's
// rolloutTimeout nor the unit's health timeout says otherwise.
const DefaultRolloutTimeout = 5 * time.Minute

// Pool holds one client per kubeconfig and context for a run, and the
// lists observation shares between units. It is safe for concurrent use.
type Pool struct {
	// Wrap, if set, wraps every client's transport (tests count requests
	// with it).
	Wrap func(http.RoundTripper) http.RoundTripper
	// Root resolves relative kubeconfig paths: the state repository.
	Root string

	mu      sync.Mutex
	clients map[clientKey]*client
}

type clientKey struct{ kubeconfig, context string }

// client is one API connection and the run's lists through it.
type client struct {
	once sync.Once
	cs   kubernetes.Interface
	err  error

	mu    sync.Mutex
	lists map[listKey]*listEntry
}

// NewPool returns an empty pool whose relative kubeconfig paths are
// relative to root.
func NewPool(root string) *Pool { return &Pool{Root: root} }

// Driver returns the driver of the target named name.
func (p *Pool) Driver(name string, t *state.KubernetesTarget, now func() time.Time) *Driver {
	return &Driver{Name: name, Target: t, Now: now, pool: p}
}

// Driver is the kubernetes driver of one target.
type Driver struct {
	// Name is the target's name, for messages.
	Name   string
	Target *state.KubernetesTarget
	// Now is the run's clock: deployed-at annotations and restartedAt.
	Now  func() time.Time
	pool *Pool
}

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Driver) client() (*client, error) {
	p := d.pool
	if p == nil {
		p = &Pool{}
		d.pool = p
	}
	key := clientKey{p.kubeconfigPath(d.Target.Kubeconfig), d.Target.Context}
	p.mu.Lock()
	if p.clients == nil {
		p.clients = map[clientKey]*client{}
	}
	c, ok := p.clients[key]
	if !ok {
		c = &client{lists: map[listKey]*listEntry{}}
		p.clients[key] = c
	}
	p.mu.Unlock()
	c.once.Do(func() {
		var cfg *rest.Config
		cfg, c.err = restConfig(key.kubeconfig, key.context)
		if c.err != nil {
			return
		}
		// Observing and waiting are a few requests each; client-go's
		// default of 5 per second would make 500 units' writes crawl.
		cfg.QPS, cfg.Burst = 50, 100
		cfg.UserAgent = "gearshift"
		if p.Wrap != nil {
			cfg.Wrap(p.Wrap)
		}
		c.cs, c.err = kubernetes.NewForConfig(cfg)
	})
	return c, c.err
}

func (p *Pool) kubeconfigPath(path string) string {
	switch {
	case path == "":
		return ""
	case strings.HasPrefix(path, "~/"):
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, path[2:])
		}
	case !filepath.IsAbs(path) && p.Root != "":
		return filepath.Join(p.Root, path)
	}
	return path
}

// restConfig is the target's credentials: the kubeconfig file and context
// it names, or, when it names neither and gearshift runs in a pod, the
// pod's service account; else the default kubeconfig ($KUBECONFIG,
// ~/.kube/config). Errors name files and contexts, never their content.
func restConfig(kubeconfig, context string) (*rest.Config, error) {
	if kubeconfig == "" && context == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster credentials: %w", err)
		}
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		if _, err := os.Stat(kubeconfig); err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	if context != "" {
		raw, err := cc.RawConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		if _, ok := raw.Contexts[context]; !ok {
			names := make([]string, 0, len(raw.Contexts))
			for n := range raw.Contexts {
				names = append(names, n)
			}
			return nil, fmt.Errorf("kubeconfig %s has no context %q (contexts: %s)", orDefault(kubeconfig), context, strings.Join(sorted(names), ", "))
		}
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("no kubeconfig: set the target's kubeconfig, $KUBECONFIG or ~/.kube/config")
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", orDefault(kubeconfig), err)
	}
	if cfg.ExecProvider != nil {
		// Run by gearshift with a minimal environment (execcred.go), not
		// by client-go with gearshift's whole environment.
		if err := useExecPlugin(cfg); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: the user of context %q: %w", orDefault(kubeconfig), contextName(cc, context), err)
		}
	}
	if cfg.AuthProvider != nil {
		// gcp and azure auth providers were removed from client-go; what
		// is left would run with gearshift's environment.
		return nil, fmt.Errorf("kubeconfig %s: the user of context %q uses the auth provider %q, which gearshift does not run: use an exec plugin, a token or a client certificate",
			orDefault(kubeconfig), contextName(cc, context), cfg.AuthProvider.Name)
	}
	return cfg, nil
}

func contextName(cc clientcmd.ClientConfig, context string) string {
	if context != "" {
		return context
	}
	if raw, err := cc.RawConfig(); err == nil {
		return raw.CurrentContext
	}
	return ""
}

func orDefault(path string) string {
	if path == "" {
		return "(default)"
	}
	return path
}

// explain turns an API error into one that says what the user can do.
func explain(err error, verb, what string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err):
		return fmt.Errorf("forbidden to %s %s (RBAC): %s", verb, what, statusMessage(err))
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("unauthorized to %s %s: the kubeconfig's credentials were refused", verb, what)
	}
	return fmt.Errorf("%s %s: %w", verb, what, err)
}

func statusMessage(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return se.Status().Message
	}
	return err.Error()
}
