package kubetest

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// NodeName is the one node the fake kubelet runs pods on.
const NodeName = "kubetest-node"

// KubeletOptions say how the fake kubelet treats pods.
type KubeletOptions struct {
	// Unready says which pods run but never become Ready (a bad image, a
	// failing readiness probe). nil: every pod becomes Ready.
	Unready func(*corev1.Pod) bool
	// ReadyAfter is how long a pod runs before it is reported Ready.
	ReadyAfter time.Duration
}

// Kubelet plays the kubelet (and the scheduler) for every pod of the
// cluster: it binds a pending pod to NodeName, reports it Running and
// Ready (or Running and not Ready) through the status subresource, and
// finishes the deletion of a pod being deleted, as a kubelet does once its
// containers have stopped.
type Kubelet struct {
	c      *Cluster
	opts   KubeletOptions
	queue  workqueue.TypedRateLimitingInterface[string]
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	lister func(key string) (*corev1.Pod, bool)
}

// StartKubelet starts the fake kubelet; it stops when t ends or at Stop.
func (c *Cluster) StartKubelet(t testing.TB, opts KubeletOptions) *Kubelet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &Kubelet{c: c, opts: opts, cancel: cancel,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	if err := k.ensureNode(ctx); err != nil {
		cancel()
		t.Fatalf("kubetest: node: %v", err)
	}
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	inf := factory.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	k.lister = func(key string) (*corev1.Pod, bool) {
		obj, ok, err := inf.GetIndexer().GetByKey(key)
		if err != nil || !ok {
			return nil, false
		}
		return obj.(*corev1.Pod), true
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		cancel()
		t.Fatal("kubetest: pod informer did not sync")
	}
	for i := 0; i < 4; i++ {
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			for k.next(ctx) {
			}
		}()
	}
	t.Cleanup(k.Stop)
	return k
}

// Stop stops the kubelet: pods keep the status they have.
func (k *Kubelet) Stop() {
	k.once.Do(func() {
		k.cancel()
		k.queue.ShutDown()
		k.wg.Wait()
	})
}

func (k *Kubelet) ensureNode(ctx context.Context) error {
	nodes := k.c.Client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err = nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name: NodeName, Labels: map[string]string{"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux"},
		}}, metav1.CreateOptions{})
	}
	if err != nil {
		return err
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("5000"),
	}
	node.Status.Capacity, node.Status.Allocatable = capacity, capacity
	node.Status.Phase = corev1.NodeRunning
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
	}}
	_, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// next handles one queued pod; false when the queue has shut down.
func (k *Kubelet) next(ctx context.Context) bool {
	key, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(key)
	retry, err := k.sync(ctx, key)
	switch {
	case err != nil && ctx.Err() == nil:
		k.queue.AddRateLimited(key)
	case retry > 0:
		k.queue.Forget(key)
		k.queue.AddAfter(key, retry)
	default:
		k.queue.Forget(key)
	}
	return true
}

// sync brings one pod one step on; a positive duration asks to be called
// again after it.
func (k *Kubelet) sync(ctx context.Context, key string) (time.Duration, error) {
	pod, ok := k.lister(key)
	if !ok {
		return 0, nil
	}
	pods := k.c.Client.CoreV1().Pods(pod.Namespace)
	switch {
	case pod.DeletionTimestamp != nil:
		// The containers have stopped: the kubelet's final delete.
		zero := int64(0)
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil
		}
		return 0, err
	case pod.Spec.NodeName == "":
		err := pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: NodeName},
		}, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil
		}
		return 0, err
	case pod.Spec.NodeName != NodeName:
		return 0, nil
	}
	unready := k.opts.Unready != nil && k.opts.Unready(pod)
	if pod.Status.Phase == corev1.PodRunning && podReady(pod) == !unready && len(pod.Status.ContainerStatuses) == len(pod.Spec.Containers) {
		return 0, nil
	}
	started := pod.CreationTimestamp.Time
	if pod.Status.StartTime != nil {
		started = pod.Status.StartTime.Time
	}
	ready := !unready
	if ready && k.opts.ReadyAfter > 0 {
		if w := time.Until(started.Add(k.opts.ReadyAfter)); w > 0 {
			if pod.Status.Phase != corev1.PodRunning {
				if err := k.report(ctx, pod, false); err != nil {
					return 0, err
				}
			}
			return w, nil
		}
	}
	return 0, k.report(ctx, pod, ready)
}

// report writes the pod's status: Running, its containers started, and
// Ready or not.
func (k *Kubelet) report(ctx context.Context, pod *corev1.Pod, ready bool) error {
	now := metav1.Now()
	p := pod.DeepCopy()
	if p.Status.StartTime == nil {
		p.Status.StartTime = &now
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP = "127.0.0.1"
	p.Status.PodIP = "127.0.0.1"
	readyStatus := corev1.ConditionFalse
	if ready {
		readyStatus = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: readyStatus, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: readyStatus, LastTransitionTime: now},
	}
	p.Status.ContainerStatuses = nil
	for _, ctr := range p.Spec.Containers {
		started := true
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ctr.Name, Image: ctr.Image, ImageID: "kubetest://" + ctr.Image,
			Ready: ready, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: *p.Status.StartTime}},
		})
	}
	_, err := k.c.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
