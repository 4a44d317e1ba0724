package kubernetes

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/kubetest"
)

// execPlugin is a credential plugin (as aws eks get-token is one): it
// records its environment, one file per run, and prints an
// ExecCredential whose token is the first line of $PLUGIN_TOKENS not yet
// handed out (the last one after that).
const execPlugin = `#!/bin/sh
n=$(ls "$PLUGIN_DIR" | grep -c '^env\.')
env > "$PLUGIN_DIR/env.$n"
tok=$(sed -n "$((n + 1))p" "$PLUGIN_DIR/tokens")
[ -n "$tok" ] || tok=$(tail -n 1 "$PLUGIN_DIR/tokens")
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\n' "$tok" "$PLUGIN_EXPIRES"
`

// testExecPlugin: a kubeconfig whose user gets its token from an exec
// plugin works, and gearshift, not client-go, runs the plugin: with the
// minimal environment, the variables the kubeconfig declares, the
// variables the operator passes (GEARSHIFT_PASS_ENV) and
// KUBERNETES_EXEC_INFO, never gearshift's tokens; once per token, not per
// request; again after the API server refuses the token (401).
func testExecPlugin(t *testing.T, c *kubetest.Cluster) {
	t.Setenv("GITHUB_TOKEN", "ghp_gearshift_own_token_0123456789")
	t.Setenv("GEARSHIFT_WEBHOOK_SECRET", "whsec_gearshift_own_secret")
	t.Setenv("AWS_PROFILE", "deploy")
	t.Setenv("GEARSHIFT_PASS_ENV", "AWS_PROFILE")
	ctx := context.Background()
	ns := c.Namespace(t)
	createDeployment(t, c, ns, "web", "registry.local/web:1.0", 1, 600)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "get-token")
	pdir := filepath.Join(dir, "runs")
	if err := os.Mkdir(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{plugin: execPlugin, filepath.Join(pdir, "tokens"): "not-a-token\n" + c.Token(t, "admin") + "\n"} {
		if err := os.WriteFile(name, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	kc := filepath.Join(dir, "kubeconfig")
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	writeKubeconfig(t, kc, c, `{exec: {apiVersion: client.authentication.k8s.io/v1, command: `+plugin+`, interactiveMode: Never,
  provideClusterInfo: true, env: [{name: PLUGIN_DIR, value: "`+pdir+`"}, {name: PLUGIN_EXPIRES, value: "`+expires+`"}]}}`)
	tgt := &state.KubernetesTarget{Kubeconfig: kc, Namespace: ns}
	u := &state.Unit{Name: "web", Version: "1.1", Target: "k8s"}
	env := testEnv("k8s", tgt, u)
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })

	// The first token is refused: the observation says so, and the next
	// request runs the plugin again.
	if obs := d.Observe(ctx, env, u); !strings.Contains(obs.Error, "the kubeconfig's credentials were refused") {
		t.Fatalf("observe with a refused token: %+v", obs)
	}
	if obs := d.Observe(ctx, env, u); obs.Error != "" || obs.Version != "1.0" {
		t.Fatalf("observe with the plugin's second token: %+v", obs)
	}
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0}); err != nil {
		t.Fatal(err)
	}
	dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || dep.Spec.Template.Spec.Containers[0].Image != "registry.local/web:1.1" {
		t.Fatalf("after the deploy: %v, %v", dep.Spec.Template.Spec.Containers, err)
	}
	runs, _ := filepath.Glob(filepath.Join(pdir, "env.*"))
	if len(runs) != 2 {
		t.Errorf("the plugin ran %d times, want 2 (the refused token, then one token for every request after it)", len(runs))
	}
	b, err := os.ReadFile(filepath.Join(pdir, "env.1"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	for _, k := range []string{"GITHUB_TOKEN", "GEARSHIFT_WEBHOOK_SECRET", "GEARSHIFT_PASS_ENV"} {
		if _, ok := vars[k]; ok {
			t.Errorf("the plugin got %s", k)
		}
	}
	if vars["AWS_PROFILE"] != "deploy" || vars["PLUGIN_DIR"] != pdir || vars["PATH"] == "" || vars["HOME"] == "" {
		t.Errorf("the plugin's environment lacks what it needs: %v", vars)
	}
	var info struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Interactive bool `json:"interactive"`
			Cluster     struct {
				Server string `json:"server"`
				CA     []byte `json:"certificate-authority-data"`
			} `json:"cluster"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(vars["KUBERNETES_EXEC_INFO"]), &info); err != nil || info.APIVersion != "client.authentication.k8s.io/v1" ||
		info.Kind != "ExecCredential" || info.Spec.Interactive || info.Spec.Cluster.Server != c.Server || len(info.Spec.Cluster.CA) == 0 {
		t.Errorf("KUBERNETES_EXEC_INFO = %s (%v)", vars["KUBERNETES_EXEC_INFO"], err)
	}
}

// caData is the cluster's CA as a kubeconfig's certificate-authority-data.
func caData(t *testing.T, c *kubetest.Cluster) string {
	t.Helper()
	if len(c.Config.CAData) == 0 {
		t.Fatal("kubetest: no CA data in the admin's config")
	}
	return base64.StdEncoding.EncodeToString(c.Config.CAData)
}
