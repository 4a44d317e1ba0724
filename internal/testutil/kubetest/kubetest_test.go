package kubetest

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func podTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
	}
}

// waitFor polls cond until it holds, failing t after limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestControlPlane starts the real control plane and checks what the
// driver's tests rely on: a Deployment's rollout completes with the fake
// kubelet, a StatefulSet replaces its pods from the highest ordinal down,
// an unready pod holds a rollout, and a user without a role is forbidden.
func TestControlPlane(t *testing.T) {
	c := Start(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	c.StartKubelet(t, KubeletOptions{Unready: func(p *corev1.Pod) bool {
		return strings.HasSuffix(p.Spec.Containers[0].Image, ":bad")
	}})

	replicas := int32(2)
	deps := c.Client.AppsV1().Deployments(ns)
	if _, err := deps.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: podTemplate("example/web:1.0.0")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deployment available", 60*time.Second, func() (bool, error) {
		d, err := deps.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := d.Status
		return s.ObservedGeneration == d.Generation && s.UpdatedReplicas == 2 && s.AvailableReplicas == 2 && s.ReadyReplicas == 2, nil
	})

	// A bad image: the new pod runs but is never ready, so the old pods stay.
	d, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "example/web:bad"
	if _, err := deps.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bad pod running, not ready", 60*time.Second, func() (bool, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image == "example/web:bad" && p.Status.Phase == corev1.PodRunning {
				return !podReady(&p), nil
			}
		}
		return false, nil
	})
	d, _ = deps.Get(ctx, "web", metav1.GetOptions{})
	if d.Status.ReadyReplicas < 1 || d.Status.UpdatedReplicas == 2 && d.Status.AvailableReplicas == 2 {
		t.Fatalf("bad image rolled out: %+v", d.Status)
	}

	// A StatefulSet of 3 rolls from ordinal 2 down to 0, one at a time.
	three := int32(3)
	sets := c.Client.AppsV1().StatefulSets(ns)
	tmpl := podTemplate("example/db:1")
	tmpl.Labels = map[string]string{"app": "db"}
	if _, err := sets.Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: &three, ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: tmpl},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stsDone := func(image string) func() (bool, error) {
		return func() (bool, error) {
			s, err := sets.Get(ctx, "db", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := s.Status
			return s.Spec.Template.Spec.Containers[0].Image == image && st.ObservedGeneration == s.Generation &&
				st.ReadyReplicas == 3 && st.UpdatedReplicas == 3 && st.CurrentRevision == st.UpdateRevision, nil
		}
	}
	waitFor(t, "statefulset ready", 60*time.Second, stsDone("example/db:1"))
	// The order pods are created with the new image, as a watch sees it.
	w, err := c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=db"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s, _ := sets.Get(ctx, "db", metav1.GetOptions{})
	s.Spec.Template.Spec.Containers[0].Image = "example/db:2"
	if _, err := sets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var order []string
	seen := map[string]bool{}
	timeout := time.After(90 * time.Second)
	for len(order) < 3 {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("pod watch closed")
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if isPod && p.Spec.Containers[0].Image == "example/db:2" && !seen[p.Name] {
				seen[p.Name] = true
				order = append(order, p.Name)
			}
		case <-timeout:
			t.Fatalf("statefulset rolled only %v", order)
		}
	}
	waitFor(t, "statefulset rolled", 90*time.Second, stsDone("example/db:2"))
	if strings.Join(order, ",") != "db-2,db-1,db-0" {
		t.Fatalf("statefulset pods replaced in order %v, want db-2,db-1,db-0", order)
	}

	// alice has no role: forbidden.
	cfg, err := clientcmd.BuildConfigFromFlags("", c.UserKubeconfig(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	alice := kubernetes.NewForConfigOrDie(cfg)
	if _, err := alice.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice without a role: %v, want forbidden", err)
	}
}
