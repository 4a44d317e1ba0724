package kubernetes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/connrotation"

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
// output. What it returns, a bearer token or a client certificate and key
// (tsh kube credentials, Vault) or both, is kept in memory until its
// expiration (or a 401) and used only with the cluster of the kubeconfig.
// A new certificate closes the connections made with the old one, as
// client-go does, so that every request after it presents the new one.

// execTimeout bounds one run of a credential plugin.
const execTimeout = time.Minute

// execRefreshMargin renews a token this long before it expires.
const execRefreshMargin = 30 * time.Second

// execClock is the clock credentials expire by (a test moves it).
var execClock = time.Now

// execCredentials is one kubeconfig user's exec plugin and what it last
// returned.
type execCredentials struct {
	exec    *clientcmdapi.ExecConfig
	cluster *clientauthv1.Cluster // given to the plugin when it asks (provideClusterInfo)
	now     func() time.Time
	// closeAll closes the connections to the API server: they presented
	// a client certificate that is no longer the plugin's.
	closeAll func()

	mu   sync.Mutex
	cred credential
}

// credential is what the plugin returned: a token, a client certificate,
// or both.
type credential struct {
	token   string
	cert    *tls.Certificate
	expires time.Time // zero: until a 401
}

func (c credential) empty() bool { return c.token == "" && c.cert == nil }

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
	src := &execCredentials{exec: ex, now: func() time.Time { return execClock() }}
	if ex.ProvideClusterInfo {
		src.cluster = &clientauthv1.Cluster{Server: cfg.Host, TLSServerName: cfg.ServerName,
			InsecureSkipTLSVerify: cfg.Insecure, CertificateAuthorityData: cfg.CAData, ProxyURL: proxyURL(cfg)}
	}
	// Not client-go's exec authenticator: TLSConfigFor would install it.
	cfg.ExecProvider = nil
	if err := certTransport(cfg, src); err != nil {
		return err
	}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &bearer{src: src, next: rt} })
	return nil
}

// certTransport gives cfg a transport of its own whose TLS handshake
// presents the plugin's client certificate (or the kubeconfig's own, when
// the plugin returns none) and whose connections can all be closed when
// the certificate changes: client-go's own transport, built the way
// client-go builds it (its TLS settings move into the transport, where
// client-go wants them once a transport is given).
func certTransport(cfg *rest.Config, src *execCredentials) error {
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return err
	}
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	static := tlsCfg.Certificates
	tlsCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if c := src.current(); c != nil {
			return c, nil
		}
		if len(static) > 0 {
			return &static[0], nil
		}
		return &tls.Certificate{}, nil // none: the token authenticates
	}
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	dialer := connrotation.NewDialer(dial)
	src.closeAll = dialer.CloseAll
	proxy := cfg.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	cfg.Transport = utilnet.SetTransportDefaults(&http.Transport{
		Proxy:               proxy,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     tlsCfg,
		MaxIdleConnsPerHost: 25,
		DialContext:         dialer.DialContext,
		DisableCompression:  cfg.DisableCompression,
	})
	cfg.TLSClientConfig = rest.TLSClientConfig{}
	cfg.Dial, cfg.Proxy = nil, nil
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

// get returns a credential that has not expired, running the plugin when
// there is none. A new client certificate closes the connections that
// presented the old one.
func (e *execCredentials) get(ctx context.Context) (credential, error) {
	e.mu.Lock()
	c := e.cred
	if !c.empty() && (c.expires.IsZero() || e.now().Add(execRefreshMargin).Before(c.expires)) {
		e.mu.Unlock()
		return c, nil
	}
	n, err := e.run(ctx)
	if err != nil {
		e.mu.Unlock()
		return credential{}, err
	}
	e.cred = n
	rotated := c.cert != nil || n.cert != nil
	e.mu.Unlock()
	if rotated && e.closeAll != nil {
		e.closeAll()
	}
	return n, nil
}

// current is the plugin's client certificate, if it returned one; the
// TLS handshake asks for it (after get, which every request runs first).
func (e *execCredentials) current() *tls.Certificate {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cred.cert
}

// refused forgets c after the API server refused it (401), so that the
// next request runs the plugin again.
func (e *execCredentials) refused(c credential) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cred.token == c.token && e.cred.cert == c.cert {
		e.cred = credential{}
	}
}

// run runs the plugin once and reads its ExecCredential.
func (e *execCredentials) run(ctx context.Context) (credential, error) {
	name := inert.Text(e.exec.Command)
	info := clientauthv1.ExecCredential{Spec: clientauthv1.ExecCredentialSpec{Cluster: e.cluster, Interactive: false}}
	info.APIVersion, info.Kind = e.exec.APIVersion, "ExecCredential"
	b, err := json.Marshal(info)
	if err != nil {
		return credential{}, err
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
			return credential{}, fmt.Errorf("exec plugin %s: %w (%s)", name, err, inert.Text(hint))
		}
		return credential{}, fmt.Errorf("exec plugin %s: %w", name, err)
	}
	if res.ExitCode != 0 {
		msg := strings.TrimSpace(string(res.Stderr))
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return credential{}, fmt.Errorf("exec plugin %s exited %d: %s", name, res.ExitCode, inert.Text(msg))
	}
	if res.StdoutTruncated {
		return credential{}, fmt.Errorf("exec plugin %s: its output is over 1 MiB", name)
	}
	var out clientauthv1.ExecCredential
	dec := json.NewDecoder(bytes.NewReader(res.Stdout))
	if err := dec.Decode(&out); err != nil {
		return credential{}, fmt.Errorf("exec plugin %s: its output is not an ExecCredential: %v", name, err)
	}
	switch {
	case out.Kind != "ExecCredential" || out.APIVersion != e.exec.APIVersion:
		return credential{}, fmt.Errorf("exec plugin %s returned %s %s, want ExecCredential %s", name, inert.Text(out.APIVersion), inert.Text(out.Kind), inert.Text(e.exec.APIVersion))
	case out.Status == nil || (out.Status.Token == "" && out.Status.ClientCertificateData == "" && out.Status.ClientKeyData == ""):
		return credential{}, fmt.Errorf("exec plugin %s returned neither a token nor a client certificate", name)
	case (out.Status.ClientCertificateData == "") != (out.Status.ClientKeyData == ""):
		return credential{}, fmt.Errorf("exec plugin %s returned a client certificate without its key, or a key without its certificate", name)
	}
	c := credential{token: out.Status.Token}
	if out.Status.ClientCertificateData != "" {
		cert, err := tls.X509KeyPair([]byte(out.Status.ClientCertificateData), []byte(out.Status.ClientKeyData))
		if err != nil {
			// The error of X509KeyPair names no key material.
			return credential{}, fmt.Errorf("exec plugin %s returned an unusable client certificate: %v", name, err)
		}
		c.cert = &cert
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
			c.expires = leaf.NotAfter
		}
	}
	if out.Status.ExpirationTimestamp != nil {
		c.expires = out.Status.ExpirationTimestamp.Time
	}
	return c, nil
}

// bearer sends the plugin's token, if it returned one, on every request
// through it; its client certificate is presented by the transport
// (certTransport).
type bearer struct {
	src  *execCredentials
	next http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	c, err := b.src.get(req.Context())
	if err != nil {
		return nil, err
	}
	r := req
	if c.token != "" {
		r = req.Clone(req.Context())
		r.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := b.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		// Revoked or expired early: the next request asks the plugin
		// again (client-go does the same).
		b.src.refused(c)
	}
	return resp, err
}
