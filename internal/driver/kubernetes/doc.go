// Package kubernetes is the driver of kubernetes targets: a unit is one
// Deployment, StatefulSet or DaemonSet, and its version is the image tag of
// one of its containers (docs/kubernetes.md).
//
// gearshift owns, on a workload, only what it writes with a server-side
// apply patch under the field manager "gearshift": the container's image,
// the annotations gearshift.dev/version, deployed-at, previous-version,
// previous-image and rolled-back, the label gearshift.dev/unit, and the pod
// template's kubectl.kubernetes.io/restartedAt. It never creates or deletes
// a workload; a prune scales it to zero.
//
// The rollout rules are kubectl rollout status's, written here (see
// rollout.go for why not kstatus). Observation lists each namespace and
// kind once per run and shares the list between units.
//
// It must never print or log a credential of the kubeconfig, and never
// change a field it does not own.
package kubernetes
