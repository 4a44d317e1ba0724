package kubernetes

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/kubetest"
)

// badImage marks the pods the fake kubelet never reports ready: an image
// whose tag starts with "bad".
func badImage(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if strings.HasPrefix(tagOf(c.Image), "bad") {
			return true
		}
	}
	return false
}

// testCluster is one control plane and fake kubelet for the package's
// integration tests; each test takes a namespace of its own.
func testCluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	c := kubetest.Start(t)
	c.StartKubelet(t, kubetest.KubeletOptions{Unready: badImage, ReadyAfter: 300 * time.Millisecond})
	return c
}

func labelsFor(name string) map[string]string { return map[string]string{"app": name} }

func podSpec(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: nil},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: image},
			{Name: "sidecar", Image: "registry.local/proxy:9"},
		}},
	}
}

// createDeployment creates a Deployment as a user would (client-side,
// field manager "kubectl-create") and waits until it is rolled out.
func createDeployment(t *testing.T, c *kubetest.Cluster, ns, name, image string, replicas int32, progressDeadline int32) *appsv1.Deployment {
	t.Helper()
	tpl := podSpec(image)
	tpl.Labels = labelsFor(name)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labelsFor(name)}, Template: tpl,
			ProgressDeadlineSeconds: &progressDeadline,
		},
	}
	d, err := c.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{FieldManager: "kubectl-create"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deployment "+name+" rolled out", func() bool {
		got, err := c.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && deploymentRollout(got).Done
	})
	return d
}

func createStatefulSet(t *testing.T, c *kubetest.Cluster, ns, name, image string, replicas int32) {
	t.Helper()
	tpl := podSpec(image)
	tpl.Labels = labelsFor(name)
	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labelsFor(name)}, Template: tpl,
			ServiceName: name,
		},
	}
	if _, err := c.Client.AppsV1().StatefulSets(ns).Create(context.Background(), s, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "statefulset "+name+" rolled out", func() bool {
		got, err := c.Client.AppsV1().StatefulSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && statefulSetRollout(got).Done
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 90s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testEnv(target string, t *state.KubernetesTarget, units ...*state.Unit) *state.Environment {
	env := &state.Environment{Name: "dev", Targets: map[string]state.Target{target: {Kubernetes: t}}, Units: map[string]*state.Unit{}}
	for _, u := range units {
		env.Units[u.Name] = u
	}
	return env
}

// ownedBy is the set of fields the field manager owns on obj (by
// operation), as "a > b > c" paths.
func ownedBy(t *testing.T, mf []metav1.ManagedFieldsEntry, manager string) []string {
	t.Helper()
	var out []string
	for _, e := range mf {
		if e.Manager != manager || e.FieldsV1 == nil {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(e.FieldsV1.Raw, &v); err != nil {
			t.Fatal(err)
		}
		var walk func(prefix string, m map[string]any)
		walk = func(prefix string, m map[string]any) {
			for k, sub := range m {
				if k == "." {
					continue
				}
				p := k
				if prefix != "" {
					p = prefix + " > " + k
				}
				if sm, ok := sub.(map[string]any); ok && len(sm) > 0 && !(len(sm) == 1 && sm["."] != nil) {
					walk(p, sm)
					continue
				}
				out = append(out, string(e.Operation)+" "+p)
			}
		}
		walk("", v)
	}
	sort.Strings(out)
	return out
}

// podWatch records, from a watch of a namespace's pods, the order in
// which pods came up ready with an image, and the most pods of the app
// that were ever missing or not ready at once.
type podWatch struct {
	mu         sync.Mutex
	state      map[string]bool // ready, by pod name (absent: no pod)
	image      map[string]string
	readyOrder []string // "pod=image", each time a pod becomes ready
	maxDown    int
	replicas   int
	full       bool
	stop       func()
	done       chan struct{}
}

func watchPods(t *testing.T, c *kubetest.Cluster, ns, app string, replicas int) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	pw := &podWatch{state: map[string]bool{}, image: map[string]string{}, replicas: replicas, done: make(chan struct{})}
	pw.stop = func() { cancel(); w.Stop(); <-pw.done }
	t.Cleanup(func() { cancel(); w.Stop() })
	go func() {
		defer close(pw.done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pw.mu.Lock()
			was := pw.state[p.Name]
			switch {
			case ev.Type == watch.Deleted || p.DeletionTimestamp != nil:
				delete(pw.state, p.Name)
			default:
				ready := podReady(p)
				pw.state[p.Name] = ready
				if ready && (!was || pw.image[p.Name] != p.Spec.Containers[0].Image) {
					pw.readyOrder = append(pw.readyOrder, p.Name+"="+p.Spec.Containers[0].Image)
				}
				pw.image[p.Name] = p.Spec.Containers[0].Image
			}
			up := 0
			for _, r := range pw.state {
				if r {
					up++
				}
			}
			// Counted from the first time every pod was up: the watch
			// begins with one event per existing pod.
			pw.full = pw.full || up == pw.replicas
			if down := pw.replicas - up; pw.full && down > pw.maxDown {
				pw.maxDown = down
			}
			pw.mu.Unlock()
		}
	}()
	return pw
}

func (pw *podWatch) result() (order []string, maxDown int) {
	pw.stop()
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return append([]string(nil), pw.readyOrder...), pw.maxDown
}
