// Package kubetest starts a real Kubernetes control plane on loopback for
// tests: etcd, kube-apiserver and kube-controller-manager, built from the Go
// module proxy by scripts/kube-testenv.sh (pinned by scripts/kubeenv) and
// cached. There is no scheduler and no kubelet: StartKubelet plays the
// kubelet's part (binding pods to a node and reporting them Running and
// Ready through the status subresource), as Kubernetes' own integration
// tests do. The controllers are real, so a patched Deployment gets a new
// ReplicaSet, a StatefulSet replaces its pods one at a time in order, and
// rollout status is what a real cluster would report.
//
// Start never skips: when the binaries are missing it builds them (minutes
// on a cold cache; `make kube-testenv` does it once before the tests and
// sets GEARSHIFT_KUBE_ASSETS).
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gearshift-dev/gearshift/internal/testutil"
)

// Users that the API server knows besides "admin" (system:masters). They
// belong to no group and may do nothing until a test binds them a role.
var Users = []string{"alice", "bob"}

// Cluster is one running control plane.
type Cluster struct {
	// Server is the API server's URL, https://127.0.0.1:<port>.
	Server string
	// Kubeconfig is a kubeconfig file whose current context, "admin",
	// authenticates as a member of system:masters. It also holds a context
	// per user of Users.
	Kubeconfig string
	// Config and Client are the admin's.
	Config *rest.Config
	Client kubernetes.Interface

	dir    string
	caPEM  []byte
	ca     *x509.Certificate
	caKey  *rsa.PrivateKey
	tokens map[string]string
}

var (
	assetsOnce sync.Once
	assetsDir  string
	assetsErr  error
)

// Assets is the directory holding etcd, kube-apiserver and
// kube-controller-manager: $GEARSHIFT_KUBE_ASSETS, or what
// scripts/kube-testenv.sh builds (or finds in its cache).
func Assets() (string, error) {
	assetsOnce.Do(func() {
		if d := os.Getenv("GEARSHIFT_KUBE_ASSETS"); d != "" {
			assetsDir = d
			return
		}
		root, err := moduleRoot()
		if err != nil {
			assetsErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "scripts", "kube-testenv.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			assetsErr = fmt.Errorf("scripts/kube-testenv.sh: %v\n%s", err, stderr.String())
			return
		}
		assetsDir = strings.TrimSpace(string(out))
	})
	if assetsErr != nil {
		return "", assetsErr
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(assetsDir, b)); err != nil {
			return "", fmt.Errorf("kube test assets: %v (run make kube-testenv)", err)
		}
	}
	return assetsDir, nil
}

// moduleRoot finds the directory of gearshift's go.mod above the working
// directory (a test runs in its package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/gearshift-dev/gearshift\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kubetest: gearshift's go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Start starts a fresh control plane for t and stops it when t ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	assets, err := Assets()
	if err != nil {
		t.Fatal(err)
	}
	dir := tempDir(t)
	c := &Cluster{dir: dir, tokens: map[string]string{}}
	for _, u := range append([]string{"admin"}, Users...) {
		c.tokens[u] = randomHex(t, 16)
	}
	certs := writeCerts(t, dir)
	c.caPEM, c.ca, c.caKey = certs.caPEM, certs.ca, certs.caPriv

	var tokenCSV strings.Builder
	fmt.Fprintf(&tokenCSV, "%s,admin,admin,system:masters\n", c.tokens["admin"])
	for _, u := range Users {
		fmt.Fprintf(&tokenCSV, "%s,%s,%s\n", c.tokens[u], u, u)
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokenFile, []byte(tokenCSV.String()))

	etcdClient := testutil.FreePort(t)
	etcdPeer := testutil.FreePort(t)
	apiPort := testutil.FreePort(t)
	c.Server = "https://127.0.0.1:" + strconv.Itoa(apiPort)

	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	c.writeKubeconfig(t, c.Kubeconfig, "admin")

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	start(t, dir, "etcd", filepath.Join(assets, "etcd"),
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", etcdPeer),
		"--unsafe-no-fsync", "--log-level", "warn")
	waitHTTP(t, "etcd", etcdURL+"/health", nil, 60*time.Second)

	start(t, dir, "kube-apiserver", filepath.Join(assets, "kube-apiserver"),
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(apiPort),
		"--tls-cert-file", certs.serverCert, "--tls-private-key-file", certs.serverKey,
		"--client-ca-file", certs.caCert,
		"--token-auth-file", tokenFile,
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", certs.saKey,
		"--service-account-signing-key-file", certs.saKey,
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--endpoint-reconciler-type", "none",
		"--cert-dir", filepath.Join(dir, "apiserver-certs"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.caPEM)
	waitHTTP(t, "kube-apiserver", c.Server+"/readyz", &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}, 120*time.Second, "Authorization", "Bearer "+c.tokens["admin"])

	start(t, dir, "kube-controller-manager", filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig", c.Kubeconfig,
		"--authentication-kubeconfig", c.Kubeconfig,
		"--authorization-kubeconfig", c.Kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", "0",
		"--leader-elect=false",
		"--service-account-private-key-file", certs.saKey,
		"--root-ca-file", certs.caCert,
		"--cluster-signing-cert-file", certs.caCert, "--cluster-signing-key-file", certs.caKey,
		"--controllers", "deployment-controller,replicaset-controller,statefulset-controller,daemonset-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller",
		"--use-service-account-credentials=false",
		"--concurrent-deployment-syncs", "10", "--concurrent-replicaset-syncs", "10", "--concurrent-statefulset-syncs", "10")

	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	c.Config = cfg
	c.Client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tempDir is a directory for etcd's data and the certificates: on
// /dev/shm when the machine has it (etcd writes a lot), else t.TempDir().
func tempDir(t testing.TB) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "gearshift-kubetest-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// start runs one component in its own process group, logging to
// dir/<name>.log, and stops it (SIGTERM, then SIGKILL) when t ends. The
// log is printed when the test has failed.
func start(t testing.TB, dir, name, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		// Signal the group only while its leader is not reaped: once it
		// is, its pid (and group id) may belong to another test's process.
		select {
		case <-done:
		default:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log (last 40 lines):\n%s", name, tail(string(b), 40))
			}
		}
	})
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitHTTP polls url until it answers 200 or the time is up.
func waitHTTP(t testing.TB, name, url string, client *http.Client, limit time.Duration, header ...string) {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %s: %s", name, limit, last)
}

// writeKubeconfig writes a kubeconfig with a context per user, current
// being current.
func (c *Cluster) writeKubeconfig(t testing.TB, path, current string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: c.caPEM}
	for u, tok := range c.tokens {
		cfg.AuthInfos[u] = &clientcmdapi.AuthInfo{Token: tok}
		cfg.Contexts[u] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: u}
	}
	cfg.CurrentContext = current
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// UserKubeconfig writes a kubeconfig whose current context authenticates
// as user (one of Users): no group, and no permission until the test binds
// a role.
func (c *Cluster) UserKubeconfig(t testing.TB, user string) string {
	t.Helper()
	if _, ok := c.tokens[user]; !ok || user == "admin" {
		t.Fatalf("kubetest: no user %q (have %v)", user, Users)
	}
	path := filepath.Join(t.TempDir(), user+".kubeconfig")
	c.writeKubeconfig(t, path, user)
	return path
}

// Namespace creates a fresh namespace and waits for its default service
// account, without which no pod can be created.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	name := "t-" + strings.ToLower(randomHex(t, 4))
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return name
		}
		if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			t.Fatalf("namespace %s: default service account: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

type certFiles struct {
	caCert, caKey, serverCert, serverKey, saKey string
	caPEM                                       []byte
	ca                                          *x509.Certificate
	caPriv                                      *rsa.PrivateKey
}

// writeCerts makes a CA, a serving certificate for 127.0.0.1 and
// localhost signed by it, and the service accounts' signing key.
func writeCerts(t testing.TB, dir string) certFiles {
	t.Helper()
	f := certFiles{
		caCert: filepath.Join(dir, "ca.crt"), caKey: filepath.Join(dir, "ca.key"),
		serverCert: filepath.Join(dir, "server.crt"), serverKey: filepath.Join(dir, "server.key"),
		saKey: filepath.Join(dir, "sa.key"),
	}
	caKey := rsaKey(t)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubetest-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	f.ca, f.caPriv = ca, caKey
	f.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	writeFile(t, f.caCert, f.caPEM)
	writeFile(t, f.caKey, keyPEM(caKey))

	srvKey := rsaKey(t)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.serverCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}))
	writeFile(t, f.serverKey, keyPEM(srvKey))
	writeFile(t, f.saKey, keyPEM(rsaKey(t)))
	return f
}

// ClientCert is a client certificate of user (its common name) in groups
// (its organizations), signed by the cluster's CA, which the API server
// trusts for clients (--client-ca-file), valid until notAfter; and its
// key. Both PEM, as a kubeconfig's client-certificate-data and
// client-key-data hold them once base64-encoded.
func (c *Cluster) ClientCert(t testing.TB, user string, groups []string, notAfter time.Time) (certPEM, key []byte) {
	t.Helper()
	k := rsaKey(t)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: user, Organization: groups},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &k.PublicKey, c.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM(k)
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyPEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// PodImages is the first container's image of each pod labelled app=app in
// ns that is not being deleted, by pod name.
func (c *Cluster) PodImages(t testing.TB, ns, app string) map[string]string {
	t.Helper()
	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p.Spec.Containers[0].Image
		}
	}
	return out
}

// InPod makes cmd run as if in a pod of namespace ns whose service
// account token is token: KUBERNETES_SERVICE_HOST and _PORT name the API
// server, and /var/run/secrets/kubernetes.io/serviceaccount holds the
// token, the cluster's CA and the namespace, in a mount namespace of
// cmd's own (podrun), so client-go's in-cluster config is what cmd uses.
// cmd.Env must be set; the machine's /run is not touched.
func (c *Cluster) InPod(t testing.TB, cmd *exec.Cmd, ns, token string) {
	t.Helper()
	// Built for each test into its own directory, which the test removes
	// (go build's cache makes the second build a link).
	podrunBin := filepath.Join(t.TempDir(), "podrun")
	if out, err := exec.Command("go", "build", "-o", podrunBin, "github.com/gearshift-dev/gearshift/internal/testutil/kubetest/podrun").CombinedOutput(); err != nil {
		t.Fatalf("go build podrun: %v\n%s", err, out)
	}
	sa := t.TempDir()
	for name, b := range map[string][]byte{"token": []byte(token), "ca.crt": c.caPEM, "namespace": []byte(ns)} {
		if err := os.WriteFile(filepath.Join(sa, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(c.Server)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Args = append([]string{podrunBin, sa, "--"}, cmd.Args...)
	cmd.Path = podrunBin
	cmd.Env = append(cmd.Env, "KUBERNETES_SERVICE_HOST="+u.Hostname(), "KUBERNETES_SERVICE_PORT="+u.Port())
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// A mount namespace of its own (Go makes its mounts private, so
	// nothing propagates back).
	cmd.SysProcAttr.Unshareflags |= syscall.CLONE_NEWNS
}

// Token is the bearer token of user ("admin" or one of Users), for a
// test that hands it to gearshift some other way than a kubeconfig (an
// exec credential plugin).
func (c *Cluster) Token(t testing.TB, user string) string {
	t.Helper()
	tok, ok := c.tokens[user]
	if !ok {
		t.Fatalf("kubetest: no user %q", user)
	}
	return tok
}
