package kubernetes

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

// TestDeploymentRollout checks kubectl rollout status's rules for
// Deployments, one case per rule, in the order kubectl applies them.
func TestDeploymentRollout(t *testing.T) {
	dep := func(gen, observed int64, want, updated, total, avail, ready int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr(want)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: total,
				AvailableReplicas: avail, ReadyReplicas: ready, Conditions: conds},
		}
	}
	timedOut := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-1" has timed out progressing.`}
	paused := dep(2, 2, 3, 1, 3, 3, 3)
	paused.Spec.Paused = true
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		want rollout
	}{
		{"new spec not observed", dep(3, 2, 3, 3, 3, 3, 3), rollout{Message: "waiting for the deployment's new spec to be observed", Desired: 3, Updated: 3, Ready: 3}},
		{"progress deadline exceeded", dep(2, 2, 3, 1, 4, 3, 3, timedOut), rollout{Failed: true, Message: `progress deadline exceeded: ReplicaSet "web-1" has timed out progressing.`, Desired: 3, Updated: 1, Ready: 3}},
		{"paused", paused, rollout{Message: "rollout paused", Desired: 3, Updated: 1, Ready: 3}},
		{"updating", dep(2, 2, 3, 1, 4, 3, 3), rollout{Message: "1 of 3 new replicas updated", Desired: 3, Updated: 1, Ready: 3}},
		{"old pending termination", dep(2, 2, 3, 3, 4, 3, 3), rollout{Message: "1 old replicas pending termination", Desired: 3, Updated: 3, Ready: 3}},
		{"not available", dep(2, 2, 3, 3, 3, 2, 2), rollout{Message: "2 of 3 updated replicas available", Desired: 3, Updated: 3, Ready: 2}},
		{"done", dep(2, 2, 3, 3, 3, 3, 3), rollout{Done: true, Desired: 3, Updated: 3, Ready: 3}},
		{"scaled to zero", dep(2, 2, 0, 0, 0, 0, 0), rollout{Done: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(deploymentRollout(tc.d), tc.want); diff != "" {
				t.Errorf("rollout (-got +want):\n%s", diff)
			}
		})
	}
}

// TestStatefulSetRollout checks the StatefulSet rules, partitions and
// OnDelete included.
func TestStatefulSetRollout(t *testing.T) {
	sts := func(gen, observed int64, want, ready, updated int32, cur, upd string) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr(want), UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: observed, Replicas: want, ReadyReplicas: ready, UpdatedReplicas: updated,
				CurrentRevision: cur, UpdateRevision: upd},
		}
	}
	partitioned := sts(2, 2, 3, 3, 1, "r1", "r2")
	partitioned.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(2))}
	onDelete := sts(2, 2, 3, 3, 0, "r1", "r2")
	onDelete.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	for _, tc := range []struct {
		name string
		s    *appsv1.StatefulSet
		want rollout
	}{
		{"never observed", sts(1, 0, 3, 0, 0, "", ""), rollout{Message: "waiting for the statefulset's new spec to be observed", Desired: 3}},
		{"new spec not observed", sts(3, 2, 3, 3, 3, "r1", "r1"), rollout{Message: "waiting for the statefulset's new spec to be observed", Desired: 3, Updated: 3, Ready: 3}},
		{"pod not ready", sts(2, 2, 3, 2, 1, "r1", "r2"), rollout{Message: "waiting for 1 pods to be ready", Desired: 3, Updated: 1, Ready: 2}},
		{"rolling", sts(2, 2, 3, 3, 2, "r1", "r2"), rollout{Message: "waiting for the rolling update to finish: 2 pods at revision r2", Desired: 3, Updated: 2, Ready: 3}},
		{"partition reached", partitioned, rollout{Done: true, Desired: 3, Updated: 1, Ready: 3}},
		{"on delete", onDelete, rollout{Done: true, Desired: 3, Ready: 3}},
		{"done", sts(2, 2, 3, 3, 3, "r2", "r2"), rollout{Done: true, Desired: 3, Updated: 3, Ready: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(statefulSetRollout(tc.s), tc.want); diff != "" {
				t.Errorf("rollout (-got +want):\n%s", diff)
			}
		})
	}
}

func TestDaemonSetRollout(t *testing.T) {
	ds := func(gen, observed int64, want, updated, avail, ready int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: want, UpdatedNumberScheduled: updated, NumberAvailable: avail, NumberReady: ready}}
	}
	for _, tc := range []struct {
		name string
		s    *appsv1.DaemonSet
		want rollout
	}{
		{"not observed", ds(2, 1, 2, 2, 2, 2), rollout{Message: "waiting for the daemonset's new spec to be observed", Desired: 2, Updated: 2, Ready: 2}},
		{"updating", ds(2, 2, 2, 1, 2, 2), rollout{Message: "1 of 2 updated pods scheduled", Desired: 2, Updated: 1, Ready: 2}},
		{"unavailable", ds(2, 2, 2, 2, 1, 1), rollout{Message: "1 of 2 updated pods available", Desired: 2, Updated: 2, Ready: 1}},
		{"done", ds(2, 2, 2, 2, 2, 2), rollout{Done: true, Desired: 2, Updated: 2, Ready: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(daemonSetRollout(tc.s), tc.want); diff != "" {
				t.Errorf("rollout (-got +want):\n%s", diff)
			}
		})
	}
}
