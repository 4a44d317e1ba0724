package kubernetes

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/kubetest"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// TestKubernetes runs the driver against a real control plane (etcd,
// kube-apiserver, kube-controller-manager) with the fake kubelet: one
// cluster, a namespace per scenario.
func TestKubernetes(t *testing.T) {
	c := testCluster(t)
	t.Run("DeploymentDeployObserveRestartRollback", func(t *testing.T) { testDeployment(t, c) })
	t.Run("StatefulSetRollsOnePodAtATimeInOrder", func(t *testing.T) { testStatefulSet(t, c) })
	t.Run("BadImageDeployment", func(t *testing.T) { testBadImageDeployment(t, c) })
	t.Run("BadImageStatefulSet", func(t *testing.T) { testBadImageStatefulSet(t, c) })
	t.Run("Drift", func(t *testing.T) { testDrift(t, c) })
	t.Run("DryRunDiff", func(t *testing.T) { testDiff(t, c) })
	t.Run("InventoryPrune", func(t *testing.T) { testInventoryPrune(t, c) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, c) })
	t.Run("DaemonSet", func(t *testing.T) { testDaemonSet(t, c) })
	t.Run("Paused", func(t *testing.T) { testPaused(t, c) })
	t.Run("HealthCheck", func(t *testing.T) { testHealthCheck(t, c) })
	t.Run("ExecPlugin", func(t *testing.T) { testExecPlugin(t, c) })
	t.Run("ClientCertificates", func(t *testing.T) { testClientCerts(t, c) })
}

// testHealthCheck: after the rollout, a unit's health.http is probed from
// outside until it passes or its timeout; a failing check fails the
// deploy (and apply rolls back).
func testHealthCheck(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createDeployment(t, c, ns, "web", "registry.local/web:1.0", 1, 600)
	var healthy atomic.Bool
	var probes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		if !healthy.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns}
	u := &state.Unit{Name: "web", Version: "1.1", Target: "k8s", Health: &state.Health{
		HTTP: &state.HTTPCheck{URL: srv.URL + "/health", Status: 200, Body: "ok"}, Timeout: state.Duration{Duration: 6 * time.Second}, Interval: state.Duration{Duration: 100 * time.Millisecond}}}
	env := testEnv("k8s", tgt, u)
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })
	_, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0})
	if err == nil || !strings.Contains(err.Error(), "unit web on kubernetes target k8s: health check: ") || probes.Load() < 2 {
		t.Errorf("deploy with a failing health check: %v (%d probes)", err, probes.Load())
	}
	healthy.Store(true)
	u.Version = "1.2"
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0}); err != nil {
		t.Errorf("deploy with a passing health check: %v", err)
	}
}

// testPaused: a paused rollout (kubectl rollout pause) is observed
// unhealthy, and gearshift neither deploys nor rolls back until it is
// resumed: nothing changes.
func testPaused(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createDeployment(t, c, ns, "web", "registry.local/web:1.0", 1, 600)
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns}
	u := &state.Unit{Name: "web", Version: "1.1", Target: "k8s"}
	env := testEnv("k8s", tgt, u)
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Patch(ctx, "web", types.StrategicMergePatchType, []byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{FieldManager: "kubectl-rollout"}); err != nil {
		t.Fatal(err)
	}
	before, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	d = NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })
	if obs := d.Observe(ctx, env, u); obs.Health != driver.HealthUnhealthy || !strings.HasPrefix(obs.HealthDetail, "rollout paused") {
		t.Errorf("observation of a paused rollout: %+v", obs)
	}
	u.Version = "1.2"
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0}); err == nil || !strings.Contains(err.Error(), "deployment "+ns+"/web is paused (spec.paused): resume it") {
		t.Errorf("deploy of a paused deployment: %v", err)
	}
	if _, err := d.Rollback(ctx, env, u, ""); err == nil || !strings.Contains(err.Error(), "is paused") {
		t.Errorf("rollback of a paused deployment: %v", err)
	}
	// The controller writes the status of a paused deployment (its
	// condition), so the spec and the metadata are compared.
	after, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if after.Generation != before.Generation || !maps.Equal(after.Annotations, before.Annotations) || !maps.Equal(after.Labels, before.Labels) {
		t.Errorf("the paused deployment changed: generation %d -> %d, annotations %v -> %v", before.Generation, after.Generation, before.Annotations, after.Annotations)
	}
}

func testDeployment(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createDeployment(t, c, ns, "web", "registry.local/web:1.0", 2, 600)
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns, Workload: "Deployment", Container: "app"}
	u := &state.Unit{Name: "web", Version: "1.1", Target: "k8s"}
	env := testEnv("k8s", tgt, u)
	now := t0
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return now })

	// Before gearshift: the running tag is the version; when it was rolled
	// out is unknown.
	obs := d.Observe(ctx, env, u)
	want := driver.Observation{Unit: "web", Deployed: true, Version: "1.0", Health: driver.HealthHealthy, HealthDetail: "ready 2/2"}
	if diff := cmp.Diff(obs, want); diff != "" {
		t.Fatalf("first observation (-got +want):\n%s", diff)
	}

	var events []string
	res, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: now, Event: func(m string) { events = append(events, m) }})
	if err != nil {
		t.Fatalf("deploy: %v\nevents: %q", err, events)
	}
	if res.Version != "1.1" || res.ReleaseID != "registry.local/web:1.1" || res.Previous == nil || res.Previous.Version != "1.0" {
		t.Errorf("deploy result = %+v", res)
	}
	ref := "deployment " + ns + "/web: "
	if events[0] != ref+"setting image registry.local/web:1.1" || events[len(events)-1] != ref+"rolled out: updated 2/2, ready 2/2" {
		t.Errorf("events = %q, want the patch first and the rollout's end last", events)
	}
	if !slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, ref+"updated ") && strings.Contains(e, ", ready ") }) {
		t.Errorf("events = %q: no progress (updated N/M, ready N/M)", events)
	}
	for pod, img := range c.PodImages(t, ns, "web") {
		if img != "registry.local/web:1.1" {
			t.Errorf("pod %s runs %s after the rollout", pod, img)
		}
	}
	// The re-read after a deploy sees it (the run's List is dropped).
	obs = d.Observe(ctx, env, u)
	want = driver.Observation{Unit: "web", Deployed: true, Version: "1.1", DeployedAt: t0, Health: driver.HealthHealthy, HealthDetail: "ready 2/2",
		Previous: &driver.Release{ID: "registry.local/web:1.0", Version: "1.0"}}
	if diff := cmp.Diff(obs, want); diff != "" {
		t.Fatalf("observation after deploy (-got +want):\n%s", diff)
	}
	// gearshift owns its fields and nothing else: not the sidecar, not
	// the replicas, not the selector.
	dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantOwned := []string{
		"Apply f:metadata > f:annotations > f:gearshift.dev/deployed-at",
		"Apply f:metadata > f:annotations > f:gearshift.dev/previous-image",
		"Apply f:metadata > f:annotations > f:gearshift.dev/previous-version",
		"Apply f:metadata > f:annotations > f:gearshift.dev/version",
		"Apply f:metadata > f:labels > f:gearshift.dev/unit",
		`Apply f:spec > f:template > f:spec > f:containers > k:{"name":"app"} > f:image`,
		`Apply f:spec > f:template > f:spec > f:containers > k:{"name":"app"} > f:name`,
	}
	if diff := cmp.Diff(ownedBy(t, dep.ManagedFields, FieldManager), wantOwned); diff != "" {
		t.Errorf("fields gearshift owns (-got +want):\n%s", diff)
	}
	if dep.Spec.Template.Spec.Containers[1].Image != "registry.local/proxy:9" {
		t.Errorf("the sidecar's image changed: %s", dep.Spec.Template.Spec.Containers[1].Image)
	}

	// Rollback to the previous version, then again: the second keeps it.
	rb, err := d.Rollback(ctx, env, u, "")
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if rb.Version != "1.0" || rb.ReleaseID != "registry.local/web:1.0" {
		t.Errorf("rollback result = %+v", rb)
	}
	for pod, img := range c.PodImages(t, ns, "web") {
		if img != "registry.local/web:1.0" {
			t.Errorf("pod %s runs %s after the rollback", pod, img)
		}
	}
	rb2, err := d.Rollback(ctx, env, u, "")
	if err != nil || rb2.Version != "1.0" || rb2.ReleaseID != rb2.Previous.ID {
		t.Errorf("second rollback = %+v, %v; want 1.0 kept", rb2, err)
	}
	obs = d.Observe(ctx, env, u)
	if obs.Version != "1.0" || obs.Health != driver.HealthHealthy || obs.Previous == nil || obs.Previous.Version != "1.1" {
		t.Errorf("after rollbacks: %+v", obs)
	}
	// Rollback to a named version.
	if rb, err := d.Rollback(ctx, env, u, "1.1"); err != nil || rb.Version != "1.1" {
		t.Errorf("rollback --to 1.1 = %+v, %v", rb, err)
	}

	// maxAge: the same version again is a rollout restart: every pod is
	// replaced, and deployed-at is renewed. The release before it is the
	// same version, as on hosts.
	before := c.PodImages(t, ns, "web")
	now = t0.Add(31 * 24 * time.Hour)
	events = nil
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: now, Event: func(m string) { events = append(events, m) }}); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if events[0] != ref+"restarting registry.local/web:1.1 (kubectl.kubernetes.io/restartedAt)" {
		t.Errorf("restart events = %q", events)
	}
	after := c.PodImages(t, ns, "web")
	for pod := range after {
		if _, ok := before[pod]; ok {
			t.Errorf("pod %s survived the restart (before %v, after %v)", pod, before, after)
		}
	}
	dep, _ = c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if got := dep.Spec.Template.Annotations[AnnRestartedAt]; got != now.Format(time.RFC3339) {
		t.Errorf("restartedAt = %q, want %s", got, now.Format(time.RFC3339))
	}
	obs = d.Observe(ctx, env, u)
	if !obs.DeployedAt.Equal(now) || obs.Version != "1.1" || obs.Previous == nil || obs.Previous.Version != "1.1" {
		t.Errorf("after the restart: %+v", obs)
	}
	// The restart's annotation is gearshift's: the next deploy keeps it
	// (server-side apply would remove it, and restart every pod, if the
	// patch left it out).
	gen := dep.Generation
	u.Version = "1.2"
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: now}); err != nil {
		t.Fatal(err)
	}
	dep, _ = c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if dep.Spec.Template.Annotations[AnnRestartedAt] != now.Format(time.RFC3339) || dep.Generation != gen+1 {
		t.Errorf("after the next deploy: restartedAt %q, generation %d (was %d)", dep.Spec.Template.Annotations[AnnRestartedAt], dep.Generation, gen)
	}
}

// testStatefulSet is the Fragalysis stack's rollout: three pods, replaced
// one at a time from the highest ordinal down, each ready before the next
// goes; then the monthly restart, the same way.
func testStatefulSet(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createStatefulSet(t, c, ns, "stack", "registry.local/stack:1.0", 3)
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns, Workload: "StatefulSet", Image: "registry.local/stack:{version}"}
	u := &state.Unit{Name: "stack", Version: "1.1", Target: "k8s"}
	env := testEnv("k8s", tgt, u)
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })

	check := func(what, image string, pw *podWatch) {
		t.Helper()
		order, maxDown := pw.result()
		var got []string
		for _, o := range order {
			if strings.HasSuffix(o, "="+image) {
				got = append(got, strings.TrimSuffix(o, "="+image))
			}
		}
		if diff := cmp.Diff(got, []string{"stack-2", "stack-1", "stack-0"}); diff != "" {
			t.Errorf("%s: the order pods came up with %s (-got +want):\n%s\nall: %q", what, image, diff, order)
		}
		if maxDown > 1 {
			t.Errorf("%s: %d pods were down at once, want one at a time", what, maxDown)
		}
	}
	pw := watchPods(t, c, ns, "stack", 3)
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0}); err != nil {
		t.Fatal(err)
	}
	check("upgrade", "registry.local/stack:1.1", pw)

	pw = watchPods(t, c, ns, "stack", 3)
	before := map[string]string{}
	for _, p := range podUIDs(t, c, ns, "stack") {
		before[p] = p
	}
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0.Add(31 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	order, maxDown := pw.result()
	if maxDown > 1 {
		t.Errorf("restart: %d pods were down at once", maxDown)
	}
	for _, uid := range podUIDs(t, c, ns, "stack") {
		if before[uid] != "" {
			t.Errorf("restart: pod %s was not replaced (order %q)", uid, order)
		}
	}
	if obs := d.Observe(ctx, env, u); obs.Health != driver.HealthHealthy || !obs.DeployedAt.Equal(t0.Add(31*24*time.Hour)) {
		t.Errorf("after the restart: %+v", obs)
	}
}

func podUIDs(t *testing.T, c *kubetest.Cluster, ns, app string) []string {
	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		out = append(out, string(p.UID))
	}
	return out
}

// testBadImageDeployment: the new pods never become ready; the
// Deployment's progress deadline fails the deploy, and the rollback
// brings the previous image back on every pod.
func testBadImageDeployment(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createDeployment(t, c, ns, "api", "registry.local/api:1.0", 2, 6)
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns}
	u := &state.Unit{Name: "api", Version: "bad-1.1", Target: "k8s"}
	env := testEnv("k8s", tgt, u)
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })
	_, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0})
	if err == nil || !strings.Contains(err.Error(), "progress deadline exceeded") || !strings.Contains(err.Error(), "unit api on kubernetes target k8s") {
		t.Fatalf("deploy of a bad image: %v, want a progress deadline failure naming the unit and target", err)
	}
	obs := d.Observe(ctx, env, u)
	if obs.Health != driver.HealthUnhealthy || obs.Version != "bad-1.1" {
		t.Errorf("observation of the failed rollout: %+v", obs)
	}
	if _, err := d.Rollback(ctx, env, u, "1.0"); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	waitFor(t, "old pods gone", func() bool {
		for _, img := range c.PodImages(t, ns, "api") {
			if img != "registry.local/api:1.0" {
				return false
			}
		}
		return true
	})
	if obs := d.Observe(ctx, env, u); obs.Version != "1.0" || obs.Health != driver.HealthHealthy {
		t.Errorf("after the rollback: %+v", obs)
	}
}

// testBadImageStatefulSet: nothing in the cluster fails a StatefulSet's
// rollout; gearshift's own deadline does, and its rollback deletes the
// stuck pod of the failed revision so the reverted one can replace it.
func testBadImageStatefulSet(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createStatefulSet(t, c, ns, "db", "registry.local/db:1.0", 3)
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns, Workload: "StatefulSet", RolloutTimeout: state.Duration{Duration: 4 * time.Second}}
	u := &state.Unit{Name: "db", Version: "bad-2", Target: "k8s"}
	env := testEnv("k8s", tgt, u)
	now := t0
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return now })
	_, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: now})
	if err == nil || !strings.Contains(err.Error(), "rollout not finished after 4s") {
		t.Fatalf("deploy of a bad image: %v, want gearshift's deadline", err)
	}
	now = t0.Add(time.Minute) // past the deadline: observation says unhealthy
	if obs := d.Observe(ctx, env, u); obs.Health != driver.HealthUnhealthy || !strings.Contains(obs.HealthDetail, "rollout not finished 4s after it began") {
		t.Errorf("observation of the stuck rollout: %+v", obs)
	}
	// The rollback's own rollout has time enough on a loaded machine.
	tgt.RolloutTimeout = state.Duration{Duration: 2 * time.Minute}
	if _, err := d.Rollback(ctx, env, u, ""); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	for pod, img := range c.PodImages(t, ns, "db") {
		if img != "registry.local/db:1.0" {
			t.Errorf("pod %s runs %s after the rollback", pod, img)
		}
	}
	if obs := d.Observe(ctx, env, u); obs.Version != "1.0" || obs.Health != driver.HealthHealthy {
		t.Errorf("after the rollback: %+v", obs)
	}
}

// testDrift: someone runs `kubectl set image` (a strategic merge patch
// under field manager kubectl-set). Observation reports it; a deploy takes
// the image back.
func testDrift(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createDeployment(t, c, ns, "web", "registry.local/web:1.0", 1, 600)
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns, Image: "registry.local/web:{version}"}
	u := &state.Unit{Name: "web", Version: "1.1", Target: "k8s"}
	env := testEnv("k8s", tgt, u)
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0}); err != nil {
		t.Fatal(err)
	}
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.local/web:1.1-hotfix"}]}}}}`
	if _, err := c.Client.AppsV1().Deployments(ns).Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
	d = NewPool("").Driver("k8s", tgt, func() time.Time { return t0 }) // a new run
	obs := d.Observe(ctx, env, u)
	if obs.Version != "1.1-hotfix" || obs.Drift != "image registry.local/web:1.1-hotfix was set outside gearshift, which rolled out 1.1" || !obs.DeployedAt.IsZero() {
		t.Errorf("observation of the drift: %+v", obs)
	}
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	dep, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "registry.local/web:1.1" {
		t.Errorf("image after the correcting deploy: %s", img)
	}
	for _, f := range ownedBy(t, dep.ManagedFields, "kubectl-set") {
		if strings.Contains(f, "f:image") {
			t.Errorf("kubectl-set still owns the image: %s", f)
		}
	}
	if obs := d.Observe(ctx, env, u); obs.Version != "1.1" || obs.HealthDetail != "ready 1/1" {
		t.Errorf("after the correction: %+v", obs)
	}
}

func testDiff(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createDeployment(t, c, ns, "web", "registry.local/web:1.0", 1, 600)
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns}
	u := &state.Unit{Name: "web", Version: "1.1", Target: "k8s"}
	env := testEnv("k8s", tgt, u)
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })
	before, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	diff, err := d.Diff(ctx, env, u)
	if err != nil {
		t.Fatal(err)
	}
	want := "deployment " + ns + `/web (server-side dry run, field manager gearshift):
+ metadata.annotations[gearshift.dev/deployed-at]: "2026-11-22T12:00:00Z"
+ metadata.annotations[gearshift.dev/previous-image]: "registry.local/web:1.0"
+ metadata.annotations[gearshift.dev/previous-version]: "1.0"
+ metadata.annotations[gearshift.dev/version]: "1.1"
+ metadata.labels[gearshift.dev/unit]: "web"
~ spec.template.spec.containers[app].image: "registry.local/web:1.0" -> "registry.local/web:1.1"`
	if diff != want {
		t.Errorf("diff:\n%s\nwant:\n%s", diff, want)
	}
	after, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the dry run changed the deployment (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}
}

func testInventoryPrune(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createDeployment(t, c, ns, "a", "registry.local/a:1", 1, 600)
	createDeployment(t, c, ns, "b", "registry.local/b:1", 1, 600)
	createDeployment(t, c, ns, "other", "registry.local/other:1", 1, 600) // not gearshift's
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns}
	ua := &state.Unit{Name: "a", Version: "2", Target: "k8s"}
	ub := &state.Unit{Name: "b", Version: "2", Target: "k8s"}
	env := testEnv("k8s", tgt, ua, ub)
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })
	for _, u := range []*state.Unit{ua, ub} {
		if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Inventory(ctx, env, "k8s")
	if err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("inventory = %q, %v; want a, b", got, err)
	}
	if err := d.Prune(ctx, env, "k8s", "b"); err != nil {
		t.Fatal(err)
	}
	dep, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, "b", metav1.GetOptions{})
	if *dep.Spec.Replicas != 0 || dep.Labels[LabelUnit] != "" || dep.Spec.Template.Spec.Containers[0].Image != "registry.local/b:2" {
		t.Errorf("pruned deployment: replicas %d, labels %v, image %s", *dep.Spec.Replicas, dep.Labels, dep.Spec.Template.Spec.Containers[0].Image)
	}
	if got, err := d.Inventory(ctx, env, "k8s"); err != nil || !slices.Equal(got, []string{"a"}) {
		t.Errorf("inventory after the prune = %q, %v; want a", got, err)
	}
}

// testBadInput: each mistake is one clear error naming the unit and the
// target, and nothing changes on the cluster.
func testBadInput(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	createDeployment(t, c, ns, "web", "registry.local/web:1.0", 1, 600)
	before, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})

	alice := c.UserKubeconfig(t, "alice")
	bob := c.UserKubeconfig(t, "bob")
	// bob may read deployments in the namespace, not change them.
	if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bob-read"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "bob", APIGroup: "rbac.authorization.k8s.io"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secrets := tokens(t, c.Kubeconfig)

	for _, tc := range []struct {
		name      string
		tgt       state.KubernetesTarget
		observe   string // "" when observation works
		deployErr string
	}{
		{"missing kubeconfig", state.KubernetesTarget{Kubeconfig: "/nonexistent/kubeconfig"}, "kubeconfig: stat /nonexistent/kubeconfig: no such file or directory", ""},
		{"wrong context", state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Context: "prod"}, `has no context "prod" (contexts: admin, alice, bob)`, ""},
		{"missing workload", state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Name: "ghost"}, "deployment " + ns + "/ghost does not exist (gearshift changes workloads, it does not create them)", ""},
		{"missing container", state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Container: "api"}, "deployment " + ns + `/web has no container "api" (containers: app, sidecar)`, ""},
		{"forbidden", state.KubernetesTarget{Kubeconfig: alice}, "forbidden to read deployment " + ns + `/web (RBAC): deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments"`, ""},
		{"forbidden to patch", state.KubernetesTarget{Kubeconfig: bob}, "", "forbidden to patch deployment " + ns + `/web (RBAC): deployments.apps "web" is forbidden: User "bob" cannot patch resource "deployments"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt := tc.tgt
			tgt.Namespace = ns
			u := &state.Unit{Name: "web", Version: "1.1", Target: "k8s"}
			env := testEnv("k8s", &tgt, u)
			d := NewPool("").Driver("k8s", &tgt, func() time.Time { return t0 })
			obs := d.Observe(ctx, env, u)
			wantErr := tc.observe
			if wantErr == "" {
				if obs.Error != "" || obs.Version != "1.0" {
					t.Errorf("observation: %+v", obs)
				}
				wantErr = tc.deployErr
			} else if !strings.HasPrefix(obs.Error, "unit web on kubernetes target k8s: ") || !strings.Contains(obs.Error, wantErr) {
				t.Errorf("observation error:\n%s\nwant it to name the unit and the target and contain\n%s", obs.Error, wantErr)
			}
			_, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0})
			if err == nil || !strings.HasPrefix(err.Error(), "unit web on kubernetes target k8s: ") || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("deploy error:\n%v\nwant it to name the unit and the target and contain\n%s", err, wantErr)
			}
			for _, s := range secrets {
				if strings.Contains(obs.Error, s) || (err != nil && strings.Contains(err.Error(), s)) {
					t.Errorf("an error shows a token of the kubeconfig")
				}
			}
			after, _ := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if after.ResourceVersion != before.ResourceVersion {
				t.Errorf("the deployment changed (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
			}
		})
	}
}

// tokens are the bearer tokens of a kubeconfig, which no error may show.
func tokens(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range cfg.AuthInfos {
		if a.Token != "" {
			out = append(out, a.Token)
		}
	}
	if len(out) == 0 {
		t.Fatal("the test kubeconfig has no token")
	}
	return out
}

func testDaemonSet(t *testing.T, c *kubetest.Cluster) {
	ctx := context.Background()
	ns := c.Namespace(t)
	tpl := podSpec("registry.local/agent:1")
	tpl.Labels = labelsFor("agent")
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labelsFor("agent")}, Template: tpl}}
	if _, err := c.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns, Workload: "DaemonSet"}
	u := &state.Unit{Name: "agent", Version: "2", Target: "k8s"}
	env := testEnv("k8s", tgt, u)
	d := NewPool("").Driver("k8s", tgt, func() time.Time { return t0 })
	waitFor(t, "daemonset rolled out", func() bool {
		return NewPool("").Driver("k8s", tgt, nil).Observe(ctx, env, u).Health == driver.HealthHealthy
	})
	if _, err := d.Deploy(ctx, driver.DeployRequest{Env: env, Unit: u, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if obs := d.Observe(ctx, env, u); obs.Version != "2" || obs.Health != driver.HealthHealthy {
		t.Errorf("after the deploy: %+v", obs)
	}
	for pod, img := range c.PodImages(t, ns, "agent") {
		if img != "registry.local/agent:2" {
			t.Errorf("pod %s runs %s", pod, img)
		}
	}
	if err := d.Prune(ctx, env, "k8s", "agent"); err == nil || !strings.Contains(err.Error(), "cannot be scaled to zero") {
		t.Errorf("prune of a daemonset: %v", err)
	}
}
