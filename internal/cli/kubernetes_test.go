package cli

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"github.com/gearshift-dev/gearshift/internal/testutil/kubetest"
)

// kubeFixture is a state repository (a plain directory) whose targets are
// namespaces of a real control plane, and gearshift run in-process on it.
type kubeFixture struct {
	t    *testing.T
	c    *kubetest.Cluster
	ns   string
	repo string
	root string // the local host target's
	env  map[string]string
}

func newKubeFixture(t *testing.T, c *kubetest.Cluster) *kubeFixture {
	f := &kubeFixture{t: t, c: c, ns: c.Namespace(t), repo: t.TempDir(), root: t.TempDir(),
		env: map[string]string{"XDG_STATE_HOME": t.TempDir(), "XDG_CACHE_HOME": t.TempDir(), "NO_COLOR": "1", "GEARSHIFT_NOW": "2026-11-22T12:00:00Z"}}
	f.write("cue.mod/module.cue", "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n")
	return f
}

func (f *kubeFixture) write(name, content string) {
	f.t.Helper()
	if err := statetest.WriteFiles(f.repo, map[string]string{name: content}); err != nil {
		f.t.Fatal(err)
	}
}

// envCUE is environment dev with a Deployment target k8s, a StatefulSet
// target sts and a local host target.
func (f *kubeFixture) envCUE(kubeconfig string) string {
	return fmt.Sprintf(`package gearshift

environment: {
	name: "dev"
	deployFrom: branch: "main"
	targets: {
		k8s: kubernetes: {kubeconfig: %[1]q, namespace: %[2]q, container: "app", rolloutTimeout: "60s"}
		sts: kubernetes: {kubeconfig: %[1]q, namespace: %[2]q, workload: "StatefulSet", rolloutTimeout: "60s"}
		local: host: {local: true, root: %[3]q, allowLocalArtifacts: true}
	}
}
`, kubeconfig, f.ns, f.root)
}

func (f *kubeFixture) run(args ...string) (int, string, string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	code := run(ctx, kubeArgs(f.repo, args), &o, &e, func(k string) string { return f.env[k] })
	return code, o.String(), e.String()
}

func (f *kubeFixture) must(want int, args ...string) (string, string) {
	f.t.Helper()
	code, out, errOut := f.run(args...)
	if code != want {
		f.t.Fatalf("gearshift %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

func kubePodSpec(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func createKubeDeployment(t *testing.T, c *kubetest.Cluster, ns, name, image string, replicas, deadline int32) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: kubePodSpec(name, image), ProgressDeadlineSeconds: &deadline}}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitKube(t, "deployment "+name+" ready", func() bool {
		d, err := c.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && d.Status.ObservedGeneration == d.Generation && d.Status.ReadyReplicas == replicas && d.Status.UpdatedReplicas == replicas
	})
}

func createKubeStatefulSet(t *testing.T, c *kubetest.Cluster, ns, name, image string, replicas int32) {
	t.Helper()
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{Replicas: &replicas, ServiceName: name, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: kubePodSpec(name, image)}}
	if _, err := c.Client.AppsV1().StatefulSets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitKube(t, "statefulset "+name+" ready", func() bool {
		s, err := c.Client.AppsV1().StatefulSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && s.Status.ReadyReplicas == replicas
	})
}

func waitKube(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 90s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func allRun(t *testing.T, c *kubetest.Cluster, ns, app, image string, n int) {
	t.Helper()
	imgs := c.PodImages(t, ns, app)
	if len(imgs) != n {
		t.Errorf("%s has %d pods, want %d: %v", app, len(imgs), n, imgs)
	}
	for pod, img := range imgs {
		if img != image {
			t.Errorf("pod %s runs %s, want %s", pod, img, image)
		}
	}
}

func kubeUnready(p *corev1.Pod) bool { return strings.Contains(p.Spec.Containers[0].Image, ":bad") }

// TestKubernetesCLI runs plan, apply and rollback on kubernetes targets of
// a real control plane: first deploy with the dry run's diff in the plan,
// drift by `kubectl set image` reported and corrected, the monthly
// restart, rollback, a bad image rolled back (exit 1), dependencies
// between a kubernetes unit and a host unit both ways, and bad input.
func TestKubernetesCLI(t *testing.T) {
	c := kubetest.Start(t)
	c.StartKubelet(t, kubetest.KubeletOptions{Unready: kubeUnready, ReadyAfter: 200 * time.Millisecond})
	t.Run("Lifecycle", func(t *testing.T) { testKubeLifecycle(t, c) })
	t.Run("DependsOnHost", func(t *testing.T) { testKubeHostDependencies(t, c) })
	t.Run("BadInput", func(t *testing.T) { testKubeBadInput(t, c) })
	t.Run("Prune", func(t *testing.T) { testKubePrune(t, c) })
	t.Run("BadImageStatefulSet", func(t *testing.T) { testKubeBadStatefulSet(t, c) })
	t.Run("InCluster", func(t *testing.T) { testKubeInCluster(t, c) })
}

// testKubeBadStatefulSet: the stack's new image never becomes ready.
// Nothing in the cluster says so; gearshift's deadline does: apply fails
// loudly (exit 1), rolls the StatefulSet back (deleting the stuck pod of
// the failed revision) and the previous image runs on every pod again.
func testKubeBadStatefulSet(t *testing.T, c *kubetest.Cluster) {
	f := newKubeFixture(t, c)
	createKubeStatefulSet(t, c, f.ns, "stack", "registry.local/stack:1.0", 3)
	f.write("environments/dev/env.cue", strings.Replace(f.envCUE(c.Kubeconfig), `workload: "StatefulSet", rolloutTimeout: "60s"`, `workload: "StatefulSet", rolloutTimeout: "8s"`, 1))
	f.write("environments/dev/units.cue", "package gearshift\n\nunits: stack: {kind: \"stack\", version: \"bad-1.1\", target: \"sts\"}\n")
	code, out, errOut := f.run("apply", "dev")
	for _, want := range []string{"rollout not finished after 8s", "gearshift: dev stack: rolled-back", "deleting pod stack-2 of the failed revision (not ready)"} {
		if !strings.Contains(out+errOut, want) {
			t.Errorf("apply of a bad stack: no %q", want)
		}
	}
	if code != ExitFailure {
		t.Errorf("apply of a bad stack: exit %d, want 1", code)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	allRun(t, c, f.ns, "stack", "registry.local/stack:1.0", 3)
}

// testKubePrune: a unit no longer declared, in an environment that
// prunes, is scaled to zero (gearshift did not create its workload, so it
// does not delete it) and is no longer in the inventory.
func testKubePrune(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	f := newKubeFixture(t, c)
	createKubeDeployment(t, c, f.ns, "web", "registry.local/web:1.0", 1, 600)
	createKubeDeployment(t, c, f.ns, "old", "registry.local/old:1.0", 2, 600)
	f.write("environments/dev/env.cue", strings.Replace(f.envCUE(c.Kubeconfig), "\tdeployFrom:", "\tpolicies: prune: true\n\tdeployFrom:", 1))
	f.write("environments/dev/units.cue", "package gearshift\n\nunits: web: {kind: \"gear\", version: \"1.1\", target: \"k8s\"}\nunits: old: {kind: \"gear\", version: \"1.1\", target: \"k8s\"}\n")
	f.must(0, "apply", "dev")
	f.write("environments/dev/units.cue", webUnit("1.1"))
	out, _ := f.must(2, "plan", "dev", "--detailed-exitcode")
	if !strings.Contains(out, "prune") || !strings.Contains(out, "old") {
		t.Errorf("plan without unit old:\n%s", out)
	}
	f.must(0, "apply", "dev")
	d, err := c.Client.AppsV1().Deployments(f.ns).Get(ctx, "old", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 0 || d.Labels["gearshift.dev/unit"] != "" {
		t.Fatalf("pruned deployment: %v, replicas %d, labels %v", err, *d.Spec.Replicas, d.Labels)
	}
	waitKube(t, "old's pods gone", func() bool { return len(c.PodImages(t, f.ns, "old")) == 0 })
	f.must(0, "plan", "dev", "--detailed-exitcode")
}

func webUnit(version string) string {
	return fmt.Sprintf("package gearshift\n\nunits: web: {kind: \"gear\", version: %q, target: \"k8s\"}\n", version)
}

func testKubeLifecycle(t *testing.T, c *kubetest.Cluster) {
	f := newKubeFixture(t, c)
	createKubeDeployment(t, c, f.ns, "web", "registry.local/web:1.0", 2, 6)
	f.write("environments/dev/env.cue", f.envCUE(c.Kubeconfig))
	f.write("environments/dev/units.cue", webUnit("1.1"))
	ctx := context.Background()

	// First deploy: the plan shows the server-side dry run's diff.
	out, _ := f.must(2, "plan", "dev", "--detailed-exitcode")
	wantDiff := `~ spec.template.spec.containers[app].image: "registry.local/web:1.0" -> "registry.local/web:1.1"`
	if !strings.Contains(out, "runs 1.0, desired 1.1") || !strings.Contains(out, wantDiff) {
		t.Errorf("plan:\n%s\nwant the version change and the diff line %s", out, wantDiff)
	}
	md, _ := f.must(0, "plan", "dev", "-o", "markdown")
	if !strings.Contains(md, "deploy of `web` would change:\n\n````text\ndeployment "+f.ns+"/web (server-side dry run, field manager gearshift):\n") || !strings.Contains(md, wantDiff) {
		t.Errorf("markdown plan has no diff block:\n%s", md)
	}
	_, errOut := f.must(0, "apply", "dev")
	for _, want := range []string{"gearshift: dev web: deployment " + f.ns + "/web: setting image registry.local/web:1.1", ", ready ", "rolled out: updated 2/2, ready 2/2", "gearshift: dev web: deployed"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("apply's progress has no %q:\n%s", want, errOut)
		}
	}
	allRun(t, c, f.ns, "web", "registry.local/web:1.1", 2)
	f.must(0, "plan", "dev", "--detailed-exitcode")

	// Drift: kubectl set image, from another field manager.
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.local/web:1.1-hotfix"}]}}}}`
	if _, err := c.Client.AppsV1().Deployments(f.ns).Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
	// Rolled out as the Deployment's own status says (the pods can show
	// the image before the controller has counted them).
	waitKube(t, "hotfix rolled out", func() bool {
		imgs := c.PodImages(t, f.ns, "web")
		d, err := c.Client.AppsV1().Deployments(f.ns).Get(ctx, "web", metav1.GetOptions{})
		return len(imgs) == 2 && imgs[firstKey(imgs)] == "registry.local/web:1.1-hotfix" && imgs[lastKey(imgs)] == "registry.local/web:1.1-hotfix" &&
			err == nil && d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == 2 && d.Status.ReadyReplicas == 2 &&
			d.Status.AvailableReplicas == 2 && d.Status.Replicas == 2
	})
	out, _ = f.must(2, "plan", "dev", "--detailed-exitcode")
	if !strings.Contains(out, "drift: runs 1.1-hotfix, desired 1.1: image registry.local/web:1.1-hotfix was set outside gearshift, which rolled out 1.1") {
		t.Errorf("plan after kubectl set image:\n%s", out)
	}
	js, _ := f.must(0, "plan", "dev", "-o", "json")
	if !strings.Contains(js, `"drift": "image registry.local/web:1.1-hotfix was set outside gearshift, which rolled out 1.1"`) || !strings.Contains(js, `"code": "drift"`) {
		t.Errorf("the plan's observation does not say who changed the image:\n%s", js)
	}
	f.must(0, "apply", "dev")
	allRun(t, c, f.ns, "web", "registry.local/web:1.1", 2)
	f.must(0, "plan", "dev", "--detailed-exitcode")

	// A month on: maxAge redeploys the same version as a rollout restart.
	before := c.PodImages(t, f.ns, "web")
	f.env["GEARSHIFT_NOW"] = "2026-12-24T12:00:00Z"
	out, _ = f.must(2, "plan", "dev", "--detailed-exitcode")
	if !strings.Contains(out, "max-age:") || !strings.Contains(out, "+ spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]: \"2026-12-24T12:00:00Z\"") {
		t.Errorf("plan a month on:\n%s", out)
	}
	_, errOut = f.must(0, "apply", "dev")
	if !strings.Contains(errOut, "restarting registry.local/web:1.1 (kubectl.kubernetes.io/restartedAt)") || !strings.Contains(errOut, "gearshift: dev web: redeployed") {
		t.Errorf("apply a month on:\n%s", errOut)
	}
	for pod := range c.PodImages(t, f.ns, "web") {
		if _, ok := before[pod]; ok {
			t.Errorf("pod %s was not restarted", pod)
		}
	}
	f.must(0, "plan", "dev", "--detailed-exitcode")

	// Rollback to what ran before 1.1, then forward again.
	f.must(0, "rollback", "dev", "web", "--to", "1.0")
	allRun(t, c, f.ns, "web", "registry.local/web:1.0", 2)
	f.must(0, "apply", "dev", "--retry-failed")
	allRun(t, c, f.ns, "web", "registry.local/web:1.1", 2)

	// A bad image never becomes ready: the progress deadline fails the
	// deploy, apply rolls back to 1.1 and exits 1.
	f.write("environments/dev/units.cue", webUnit("bad-1.2"))
	code, out, errOut := f.run("apply", "dev")
	if code != ExitFailure || !strings.Contains(out+errOut, "progress deadline exceeded") || !strings.Contains(errOut, "gearshift: dev web: rolled-back") {
		t.Errorf("apply of a bad image: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	waitKube(t, "the bad pods gone", func() bool {
		imgs := c.PodImages(t, f.ns, "web")
		for _, img := range imgs {
			if img != "registry.local/web:1.1" {
				return false
			}
		}
		return len(imgs) == 2
	})
	f.write("environments/dev/units.cue", webUnit("1.1"))
	f.must(0, "plan", "dev", "--detailed-exitcode")
}

func firstKey(m map[string]string) string {
	keys := sortedStrings(m)
	return keys[0]
}

func lastKey(m map[string]string) string {
	keys := sortedStrings(m)
	return keys[len(keys)-1]
}

func sortedStrings(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// testKubeHostDependencies: a kubernetes unit that depends on a host unit
// (local host target) is deployed after it, and a host unit that depends
// on a kubernetes unit after that one.
func testKubeHostDependencies(t *testing.T, c *kubetest.Cluster) {
	f := newKubeFixture(t, c)
	createKubeDeployment(t, c, f.ns, "api", "registry.local/api:1", 1, 600)
	createKubeDeployment(t, c, f.ns, "cache", "registry.local/cache:1", 1, 600)
	art := t.TempDir()
	writeTarball(t, filepath.Join(art, "art-2.tar.gz"), "2")
	sum := fileSum(t, filepath.Join(art, "art-2.tar.gz"))
	marker := fmt.Sprintf("3600.%d", rand.N(1_000_000))
	t.Cleanup(func() { stopServices(t, marker) })
	f.write("environments/dev/env.cue", f.envCUE(c.Kubeconfig))
	f.write("environments/dev/units.cue", fmt.Sprintf(`package gearshift

_host: {kind: "gear", target: "local", artifact: {source: %q, checksum: %q}, run: command: ["sleep", %q]}
units: {
	db: _host & {version: "2"}
	api: {kind: "gear", version: "2", target: "k8s", dependsOn: ["db"]}
	cache: {kind: "gear", version: "2", target: "k8s"}
	worker: _host & {version: "2", dependsOn: ["cache"]}
}
`, filepath.Join(art, "art-{version}.tar.gz"), sum, marker))
	_, errOut := f.must(0, "apply", "dev", "--parallelism", "4")
	lines := strings.Split(errOut, "\n")
	index := func(prefix string) int {
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return i
			}
		}
		t.Fatalf("no line %q in apply's output:\n%s", prefix, errOut)
		return -1
	}
	if index("gearshift: dev db: deployed") > index("gearshift: dev api: ") {
		t.Errorf("the kubernetes unit api started before the host unit db it depends on had deployed:\n%s", errOut)
	}
	if index("gearshift: dev cache: deployed") > index("gearshift: dev worker: ") {
		t.Errorf("the host unit worker started before the kubernetes unit cache it depends on had deployed:\n%s", errOut)
	}
	allRun(t, c, f.ns, "api", "registry.local/api:2", 1)
	allRun(t, c, f.ns, "cache", "registry.local/cache:2", 1)
	f.must(0, "plan", "dev", "--detailed-exitcode")
}

// testKubeBadInput: each mistake exits 1 with an error naming the unit and
// the target, and changes nothing.
func testKubeBadInput(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	f := newKubeFixture(t, c)
	createKubeDeployment(t, c, f.ns, "web", "registry.local/web:1.0", 1, 600)
	before, _ := c.Client.AppsV1().Deployments(f.ns).Get(ctx, "web", metav1.GetOptions{})
	alice := c.UserKubeconfig(t, "alice")
	bob := c.UserKubeconfig(t, "bob")
	if _, err := c.Client.RbacV1().Roles(f.ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.RbacV1().RoleBindings(f.ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bob-read"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "bob", APIGroup: "rbac.authorization.k8s.io"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for _, kc := range []string{c.Kubeconfig, alice, bob} {
		cfg, err := clientcmd.LoadFromFile(kc)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range cfg.AuthInfos {
			if a.Token != "" {
				tokens = append(tokens, a.Token)
			}
		}
	}
	target := func(extra string) string {
		return fmt.Sprintf("package gearshift\n\nenvironment: {name: \"dev\", deployFrom: branch: \"main\", targets: k8s: kubernetes: {namespace: %q, %s}}\n", f.ns, extra)
	}
	for _, tc := range []struct {
		name, target, units, want string
	}{
		{"missing kubeconfig", target(`kubeconfig: "/nonexistent/kubeconfig"`), webUnit("1.1"), "unit web on kubernetes target k8s: kubeconfig: stat /nonexistent/kubeconfig: no such file or directory"},
		{"wrong context", target(fmt.Sprintf("kubeconfig: %q, context: \"prod\"", c.Kubeconfig)), webUnit("1.1"), `unit web on kubernetes target k8s: kubeconfig ` + c.Kubeconfig + ` has no context "prod" (contexts: admin, alice, bob)`},
		{"missing workload", target(fmt.Sprintf("kubeconfig: %q", c.Kubeconfig)), "package gearshift\n\nunits: ghost: {kind: \"gear\", version: \"1\", target: \"k8s\"}\n", "unit ghost on kubernetes target k8s: deployment " + f.ns + "/ghost does not exist"},
		{"missing container", target(fmt.Sprintf("kubeconfig: %q, container: \"api\"", c.Kubeconfig)), webUnit("1.1"), "unit web on kubernetes target k8s: deployment " + f.ns + `/web has no container "api" (containers: app)`},
		{"forbidden", target(fmt.Sprintf("kubeconfig: %q", alice)), webUnit("1.1"), `unit web on kubernetes target k8s: forbidden to read deployment ` + f.ns + `/web (RBAC): deployments.apps "web" is forbidden: User "alice" cannot`},
		{"forbidden to patch", target(fmt.Sprintf("kubeconfig: %q", bob)), webUnit("1.1"), `unit web on kubernetes target k8s: forbidden to patch deployment ` + f.ns + `/web (RBAC): deployments.apps "web" is forbidden: User "bob" cannot patch`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.write("environments/dev/env.cue", tc.target)
			f.write("environments/dev/units.cue", tc.units)
			code, out, errOut := f.run("apply", "dev")
			if code != ExitFailure || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("apply: exit %d, want 1 and %q\nstdout:\n%s\nstderr:\n%s", code, tc.want, out, errOut)
			}
			pcode, pout, perr := f.run("plan", "dev", "-o", "json")
			if tc.name != "forbidden to patch" && (pcode != ExitFailure || !strings.Contains(pout, strings.ReplaceAll(tc.want, `"`, `\"`))) {
				t.Errorf("plan: exit %d, want 1 and %q\nstdout:\n%s\nstderr:\n%s", pcode, tc.want, pout, perr)
			}
			for _, tok := range tokens {
				if strings.Contains(out+errOut+pout+perr, tok) {
					t.Errorf("a kubeconfig's token was printed")
				}
			}
			after, _ := c.Client.AppsV1().Deployments(f.ns).Get(ctx, "web", metav1.GetOptions{})
			if after.ResourceVersion != before.ResourceVersion {
				t.Errorf("the deployment changed (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
			}
		})
	}
}

// TestKubernetesApplyKill9 kills `gearshift apply` with SIGKILL while a
// StatefulSet rolls out; the next apply resumes and converges, and a plan
// after it has no changes.
func TestKubernetesApplyKill9(t *testing.T) {
	gs, err := exec.LookPath("gearshift")
	if err != nil {
		t.Fatal("the gearshift test program is not on PATH (TestMain sets it up)")
	}
	c := kubetest.Start(t)
	c.StartKubelet(t, kubetest.KubeletOptions{ReadyAfter: time.Second})
	f := newKubeFixture(t, c)
	createKubeStatefulSet(t, c, f.ns, "stack", "registry.local/stack:1", 3)
	f.write("environments/dev/env.cue", f.envCUE(c.Kubeconfig))
	gearshift := func(args ...string) *exec.Cmd {
		cmd := exec.Command(gs, kubeArgs(f.repo, args)...)
		cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+f.env["XDG_STATE_HOME"], "XDG_CACHE_HOME="+f.env["XDG_CACHE_HOME"], "NO_COLOR=1")
		return cmd
	}
	ctx := context.Background()
	for trial, v := range []string{"2", "3", "4"} {
		f.write("environments/dev/units.cue", fmt.Sprintf("package gearshift\n\nunits: stack: {kind: \"stack\", version: %q, target: \"sts\"}\n", v))
		cmd := gearshift("apply", "dev")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it once the patch is in and the rollout has begun.
		waitKube(t, "the patch", func() bool {
			s, err := c.Client.AppsV1().StatefulSets(f.ns).Get(ctx, "stack", metav1.GetOptions{})
			return err == nil && s.Spec.Template.Spec.Containers[0].Image == "registry.local/stack:"+v
		})
		time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		s, _ := c.Client.AppsV1().StatefulSets(f.ns).Get(ctx, "stack", metav1.GetOptions{})
		t.Logf("trial %d: killed (signaled %t) with the rollout at updated %d, ready %d", trial, ws.Signaled(), s.Status.UpdatedReplicas, s.Status.ReadyReplicas)

		rec := gearshift("apply", "dev")
		outB, err := rec.CombinedOutput()
		if err != nil {
			t.Fatalf("trial %d: the apply after the kill failed: %v\n%s\nkilled run:\n%s", trial, err, outB, out.String())
		}
		if ws.Signaled() && !strings.Contains(string(outB), "resuming: stack was left unfinished") {
			t.Errorf("trial %d: the apply after a kill did not resume the unit:\n%s", trial, outB)
		}
		allRun(t, c, f.ns, "stack", "registry.local/stack:"+v, 3)
		if out, err := gearshift("plan", "dev", "--detailed-exitcode").CombinedOutput(); err != nil {
			t.Fatalf("trial %d: the plan after the converging apply is not empty (%v):\n%s", trial, err, out)
		}
	}
}

// TestKubernetesFragalysis is the Fragalysis story on Kubernetes: the
// frontend and the backend (Deployments) before the stack (a StatefulSet
// of three, replaced one pod at a time from the highest ordinal, each
// ready before the next); staging deploys from main, production only from
// semver tags; the monthly redeploy of production is a rolling restart; a
// pull request's plan from the status branch needs no cluster at all.
func TestKubernetesFragalysis(t *testing.T) {
	c := kubetest.Start(t)
	// Pods become ready 1.1s after they start, so that each replacement's
	// creation time (whole seconds) tells the order.
	c.StartKubelet(t, kubetest.KubeletOptions{ReadyAfter: 1100 * time.Millisecond})
	h := newHarness(t, nil)
	h.env["XDG_STATE_HOME"] = t.TempDir()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	b, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, b, 0o600); err != nil {
		t.Fatal(err)
	}
	nss := map[string]string{}
	files := map[string]string{"cue.mod/module.cue": "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n"}
	for _, env := range []string{"staging", "production"} {
		ns := c.Namespace(t)
		nss[env] = ns
		createKubeDeployment(t, c, ns, "frontend", "registry.local/fragalysis-frontend:1.3.0", 2, 600)
		createKubeDeployment(t, c, ns, "backend", "registry.local/fragalysis-backend:1.3.0", 2, 600)
		createKubeStatefulSet(t, c, ns, "stack", "registry.local/fragalysis-stack:1.3.0", 3)
		deployFrom, policies := `branch: "main"`, ""
		if env == "production" {
			deployFrom, policies = `tag: "^v[0-9]+\\.[0-9]+\\.[0-9]+$"`, `policies: versionPattern: "^[0-9]+\\.[0-9]+\\.[0-9]+$"`
		}
		files["environments/"+env+"/env.cue"] = fmt.Sprintf(`package gearshift

environment: {
	name: %[1]q
	deployFrom: %[2]s
	%[3]s
	targets: {
		apps: kubernetes: {kubeconfig: %[4]q, namespace: %[5]q, image: "registry.local/fragalysis-{unit}:{version}"}
		stack: kubernetes: {kubeconfig: %[4]q, namespace: %[5]q, workload: "StatefulSet", image: "registry.local/fragalysis-stack:{version}"}
	}
}

units: {
	frontend: {kind: "gear", version: "1.4.0", target: "apps"}
	backend: {kind: "gear", version: "1.4.0", target: "apps"}
	stack: {kind: "stack", version: "1.4.0", target: "stack", dependsOn: ["frontend", "backend"]}
}
`, env, deployFrom, policies, kubeconfig, ns)
	}
	h.git.CreateRepo("state", "main", files)
	url := h.git.URL("state")

	checkOrder := func(env string, errOut string) {
		t.Helper()
		lines := strings.Split(errOut, "\n")
		first := func(prefix string) int {
			for i, l := range lines {
				if strings.HasPrefix(l, prefix) {
					return i
				}
			}
			t.Fatalf("%s: no line %q:\n%s", env, prefix, errOut)
			return 0
		}
		stack := first("gearshift: " + env + " stack: ")
		if first("gearshift: "+env+" frontend: ") > stack || first("gearshift: "+env+" backend: ") > stack {
			t.Errorf("%s: the stack started before the frontend and the backend had deployed:\n%s", env, errOut)
		}
		// One pod at a time, from the highest ordinal down: each was
		// created after the one before it was ready.
		pods, err := c.Client.CoreV1().Pods(nss[env]).List(context.Background(), metav1.ListOptions{LabelSelector: "app=stack"})
		if err != nil {
			t.Fatal(err)
		}
		created := map[string]time.Time{}
		for _, p := range pods.Items {
			created[p.Name] = p.CreationTimestamp.Time
		}
		if !created["stack-2"].Before(created["stack-1"]) || !created["stack-1"].Before(created["stack-0"]) {
			t.Errorf("%s: the stack's pods were not replaced one at a time from stack-2 down: created %v", env, created)
		}
	}

	_, errOut := kubeMust(t, h, 0, "apply", "staging", "--repo", url, "--ref", "main")
	checkOrder("staging", errOut)
	allRun(t, c, nss["staging"], "stack", "registry.local/fragalysis-stack:1.4.0", 3)
	allRun(t, c, nss["staging"], "frontend", "registry.local/fragalysis-frontend:1.4.0", 2)

	// Rolling the stack back opens a pull request that makes the state say
	// what runs, and 1.4.0 is remembered as failed: the next apply leaves
	// the stack alone until --retry-failed.
	out := h.mustRun(0, "rollback", "staging", "stack", "--to", "1.3.0", "--pr", "--repo", url, "--ref", "main")
	if prs := h.gh.PullRequests(); !strings.Contains(out, "Pull request #") || len(prs) != 1 || !strings.Contains(prs[0].Body, "1.3.0") {
		t.Errorf("rollback --pr: %s\npull requests: %+v", out, prs)
	}
	allRun(t, c, nss["staging"], "stack", "registry.local/fragalysis-stack:1.3.0", 3)
	code, out, stderr := h.run("apply", "staging", "--repo", url, "--ref", "main")
	if code != ExitFailure || !strings.Contains(out, "1.4.0 failed at 2026-11-22T12:00:00Z and was rolled back; change the desired version to retry, or --retry-failed") {
		t.Errorf("apply after the rollback: exit %d, want 1 and the failed version remembered\n%s%s", code, out, stderr)
	}
	allRun(t, c, nss["staging"], "stack", "registry.local/fragalysis-stack:1.3.0", 3)
	kubeMust(t, h, 0, "apply", "staging", "--repo", url, "--ref", "main", "--retry-failed")
	allRun(t, c, nss["staging"], "stack", "registry.local/fragalysis-stack:1.4.0", 3)

	// Production takes semver tags only.
	code, _, stderr = h.run("apply", "production", "--repo", url, "--ref", "main")
	if code != ExitFailure || !strings.Contains(stderr, "environment production refuses branch main") {
		t.Errorf("apply production from main: exit %d, stderr %q; want a refusal", code, stderr)
	}
	allRun(t, c, nss["production"], "stack", "registry.local/fragalysis-stack:1.3.0", 3)
	h.git.Tag("state", "v1.4.0", "main")
	_, errOut = kubeMust(t, h, 0, "apply", "production", "--repo", url, "--ref", "v1.4.0")
	checkOrder("production", errOut)
	allRun(t, c, nss["production"], "stack", "registry.local/fragalysis-stack:1.4.0", 3)

	// A month on, the monthly redeploy restarts the stack the same way.
	h.env["GEARSHIFT_NOW"] = "2026-12-24T12:00:00Z"
	_, errOut = kubeMust(t, h, 0, "apply", "production", "--repo", url, "--ref", "v1.4.0")
	if !strings.Contains(errOut, "restarting registry.local/fragalysis-stack:1.4.0 (kubectl.kubernetes.io/restartedAt)") {
		t.Errorf("the monthly apply did not restart the stack:\n%s", errOut)
	}
	checkOrder("production", errOut)

	// A pull request's plan reads the status branch: no cluster needed.
	if err := os.Rename(kubeconfig, kubeconfig+".away"); err != nil {
		t.Fatal(err)
	}
	out = h.mustRun(0, "plan", "production", "--repo", url, "--from-status", "--detailed-exitcode")
	if !strings.Contains(out, "No changes") {
		t.Errorf("plan --from-status without the cluster's credentials:\n%s", out)
	}
}

// kubeMust is harness.mustRun that returns stderr too (apply's progress).
func kubeMust(t *testing.T, h *harness, want int, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := h.run(args...)
	if code != want {
		t.Fatalf("gearshift %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

// kubeArgs adds --repo, and --no-status to the commands that write status
// records.
func kubeArgs(repo string, args []string) []string {
	args = append(args, "--repo", repo)
	if args[0] == "apply" || args[0] == "rollback" {
		args = append(args, "--no-status")
	}
	return args
}
