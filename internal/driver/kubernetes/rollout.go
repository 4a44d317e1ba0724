package kubernetes

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
)

// The rules below are kubectl rollout status's
// (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go), written here
// rather than taken from kstatus (github.com/fluxcd/cli-utils): kstatus
// would bring kubectl, kustomize and their dependencies into the module
// for some 60 lines, it reports a typed object with no apiVersion/kind as
// Current before anything happened, and it has no deadline for
// StatefulSets and DaemonSets, which gearshift must keep itself anyway
// (nothing in the cluster reports their failure). What the rules need is
// in the workload's own status, so one List per namespace and kind serves
// every unit.

// rollout is the state of a workload's rollout.
type rollout struct {
	// Done: the latest spec is rolled out to every desired pod.
	Done bool
	// Failed: the cluster says it cannot finish (a Deployment past its
	// progressDeadlineSeconds).
	Failed bool
	// Message says what the rollout waits for, or why it failed.
	Message string
	// Desired, Updated and Ready count pods.
	Desired, Updated, Ready int32
}

// Progress is the rollout's counts as the progress events show them.
func (r rollout) Progress() string {
	return fmt.Sprintf("updated %d/%d, ready %d/%d", r.Updated, r.Desired, r.Ready, r.Desired)
}

func deploymentRollout(d *appsv1.Deployment) rollout {
	want := replicas(d.Spec.Replicas)
	r := rollout{Desired: want, Updated: d.Status.UpdatedReplicas, Ready: d.Status.ReadyReplicas}
	if d.Generation > d.Status.ObservedGeneration {
		r.Message = "waiting for the deployment's new spec to be observed"
		return r
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			r.Failed, r.Message = true, fmt.Sprintf("progress deadline exceeded: %s", c.Message)
			return r
		}
	}
	switch {
	case d.Spec.Paused:
		r.Message = "rollout paused"
	case d.Status.UpdatedReplicas < want:
		r.Message = fmt.Sprintf("%d of %d new replicas updated", d.Status.UpdatedReplicas, want)
	case d.Status.Replicas > d.Status.UpdatedReplicas:
		r.Message = fmt.Sprintf("%d old replicas pending termination", d.Status.Replicas-d.Status.UpdatedReplicas)
	case d.Status.AvailableReplicas < d.Status.UpdatedReplicas:
		r.Message = fmt.Sprintf("%d of %d updated replicas available", d.Status.AvailableReplicas, d.Status.UpdatedReplicas)
	default:
		r.Done = true
	}
	return r
}

func statefulSetRollout(s *appsv1.StatefulSet) rollout {
	want := replicas(s.Spec.Replicas)
	r := rollout{Desired: want, Updated: s.Status.UpdatedReplicas, Ready: s.Status.ReadyReplicas}
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		r.Message = "waiting for the statefulset's new spec to be observed"
		return r
	}
	if s.Status.UpdateRevision == s.Status.CurrentRevision {
		// Every pod is at the update revision: updated is all of them
		// (the controller's updatedReplicas lags at times).
		r.Updated = s.Status.Replicas
	}
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		// Pods are replaced only when someone deletes them: kubectl
		// cannot judge it either. Ready pods are all there is to see.
		if s.Status.ReadyReplicas < want {
			r.Message = fmt.Sprintf("%d of %d pods ready (updateStrategy OnDelete)", s.Status.ReadyReplicas, want)
			return r
		}
		r.Done = true
		return r
	}
	if s.Status.ReadyReplicas < want {
		r.Message = fmt.Sprintf("waiting for %d pods to be ready", want-s.Status.ReadyReplicas)
		return r
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
		if s.Status.UpdatedReplicas < want-*ru.Partition {
			r.Message = fmt.Sprintf("waiting for a partitioned rollout: %d of %d pods updated", s.Status.UpdatedReplicas, want-*ru.Partition)
			return r
		}
		r.Done = true
		return r
	}
	if s.Status.UpdateRevision != s.Status.CurrentRevision {
		r.Message = fmt.Sprintf("waiting for the rolling update to finish: %d pods at revision %s", s.Status.UpdatedReplicas, s.Status.UpdateRevision)
		return r
	}
	r.Done = true
	return r
}

func daemonSetRollout(s *appsv1.DaemonSet) rollout {
	want := s.Status.DesiredNumberScheduled
	r := rollout{Desired: want, Updated: s.Status.UpdatedNumberScheduled, Ready: s.Status.NumberReady}
	if s.Generation > s.Status.ObservedGeneration {
		r.Message = "waiting for the daemonset's new spec to be observed"
		return r
	}
	switch {
	case s.Status.UpdatedNumberScheduled < want:
		r.Message = fmt.Sprintf("%d of %d updated pods scheduled", s.Status.UpdatedNumberScheduled, want)
	case s.Status.NumberAvailable < want:
		r.Message = fmt.Sprintf("%d of %d updated pods available", s.Status.NumberAvailable, want)
	default:
		r.Done = true
	}
	return r
}
