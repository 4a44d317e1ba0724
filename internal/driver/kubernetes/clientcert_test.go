package kubernetes

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/kubetest"
)

// certPlugin is a credential plugin that returns client certificates (as
// tsh kube credentials does): run n prints $PLUGIN_DIR/cred.n, the last
// one for every run after it, and leaves run.n behind.
const certPlugin = `#!/bin/sh
n=$(ls "$PLUGIN_DIR" | grep -c '^run\.')
: > "$PLUGIN_DIR/run.$n"
last=$(($(ls "$PLUGIN_DIR" | grep -c '^cred\.') - 1))
[ "$n" -le "$last" ] || n=$last
cat "$PLUGIN_DIR/cred.$n"
`

// testClientCerts: a kubeconfig whose user is a client certificate works,
// and so does an exec plugin that returns one: a certificate the API
// server refuses (401) runs the plugin again; a valid one is kept until
// it expires, and the next one is presented on new connections (the old
// ones are closed), so that the API server sees the new identity.
func testClientCerts(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createDeployment(t, c, ns, "web", "registry.local/web:1.0", 1, 600)
	u := &state.Unit{Name: "web", Version: "1.1", Target: "k8s"}
	dir := t.TempDir()
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	masters := []string{"system:masters"}

	// A client certificate in the kubeconfig, as kubeadm's admin.conf.
	cert, key := c.ClientCert(t, "cert-admin", masters, time.Now().Add(time.Hour))
	static := filepath.Join(dir, "static.kubeconfig")
	writeKubeconfig(t, static, c, `{client-certificate-data: "`+b64(cert)+`", client-key-data: "`+b64(key)+`"}`)
	tgt := &state.KubernetesTarget{Kubeconfig: static, Namespace: ns}
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })
	if obs := d.Observe(ctx, testEnv("k8s", tgt, u), u); obs.Error != "" || obs.Version != "1.0" {
		t.Fatalf("observe with the kubeconfig's client certificate: %+v", obs)
	}

	// An exec plugin's certificates: one of another CA, then the admin's
	// for an hour, then one of a user with no rights.
	pdir := filepath.Join(dir, "runs")
	if err := os.Mkdir(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	foreignCert, foreignKey := selfSigned(t, "intruder")
	adminCert, adminKey := c.ClientCert(t, "cert-admin", masters, time.Now().Add(2*time.Hour))
	nobodyCert, nobodyKey := c.ClientCert(t, "nobody", nil, time.Now().Add(24*time.Hour))
	for i, kp := range [][2][]byte{{foreignCert, foreignKey}, {adminCert, adminKey}, {nobodyCert, nobodyKey}} {
		status := map[string]string{"clientCertificateData": string(kp[0]), "clientKeyData": string(kp[1])}
		if i == 1 {
			status["expirationTimestamp"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		}
		b, err := json.Marshal(map[string]any{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pdir, "cred."+strconv.Itoa(i)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plugin := filepath.Join(dir, "get-cert")
	if err := os.WriteFile(plugin, []byte(certPlugin), 0o755); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(dir, "exec.kubeconfig")
	writeKubeconfig(t, kc, c, `{exec: {apiVersion: client.authentication.k8s.io/v1, command: `+plugin+`, interactiveMode: Never,
    env: [{name: PLUGIN_DIR, value: "`+pdir+`"}]}}`)
	tgt = &state.KubernetesTarget{Kubeconfig: kc, Namespace: ns}
	env := testEnv("k8s", tgt, u)
	d = NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })
	runs := func() int {
		m, _ := filepath.Glob(filepath.Join(pdir, "run.*"))
		return len(m)
	}
	if obs := d.Observe(ctx, env, u); !strings.Contains(obs.Error, "the kubeconfig's credentials were refused") {
		t.Fatalf("observe with a certificate of another CA: %+v", obs)
	}
	if obs := d.Observe(ctx, env, u); obs.Error != "" || obs.Version != "1.0" {
		t.Fatalf("observe with the plugin's second certificate: %+v", obs)
	}
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0}); err != nil {
		t.Fatal(err)
	}
	dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || dep.Spec.Template.Spec.Containers[0].Image != "registry.local/web:1.1" {
		t.Fatalf("after the deploy: %v, %v", dep.Spec.Template.Spec.Containers, err)
	}
	if n := runs(); n != 2 {
		t.Errorf("the plugin ran %d times, want 2 (the refused certificate, then one for every request until it expires)", n)
	}

	// Two hours on, the admin's certificate has expired: the next request
	// runs the plugin, and the API server sees its new certificate's
	// user, not the old one's on a connection kept open.
	execClock = func() time.Time { return time.Now().Add(2 * time.Hour) }
	t.Cleanup(func() { execClock = time.Now })
	obs := d.Observe(ctx, env, u)
	if !strings.Contains(obs.Error, `User "nobody" cannot`) {
		t.Errorf("observe after the certificate expired: %+v", obs)
	}
	if n := runs(); n != 3 {
		t.Errorf("the plugin ran %d times, want 3", n)
	}
}

// writeKubeconfig writes a kubeconfig of c's cluster whose one user is
// user (YAML flow style).
func writeKubeconfig(t *testing.T, path string, c *kubetest.Cluster, user string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+c.Server+`", certificate-authority-data: "`+caData(t, c)+`"}}]
users: [{name: u, user: `+user+`}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
}

// selfSigned is a client certificate no CA of the cluster signed, and its
// key, PEM.
func selfSigned(t *testing.T, cn string) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// TestExecPluginOutput: what a plugin returns is checked before it is
// used, and an error never quotes a key; a certificate without an
// expirationTimestamp is kept until its own expiry.
func TestExecPluginOutput(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, "someone")
	leaf, _ := pem.Decode(cert)
	parsed, err := x509.ParseCertificate(leaf.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ec := func(status map[string]string) string {
		b, err := json.Marshal(map[string]any{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": status})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for i, c := range []struct {
		out, want string
		expires   time.Time
	}{
		{out: ec(map[string]string{}), want: "exec plugin p returned neither a token nor a client certificate"},
		{out: ec(map[string]string{"clientCertificateData": string(cert)}), want: "exec plugin p returned a client certificate without its key, or a key without its certificate"},
		{out: ec(map[string]string{"clientCertificateData": string(cert), "clientKeyData": "-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0\n-----END EC PRIVATE KEY-----\n"}),
			want: "exec plugin p returned an unusable client certificate: "},
		{out: ec(map[string]string{"clientCertificateData": string(cert), "clientKeyData": string(key)}), expires: parsed.NotAfter},
		{out: ec(map[string]string{"token": "t0k", "expirationTimestamp": "2030-01-02T03:04:05Z"}), expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
	} {
		out := filepath.Join(dir, "out"+strconv.Itoa(i))
		if err := os.WriteFile(out, []byte(c.out), 0o600); err != nil {
			t.Fatal(err)
		}
		e := &execCredentials{exec: &clientcmdapi.ExecConfig{Command: "cat", Args: []string{out}, APIVersion: "client.authentication.k8s.io/v1"}, now: time.Now}
		cred, err := e.run(t.Context())
		got := ""
		if err != nil {
			got = strings.Replace(err.Error(), "exec plugin cat", "exec plugin p", 1)
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("case %d: %v", i, err)
		case c.want == "" && !cred.expires.Equal(c.expires):
			t.Errorf("case %d: expires %s, want %s", i, cred.expires, c.expires)
		case c.want != "" && !strings.HasPrefix(got, c.want):
			t.Errorf("case %d: error %q, want %q", i, got, c.want)
		}
		if strings.Contains(got, "c2VjcmV0") || strings.Contains(got, "PRIVATE KEY") {
			t.Errorf("case %d: the error quotes the key: %s", i, got)
		}
	}
}
