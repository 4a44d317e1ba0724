package kubernetes

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/testutil/kubetest"
)

type countingTransport struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// BenchmarkObserve500Deployments observes an environment of 500 units,
// each a Deployment of one namespace, at the default parallelism (32), as
// plan does: a fresh pool (a new run) per iteration. It reports the API
// requests each observation made (requests/op) beside the wall time.
//
//	go test -run '^$' -bench Observe500 -benchtime 5x ./internal/driver/kubernetes
func BenchmarkObserve500Deployments(b *testing.B) {
	const n = 500
	c := kubetest.Start(b)
	ns := c.Namespace(b)
	ctx := context.Background()
	tgt := &state.KubernetesTarget{Kubeconfig: c.Kubeconfig, Namespace: ns, Workload: "Deployment"}
	env := testEnv("k8s", tgt)
	zero := int32(0)
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("svc-%03d", i)
		tpl := podSpec("registry.local/" + name + ":1.0")
		tpl.Labels = labelsFor(name)
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.DeploymentSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: labelsFor(name)}, Template: tpl}}
		if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		env.Units[name] = &state.Unit{Name: name, Version: "1.0", Target: "k8s"}
	}
	b.Logf("created %d deployments in %s", n, time.Since(start).Round(time.Millisecond))
	observe := func(b *testing.B, perUnit bool) {
		var requests atomic.Int64
		for b.Loop() {
			pool := NewPool("")
			pool.Wrap = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, &requests} }
			resolve := func(env *state.Environment, target string) (driver.Observer, error) {
				d := pool.Driver(target, tgt, nil)
				if perUnit {
					return getObserver{d}, nil
				}
				return d, nil
			}
			obs := driver.ObserveEnvironment(ctx, env, resolve, false, driver.ObserveOptions{})
			for name, o := range obs.Units {
				if o.Error != "" || (!perUnit && o.Version != "1.0") {
					b.Fatalf("%s: %+v", name, o)
				}
			}
		}
		b.ReportMetric(float64(requests.Load())/float64(b.N), "requests/op")
	}
	b.Run("list", func(b *testing.B) { observe(b, false) })
	// The control: one GET per unit, as an observe without the shared
	// List would make.
	b.Run("get-per-unit", func(b *testing.B) { observe(b, true) })
}

// getObserver reads each unit's workload with its own GET.
type getObserver struct{ *Driver }

func (g getObserver) Observe(ctx context.Context, env *state.Environment, u *state.Unit) driver.Observation {
	if _, _, err := g.read(ctx, u, false); err != nil {
		return driver.Observation{Error: err.Error()}
	}
	return driver.Observation{Deployed: true}
}
