package kubernetes

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
)

// workload is what the driver reads of a Deployment, StatefulSet or
// DaemonSet, whatever its kind.
type workload struct {
	Kind, Namespace, Name string
	Labels, Annotations   map[string]string
	Template              corev1.PodTemplateSpec
	// Replicas is how many pods are desired (a DaemonSet's: how many
	// nodes should run one).
	Replicas int32
	Paused   bool
	Rollout  rollout
	// Object is the typed object, for the dry run's diff.
	Object any
}

// owned is every field gearshift owns on a workload. Each apply sends all
// of them: server-side apply removes a field its manager owned and no
// longer sends.
type owned struct {
	Unit        string
	Container   string
	Image       string
	Annotations map[string]string
	// RestartedAt is the pod template's restartedAt ("" for none).
	RestartedAt string
}

// kind is how the driver reads and writes one kind of workload.
type kind struct {
	name  string
	list  func(ctx context.Context, cs kubernetes.Interface, ns string, o metav1.ListOptions) ([]workload, string, error)
	get   func(ctx context.Context, cs kubernetes.Interface, ns, name string) (workload, error)
	apply func(ctx context.Context, cs kubernetes.Interface, ns, name string, o owned, opts metav1.ApplyOptions) (workload, error)
	scale func(ctx context.Context, cs kubernetes.Interface, ns, name string, replicas int32) error
}

var kinds = map[string]kind{
	"Deployment":  deploymentKind,
	"StatefulSet": statefulSetKind,
	"DaemonSet":   daemonSetKind,
}

func kindOf(workloadKind string) (kind, error) {
	if workloadKind == "" {
		workloadKind = "Deployment"
	}
	k, ok := kinds[workloadKind]
	if !ok {
		return kind{}, fmt.Errorf("workload kind %q is not Deployment, StatefulSet or DaemonSet", workloadKind)
	}
	return k, nil
}

func template(o owned) *corev1ac.PodTemplateSpecApplyConfiguration {
	t := corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(
		corev1ac.Container().WithName(o.Container).WithImage(o.Image)))
	if o.RestartedAt != "" {
		t.WithAnnotations(map[string]string{AnnRestartedAt: o.RestartedAt})
	}
	return t
}

func labels(o owned) map[string]string {
	if o.Unit == "" {
		return nil
	}
	return map[string]string{LabelUnit: o.Unit}
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

var deploymentKind = kind{
	name: "Deployment",
	list: func(ctx context.Context, cs kubernetes.Interface, ns string, o metav1.ListOptions) ([]workload, string, error) {
		l, err := cs.AppsV1().Deployments(ns).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		out := make([]workload, len(l.Items))
		for i := range l.Items {
			out[i] = fromDeployment(&l.Items[i])
		}
		return out, l.Continue, nil
	},
	get: func(ctx context.Context, cs kubernetes.Interface, ns, name string) (workload, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return workload{}, err
		}
		return fromDeployment(d), nil
	},
	apply: func(ctx context.Context, cs kubernetes.Interface, ns, name string, o owned, opts metav1.ApplyOptions) (workload, error) {
		ac := appsv1ac.Deployment(name, ns).WithAnnotations(o.Annotations).
			WithSpec(appsv1ac.DeploymentSpec().WithTemplate(template(o)))
		if l := labels(o); l != nil {
			ac.WithLabels(l)
		}
		d, err := cs.AppsV1().Deployments(ns).Apply(ctx, ac, opts)
		if err != nil {
			return workload{}, err
		}
		return fromDeployment(d), nil
	},
	scale: func(ctx context.Context, cs kubernetes.Interface, ns, name string, n int32) error {
		_, err := cs.AppsV1().Deployments(ns).UpdateScale(ctx, name, scaleTo(ns, name, n), metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	},
}

func fromDeployment(d *appsv1.Deployment) workload {
	d.APIVersion, d.Kind = "apps/v1", "Deployment"
	return workload{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name, Labels: d.Labels, Annotations: d.Annotations,
		Template: d.Spec.Template, Replicas: replicas(d.Spec.Replicas), Paused: d.Spec.Paused,
		Rollout: deploymentRollout(d), Object: d}
}

var statefulSetKind = kind{
	name: "StatefulSet",
	list: func(ctx context.Context, cs kubernetes.Interface, ns string, o metav1.ListOptions) ([]workload, string, error) {
		l, err := cs.AppsV1().StatefulSets(ns).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		out := make([]workload, len(l.Items))
		for i := range l.Items {
			out[i] = fromStatefulSet(&l.Items[i])
		}
		return out, l.Continue, nil
	},
	get: func(ctx context.Context, cs kubernetes.Interface, ns, name string) (workload, error) {
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return workload{}, err
		}
		return fromStatefulSet(s), nil
	},
	apply: func(ctx context.Context, cs kubernetes.Interface, ns, name string, o owned, opts metav1.ApplyOptions) (workload, error) {
		ac := appsv1ac.StatefulSet(name, ns).WithAnnotations(o.Annotations).
			WithSpec(appsv1ac.StatefulSetSpec().WithTemplate(template(o)))
		if l := labels(o); l != nil {
			ac.WithLabels(l)
		}
		s, err := cs.AppsV1().StatefulSets(ns).Apply(ctx, ac, opts)
		if err != nil {
			return workload{}, err
		}
		return fromStatefulSet(s), nil
	},
	scale: func(ctx context.Context, cs kubernetes.Interface, ns, name string, n int32) error {
		_, err := cs.AppsV1().StatefulSets(ns).UpdateScale(ctx, name, scaleTo(ns, name, n), metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	},
}

func fromStatefulSet(s *appsv1.StatefulSet) workload {
	s.APIVersion, s.Kind = "apps/v1", "StatefulSet"
	return workload{Kind: "StatefulSet", Namespace: s.Namespace, Name: s.Name, Labels: s.Labels, Annotations: s.Annotations,
		Template: s.Spec.Template, Replicas: replicas(s.Spec.Replicas),
		Rollout: statefulSetRollout(s), Object: s}
}

var daemonSetKind = kind{
	name: "DaemonSet",
	list: func(ctx context.Context, cs kubernetes.Interface, ns string, o metav1.ListOptions) ([]workload, string, error) {
		l, err := cs.AppsV1().DaemonSets(ns).List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		out := make([]workload, len(l.Items))
		for i := range l.Items {
			out[i] = fromDaemonSet(&l.Items[i])
		}
		return out, l.Continue, nil
	},
	get: func(ctx context.Context, cs kubernetes.Interface, ns, name string) (workload, error) {
		s, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return workload{}, err
		}
		return fromDaemonSet(s), nil
	},
	apply: func(ctx context.Context, cs kubernetes.Interface, ns, name string, o owned, opts metav1.ApplyOptions) (workload, error) {
		ac := appsv1ac.DaemonSet(name, ns).WithAnnotations(o.Annotations).
			WithSpec(appsv1ac.DaemonSetSpec().WithTemplate(template(o)))
		if l := labels(o); l != nil {
			ac.WithLabels(l)
		}
		s, err := cs.AppsV1().DaemonSets(ns).Apply(ctx, ac, opts)
		if err != nil {
			return workload{}, err
		}
		return fromDaemonSet(s), nil
	},
	// A DaemonSet has no replicas: it cannot be scaled to zero.
	scale: nil,
}

func fromDaemonSet(s *appsv1.DaemonSet) workload {
	s.APIVersion, s.Kind = "apps/v1", "DaemonSet"
	return workload{Kind: "DaemonSet", Namespace: s.Namespace, Name: s.Name, Labels: s.Labels, Annotations: s.Annotations,
		Template: s.Spec.Template, Replicas: s.Status.DesiredNumberScheduled,
		Rollout: daemonSetRollout(s), Object: s}
}

func scaleTo(ns, name string, n int32) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}
}

// container finds the container named name, or the first when name is "".
func (w workload) container(name string) (*corev1.Container, error) {
	cs := w.Template.Spec.Containers
	if name == "" {
		if len(cs) == 0 {
			return nil, fmt.Errorf("%s has no container", w.ref())
		}
		return &cs[0], nil
	}
	var names []string
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i], nil
		}
		names = append(names, cs[i].Name)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%s has no container %q (containers: %s)", w.ref(), name, joinOr(names))
}

func (w workload) ref() string { return fmt.Sprintf("%s %s/%s", kindWord(w.Kind), w.Namespace, w.Name) }

func kindWord(k string) string {
	switch k {
	case "StatefulSet":
		return "statefulset"
	case "DaemonSet":
		return "daemonset"
	}
	return "deployment"
}

func schemaResource(kind string) schema.GroupResource {
	return schema.GroupResource{Group: "apps", Resource: strings.ToLower(kind) + "s"}
}
