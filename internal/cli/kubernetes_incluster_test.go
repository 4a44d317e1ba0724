package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gearshift-dev/gearshift/internal/testutil/kubetest"
)

// testKubeInCluster: gearshift running in a pod. A kubernetes target
// without kubeconfig or context uses the pod's service account
// (in-cluster config: KUBERNETES_SERVICE_HOST/PORT, the token and CA of
// /var/run/secrets/kubernetes.io/serviceaccount), with exactly the rights
// docs/kubernetes.md lists; the change is made under field manager
// gearshift by that service account. A service account without them is
// refused with the documented error, and nothing changes.
func testKubeInCluster(t *testing.T, c *kubetest.Cluster) {
	gs, err := exec.LookPath("gearshift")
	if err != nil {
		t.Fatal("the gearshift test program is not on PATH (TestMain sets it up)")
	}
	f := newKubeFixture(t, c)
	ctx := context.Background()
	createKubeDeployment(t, c, f.ns, "web", "registry.local/web:1.0", 2, 6)
	token := func(sa string, rights bool) string {
		t.Helper()
		if _, err := c.Client.CoreV1().ServiceAccounts(f.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if rights {
			role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "patch"}},
			}}
			if _, err := c.Client.RbacV1().Roles(f.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: f.ns}}}
			if _, err := c.Client.RbacV1().RoleBindings(f.ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		tok, err := c.Client.CoreV1().ServiceAccounts(f.ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Status.Token
	}
	deployer, nobody := token("deployer", true), token("nobody", false)
	f.write("environments/dev/env.cue", fmt.Sprintf(`package gearshift

environment: {
	name: "dev"
	deployFrom: branch: "main"
	targets: k8s: kubernetes: {namespace: %q, container: "app", rolloutTimeout: "60s"}
}
`, f.ns))
	f.write("environments/dev/units.cue", webUnit("1.1"))
	inPod := func(tok string, args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(gs, kubeArgs(f.repo, args)...)
		// No KUBECONFIG, no ~/.kube: only what a pod has.
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_STATE_HOME=" + f.env["XDG_STATE_HOME"], "XDG_CACHE_HOME=" + f.env["XDG_CACHE_HOME"], "NO_COLOR=1"}
		c.InPod(t, cmd, f.ns, tok)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), tok) {
			t.Errorf("the service account's token was printed:\n%s", out)
		}
		return code, string(out)
	}

	if code, out := inPod(nobody, "apply", "dev"); code != ExitFailure ||
		!strings.Contains(out, `unit web on kubernetes target k8s: forbidden to read deployment `+f.ns+`/web (RBAC)`) ||
		!strings.Contains(out, `User "system:serviceaccount:`+f.ns+`:nobody" cannot`) {
		t.Errorf("apply as a service account without rights: exit %d\n%s", code, out)
	}
	allRun(t, c, f.ns, "web", "registry.local/web:1.0", 2)

	if code, out := inPod(deployer, "apply", "dev"); code != 0 || !strings.Contains(out, "rolled out: updated 2/2, ready 2/2") {
		t.Fatalf("apply in the pod: exit %d\n%s", code, out)
	}
	allRun(t, c, f.ns, "web", "registry.local/web:1.1", 2)
	d, err := c.Client.AppsV1().Deployments(f.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	managers := map[string]string{}
	for _, m := range d.ManagedFields {
		managers[m.Manager] = string(m.Operation)
	}
	if managers["gearshift"] != "Apply" {
		t.Errorf("field managers = %v, want gearshift's server-side apply", managers)
	}
	if code, out := inPod(deployer, "plan", "dev", "--detailed-exitcode"); code != 0 {
		t.Errorf("plan in the pod after the apply: exit %d\n%s", code, out)
	}
}
