package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/gearshift-dev/gearshift/internal/serve"
	"github.com/gearshift-dev/gearshift/internal/testutil"
	"github.com/gearshift-dev/gearshift/internal/testutil/gitserver"
	"github.com/gearshift-dev/gearshift/internal/testutil/kubetest"
)

// TestKubernetesManifests applies deploy/kubernetes to a real control
// plane as the docs say, `kubectl apply -k deploy/kubernetes` (kustomize's
// build, by the library kubectl runs it with) and a deployer-binding.yaml
// for the target namespace: every object is accepted, the Deployment gets its ReplicaSet of
// three, the ServiceAccount may do what --leader-elect and the kubernetes
// driver need and nothing more (SubjectAccessReview), and gearshift serve
// --leader-elect runs as in the pod (in-cluster config: that
// ServiceAccount's token, the cluster's CA and its namespace from the
// service account's files) and takes its environment's Lease.
func TestKubernetesManifests(t *testing.T) {
	if testing.Short() {
		t.Skip("a control plane")
	}
	cluster := kubetest.Start(t)
	// The kustomization's namespace, which it creates.
	ns, target, other := "gearshift", cluster.Namespace(t), cluster.Namespace(t)
	ctx := context.Background()
	dir := filepath.Join("..", "..", "deploy", "kubernetes")
	built, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	y, err := built.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	binding, err := os.ReadFile(filepath.Join(dir, "deployer-binding.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	binding = bytes.ReplaceAll(binding, []byte("namespace: apps "), []byte("namespace: "+target+" "))
	for _, f := range []struct {
		name string
		b    []byte
	}{{"kubectl apply -k " + dir, y}, {"deployer-binding.yaml", binding}} {
		for _, obj := range decodeAll(t, f.name, f.b) {
			if err := create(ctx, cluster, obj); err != nil {
				t.Fatalf("%s: %T: %v", f.name, obj, err)
			}
		}
	}

	// The controller-manager makes the Deployment's ReplicaSet.
	deadline := time.Now().Add(time.Minute)
	for {
		rs, err := cluster.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=gearshift"})
		if err == nil && len(rs.Items) == 1 && rs.Items[0].Spec.Replicas != nil && *rs.Items[0].Spec.Replicas == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ReplicaSet of 3 for the Deployment: %v %v", rs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	user := "system:serviceaccount:" + ns + ":gearshift"
	for _, c := range []struct {
		ns, group, resource, verb string
		want                      bool
	}{
		{ns, "coordination.k8s.io", "leases", "create", true},
		{ns, "coordination.k8s.io", "leases", "update", true},
		{ns, "coordination.k8s.io", "leases", "list", true},
		{ns, "coordination.k8s.io", "leases", "delete", true},
		{other, "coordination.k8s.io", "leases", "update", false},
		{target, "apps", "deployments", "patch", true},
		{target, "apps", "statefulsets", "update", true},
		{target, "apps", "replicasets", "list", true},
		{target, "", "pods", "list", true},
		{target, "", "pods", "delete", false},
		{other, "apps", "deployments", "patch", false},
		{ns, "", "secrets", "get", false},
		{"", "", "namespaces", "list", false},
	} {
		sar, err := cluster.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: c.ns, Group: c.group, Resource: c.resource, Verb: c.verb},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != c.want {
			t.Errorf("%s %s.%s in %q: allowed %v, want %v", c.verb, c.resource, c.group, c.ns, sar.Status.Allowed, c.want)
		}
	}

	// gearshift serve --leader-elect with the ServiceAccount's own token.
	tok, err := cluster.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "gearshift", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	temp := t.TempDir()
	bin := filepath.Join(temp, "gearshift")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gearshift-dev/gearshift/cmd/gearshift").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	git := gitserver.New(t, "")
	work := t.TempDir()
	git.CreateRepo("state", "main", map[string]string{
		"cue.mod/module.cue":       "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"status.sh":                statusScript,
		"deploy.sh":                electDeploy,
		"environments/dev/env.cue": electEnv("dev", "1.0.0"),
	})
	// As in the pod: no kubeconfig, the in-cluster config from the
	// service account's files (token, CA, and the namespace of the
	// Leases) and KUBERNETES_SERVICE_HOST/PORT.
	cmd := exec.Command(bin, "serve", "--repo", git.URL("state"), "--listen", "127.0.0.1:"+strconv.Itoa(testutil.FreePort(t)),
		"--state-dir", filepath.Join(temp, "state"), "--no-status", "--leader-elect", "--leader-elect-retry-period", "500ms")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + temp, "XDG_CACHE_HOME=" + filepath.Join(temp, "cache"),
		"POD_NAME=gearshift-abc", "GS_TEST_STATE=" + work, "GS_REPLICA=pod", "GEARSHIFT_PASS_ENV=GS_TEST_STATE,GS_REPLICA"}
	cluster.InPod(t, cmd, ns, tok.Status.Token)
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("serve said:\n%s", out.String())
		}
	}()
	deadline = time.Now().Add(time.Minute)
	for {
		l, err := cluster.Client.CoordinationV1().Leases(ns).Get(ctx, serve.LeaseName("dev"), metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "gearshift-abc" && readTrim(t, filepath.Join(work, "dev-api")) == "1.0.0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve with the ServiceAccount's token did not lead dev and deploy: lease %v, %v", l, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(out.String(), "forbidden") {
		t.Errorf("serve was refused something:\n%s", out.String())
	}
}

// decodeAll decodes a multi-document YAML file into typed objects.
func decodeAll(t *testing.T, name string, b []byte) []runtime.Object {
	t.Helper()
	var objs []runtime.Object
	dec := utilyaml.NewYAMLReader(bufioReader(b))
	for {
		doc, err := dec.Read()
		if err == io.EOF {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		objs = append(objs, obj)
	}
}

// create creates obj in ns (or in its own namespace when it names one).
// create creates obj as kubectl would: in its own namespace, else in
// "default" (the test's kubeconfig names none).
func create(ctx context.Context, c *kubetest.Cluster, obj runtime.Object) error {
	in := func(m metav1.Object) string {
		if m.GetNamespace() != "" {
			return m.GetNamespace()
		}
		return "default"
	}
	var err error
	switch o := obj.(type) {
	case *corev1.Namespace:
		_, err = c.Client.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
	case *corev1.ServiceAccount:
		_, err = c.Client.CoreV1().ServiceAccounts(in(o)).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Secret:
		_, err = c.Client.CoreV1().Secrets(in(o)).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Service:
		_, err = c.Client.CoreV1().Services(in(o)).Create(ctx, o, metav1.CreateOptions{})
	case *appsv1.Deployment:
		_, err = c.Client.AppsV1().Deployments(in(o)).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.Role:
		_, err = c.Client.RbacV1().Roles(in(o)).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.RoleBinding:
		_, err = c.Client.RbacV1().RoleBindings(in(o)).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.ClusterRole:
		_, err = c.Client.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
	default:
		return errUnknownKind(obj)
	}
	return err
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func errUnknownKind(obj runtime.Object) error { return fmt.Errorf("the test creates no %T", obj) }
