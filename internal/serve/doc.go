// Package serve is gearshift's controller mode (`gearshift serve`): one
// reconcile loop per environment that fetches the state repository
// (shallow, cached, one working tree per environment) and, when the
// commit of the environment's deployFrom ref moves or the clock (maxAge,
// deploy windows) or drift calls for it, runs apply.Reconcile exactly as
// `gearshift apply` does, under the same lock and journal. Around the
// loops: a GitHub webhook receiver that wakes the environments whose ref
// moved, Prometheus metrics, /healthz and /readyz, and a status page
// with the same data as JSON.
//
// It must never: plan or execute an action itself (apply.Reconcile does,
// and nothing is added after policy.Judge); retry a denied or held action
// in a loop; act on a webhook whose signature is not the secret's; read
// its webhook secret from the state repository; render state text
// without escaping it (the state repository is untrusted).
package serve
