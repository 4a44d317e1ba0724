package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gearshift-dev/gearshift/internal/proc"
	"github.com/gearshift-dev/gearshift/internal/report/inert"
)

// Exec credential plugins (aws eks get-token, gke-gcloud-auth-plugin,
// kubelogin) are run by gearshift itself, not by client-go: client-go
// starts a plugin with gearshift's whole environment, its tokens included,
// and offers no way to narrow it. Here a plugin gets what every command
// gearshift starts gets (proc: the minimal environment and the variables
// the operator lists in GEARSHIFT_PASS_ENV, never gearshift's own tokens),
// plus the variables its kubeconfig entry declares and
// KUBERNETES_EXEC_INFO; no standard input; a time limit; and a bounded
// output. The bearer token it returns is kept in memory until its
// expiration (or a 401) and sent only to the cluster of the kubeconfig.

// execTimeout bounds one run of a credential plugin.
const execTimeout = time.Minute

// execRefreshMargin renews a token this long before it expires.
const execRefreshMargin = 30 * time.Second

// execCredentials is one kubeconfig user's exec plugin and its last token.
type execCredentials struct {
	exec    *clientcmdapi.ExecConfig
	cluster *clientauthv1.Cluster // given to the plugin when it asks (provideClusterInfo)
	now     func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time // zero: until a 401
}

// useExecPlugin makes cfg authenticate through its exec plugin run by
// gearshift (execCredentials) instead of client-go.
func useExecPlugin(cfg *rest.Config) error {
	ex := cfg.ExecProvider
	switch {
	case ex.InteractiveMode == clientcmdapi.AlwaysExecInteractiveMode:
		return fmt.Errorf("its exec plugin %s needs a terminal (interactiveMode: Always), which gearshift never gives it", inert.Text(ex.Command))
	case ex.APIVersion != clientauthv1.SchemeGroupVersion.String() && ex.APIVersion != "client.authentication.k8s.io/v1beta1":
		return fmt.Errorf("its exec plugin %s speaks %q: gearshift runs plugins of client.authentication.k8s.io/v1 and v1beta1", inert.Text(ex.Command), inert.Text(ex.APIVersion))
	}
	for _, e := range ex.Env {
		if err := proc.CheckVars(map[string]string{e.Name: e.Value}); err != nil {
			return fmt.Errorf("its exec plugin %s: %w", inert.Text(ex.Command), err)
		}
	}
	src := &execCredentials{exec: ex, now: time.Now}
	if ex.ProvideClusterInfo {
		src.cluster = &clientauthv1.Cluster{Server: cfg.Host, TLSServerName: cfg.ServerName,
			InsecureSkipTLSVerify: cfg.Insecure, CertificateAuthorityData: cfg.CAData, ProxyURL: proxyURL(cfg)}
	}
	cfg.ExecProvider = nil
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &bearer{src: src, next: rt} })
	return nil
}

func proxyURL(cfg *rest.Config) string {
	if cfg.Proxy == nil {
		return ""
	}
	req, err := http.NewRequest(http.MethodGet, cfg.Host, nil)
	if err != nil {
		return ""
	}
	if u, err := cfg.Proxy(req); err == nil && u != nil {
		return u.String()
	}
	return ""
}

// get returns a token that has not expired, running the plugin when
// there is none.
func (e *execCredentials) get(ctx context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token != "" && (e.expires.IsZero() || e.now().Add(execRefreshMargin).Before(e.expires)) {
		return e.token, nil
	}
	tok, exp, err := e.run(ctx)
	if err != nil {
		return "", err
	}
	e.token, e.expires = tok, exp
	return tok, nil
}

// refused forgets token after the API server refused it (401), so that
// the next request runs the plugin again.
func (e *execCredentials) refused(token string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token == token {
		e.token = ""
	}
}

// run runs the plugin once and reads its ExecCredential.
func (e *execCredentials) run(ctx context.Context) (string, time.Time, error) {
	name := inert.Text(e.exec.Command)
	info := clientauthv1.ExecCredential{Spec: clientauthv1.ExecCredentialSpec{Cluster: e.cluster, Interactive: false}}
	info.APIVersion, info.Kind = e.exec.APIVersion, "ExecCredential"
	b, err := json.Marshal(info)
	if err != nil {
		return "", time.Time{}, err
	}
	env := map[string]string{"KUBERNETES_EXEC_INFO": string(b)}
	for _, v := range e.exec.Env {
		env[v.Name] = v.Value
	}
	res, err := proc.Run(ctx, proc.Cmd{Argv: append([]string{e.exec.Command}, e.exec.Args...), Env: env, Timeout: execTimeout, MaxOutput: 1 << 20})
	if err != nil {
		// It could not be run (not installed, not executable, the
		// time limit): the kubeconfig's install hint says what to do.
		if hint := strings.TrimSpace(e.exec.InstallHint); hint != "" {
			return "", time.Time{}, fmt.Errorf("exec plugin %s: %w (%s)", name, err, inert.Text(hint))
		}
		return "", time.Time{}, fmt.Errorf("exec plugin %s: %w", name, err)
	}
	if res.ExitCode != 0 {
		msg := strings.TrimSpace(string(res.Stderr))
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return "", time.Time{}, fmt.Errorf("exec plugin %s exited %d: %s", name, res.ExitCode, inert.Text(msg))
	}
	if res.StdoutTruncated {
		return "", time.Time{}, fmt.Errorf("exec plugin %s: its output is over 1 MiB", name)
	}
	var out clientauthv1.ExecCredential
	dec := json.NewDecoder(bytes.NewReader(res.Stdout))
	if err := dec.Decode(&out); err != nil {
		return "", time.Time{}, fmt.Errorf("exec plugin %s: its output is not an ExecCredential: %v", name, err)
	}
	switch {
	case out.Kind != "ExecCredential" || out.APIVersion != e.exec.APIVersion:
		return "", time.Time{}, fmt.Errorf("exec plugin %s returned %s %s, want ExecCredential %s", name, inert.Text(out.APIVersion), inert.Text(out.Kind), inert.Text(e.exec.APIVersion))
	case out.Status == nil || out.Status.Token == "":
		if out.Status != nil && out.Status.ClientCertificateData != "" {
			return "", time.Time{}, fmt.Errorf("exec plugin %s returned a client certificate: gearshift uses plugins that return a token", name)
		}
		return "", time.Time{}, fmt.Errorf("exec plugin %s returned no token", name)
	}
	var exp time.Time
	if out.Status.ExpirationTimestamp != nil {
		exp = out.Status.ExpirationTimestamp.Time
	}
	return out.Status.Token, exp, nil
}

// bearer sends the plugin's token on every request through it.
type bearer struct {
	src  *execCredentials
	next http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := b.src.get(req.Context())
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := b.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		// Revoked or expired early: the next request asks the plugin
		// again (client-go does the same).
		b.src.refused(tok)
	}
	return resp, err
}
