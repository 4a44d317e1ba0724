package kubernetes

import (
	"context"
	"fmt"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// pollInterval is how often a rollout is read while gearshift waits.
var pollInterval = 500 * time.Millisecond

// change is one patch gearshift is about to make to a workload.
type change struct {
	w      workload
	ref    unitRef
	from   string // the image that runs
	o      owned
	verb   string // for messages: "deploy", "restart", "rollback"
	result driver.DeployResult
}

// plan reads the unit's workload fresh and says what a deploy of its
// desired version patches: its image, or, when that image already runs,
// a rollout restart (a redeploy: maxAge, unhealthy, an interrupted run).
func (d *Driver) plan(ctx context.Context, u *state.Unit, now time.Time) (*change, error) {
	w, ref, err := d.read(ctx, u, false)
	if err != nil {
		return nil, err
	}
	c, err := w.container(ref.container)
	if err != nil {
		return nil, err
	}
	if w.Paused {
		return nil, fmt.Errorf("%s is paused (spec.paused): resume it before gearshift rolls it out", ref)
	}
	ch := &change{w: w, ref: ref, from: c.Image, verb: "deploy"}
	ch.o = d.owned(u, w, c.Name)
	img := d.image(u, c.Image, u.Version)
	ch.o.Image = img
	ann := ch.o.Annotations
	switch {
	case img == c.Image && w.Annotations[AnnVersion] == u.Version && !w.Rollout.Done && !w.Rollout.Failed:
		// gearshift's rollout of this version is still going (a run
		// interrupted while it waited): wait for it, do not restart it.
		ch.verb = "wait"
	case img == c.Image:
		// A redeploy: the release before it is the same version, as on
		// hosts, so a rollback of a failed restart keeps the image.
		ch.verb = "restart"
		ch.o.RestartedAt = now.UTC().Format(time.RFC3339)
		ann[AnnPreviousVersion] = d.versionOf(u, c.Image)
		ann[AnnPreviousImage] = c.Image
	default:
		ann[AnnPreviousVersion] = d.versionOf(u, c.Image)
		ann[AnnPreviousImage] = c.Image
	}
	ann[AnnVersion] = u.Version
	ann[AnnDeployedAt] = now.UTC().Format(time.RFC3339)
	delete(ann, AnnRolledBack)
	ch.result = driver.DeployResult{ReleaseID: img, Version: u.Version,
		Previous: &driver.Release{ID: c.Image, Version: d.versionOf(u, c.Image)}}
	return ch, nil
}

// owned is what gearshift owns on w now: every apply sends all of it, or
// server-side apply would remove what is left out.
func (d *Driver) owned(u *state.Unit, w workload, container string) owned {
	o := owned{Unit: u.Name, Container: container, Annotations: map[string]string{}}
	for _, k := range []string{AnnVersion, AnnDeployedAt, AnnPreviousVersion, AnnPreviousImage, AnnRolledBack} {
		if v, ok := w.Annotations[k]; ok {
			o.Annotations[k] = v
		}
	}
	o.RestartedAt = w.Template.Annotations[AnnRestartedAt]
	return o
}

// apply sends the change with server-side apply, forcing ownership of the
// fields gearshift owns (drift: a `kubectl set image` took the image).
func (d *Driver) apply(ctx context.Context, ch *change, dryRun bool) (workload, error) {
	c, err := d.client()
	if err != nil {
		return workload{}, err
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	} else {
		defer c.invalidate(ch.ref.namespace, ch.ref.kind.name)
	}
	w, err := ch.ref.kind.apply(ctx, c.cs, ch.ref.namespace, ch.ref.name, ch.o, opts)
	if err != nil {
		return workload{}, explain(err, "patch", ch.ref.String())
	}
	return w, nil
}

// Deploy patches the unit's image (or restarts it when the image already
// runs) and waits for the rollout: until every desired pod runs the new
// template and is ready, the cluster reports a failure, or the rollout
// timeout passes. It reports progress through req.Event.
func (d *Driver) Deploy(ctx context.Context, req driver.DeployRequest) (driver.DeployResult, error) {
	u := req.Unit
	now := req.Now
	if now.IsZero() {
		now = d.now()
	}
	ch, err := d.plan(ctx, u, now)
	if err != nil {
		return driver.DeployResult{}, d.wrap(u, err)
	}
	event := events(req.Event, ch.ref)
	w := ch.w
	switch ch.verb {
	case "wait":
		event("the rollout of " + ch.o.Image + " is in progress: waiting for it")
	case "restart":
		event("restarting " + ch.o.Image + " (kubectl.kubernetes.io/restartedAt)")
	default:
		event("setting image " + ch.o.Image)
	}
	if ch.verb != "wait" {
		if w, err = d.apply(ctx, ch, false); err != nil {
			return ch.result, d.wrap(u, err)
		}
	}
	if err := d.wait(ctx, u, ch.ref, w, event, nil); err != nil {
		return ch.result, d.wrap(u, err)
	}
	if err := d.probe(ctx, u); err != nil {
		return ch.result, d.wrap(u, err)
	}
	return ch.result, nil
}

func events(f func(string), ref unitRef) func(string) {
	return func(msg string) {
		if f != nil {
			f(ref.String() + ": " + msg)
		}
	}
}

// wait polls the workload until its rollout is done, has failed or the
// rollout timeout passed, reporting each change of its counts. each, if
// set, is called with every state read while the rollout goes on.
func (d *Driver) wait(ctx context.Context, u *state.Unit, ref unitRef, w workload, event func(string), each func(workload) error) error {
	c, err := d.client()
	if err != nil {
		return err
	}
	timeout := d.rolloutTimeout(u)
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		r := w.Rollout
		if p := r.Progress(); p != last && !r.Done {
			event(p)
			last = p
		}
		switch {
		case r.Done:
			event("rolled out: " + r.Progress())
			return nil
		case r.Failed:
			return fmt.Errorf("%s: rollout failed: %s (%s)", ref, r.Message, r.Progress())
		case time.Now().After(deadline):
			return fmt.Errorf("%s: rollout not finished after %s: %s (%s)", ref, timeout, r.Message, r.Progress())
		}
		if each != nil {
			if err := each(w); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for the rollout: %w (%s)", ref, ctx.Err(), r.Message)
		case <-time.After(pollInterval):
		}
		if w, err = ref.kind.get(ctx, c.cs, ref.namespace, ref.name); err != nil {
			return explain(err, "read", ref.String())
		}
	}
}

// probe runs the unit's HTTP health check, when it declares one, until it
// passes or its timeout: after a rollout, the pods are ready by their own
// probes; this is the unit's view from outside.
func (d *Driver) probe(ctx context.Context, u *state.Unit) error {
	if u.Health == nil || u.Health.HTTP == nil {
		return nil
	}
	deadline := time.Now().Add(u.Health.Timeout.Duration)
	interval := u.Health.Interval.Duration
	if interval <= 0 {
		interval = time.Second
	}
	for {
		h, detail := driver.Probe(ctx, u.Health, u.Name, u.Port, nil)
		if h == driver.HealthHealthy {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("health check: %s", detail)
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

// Rollback sets the image that ran before the last deploy (or, with
// toVersion, that version's image) and waits for the rollout. After a
// rollback without a version, a second one keeps what runs, so a resumed
// apply never goes further back.
func (d *Driver) Rollback(ctx context.Context, env *state.Environment, u *state.Unit, toVersion string) (driver.DeployResult, error) {
	w, ref, err := d.read(ctx, u, false)
	if err != nil {
		return driver.DeployResult{}, d.wrap(u, err)
	}
	c, err := w.container(ref.container)
	if err != nil {
		return driver.DeployResult{}, d.wrap(u, err)
	}
	cur := d.versionOf(u, c.Image)
	res := driver.DeployResult{ReleaseID: c.Image, Version: cur, Previous: &driver.Release{ID: c.Image, Version: cur}}
	event := events(driver.EventsFrom(ctx), ref)
	if w.Paused {
		return res, d.wrap(u, fmt.Errorf("%s is paused (spec.paused): resume it before gearshift rolls it back", ref))
	}
	var img, version string
	switch {
	case toVersion == "" && w.Annotations[AnnRolledBack] == "true":
		// Rolled back already: keep it, and see that it is rolled out.
		event("already rolled back to " + cur)
		return res, d.wrap(u, d.wait(ctx, u, ref, w, event, d.unstick(ctx, event)))
	case toVersion == "":
		version, img = w.Annotations[AnnPreviousVersion], w.Annotations[AnnPreviousImage]
		if version == "" || img == "" {
			return res, d.wrap(u, fmt.Errorf("%s has no previous version to roll back to (pass a version)", ref))
		}
	case toVersion == w.Annotations[AnnPreviousVersion] && w.Annotations[AnnPreviousImage] != "":
		version, img = toVersion, w.Annotations[AnnPreviousImage]
	default:
		version, img = toVersion, d.image(u, c.Image, toVersion)
	}
	ch := &change{w: w, ref: ref, from: c.Image, verb: "rollback", o: d.owned(u, w, c.Name)}
	ch.o.Image = img
	maps.Copy(ch.o.Annotations, map[string]string{
		AnnVersion: version, AnnDeployedAt: d.now().UTC().Format(time.RFC3339),
		AnnPreviousVersion: cur, AnnPreviousImage: c.Image, AnnRolledBack: "true",
	})
	if img == c.Image {
		// The image runs already (a deploy that failed before its patch):
		// the annotations say it is the version rolled back to.
		ch.o.Annotations[AnnPreviousVersion] = w.Annotations[AnnPreviousVersion]
		ch.o.Annotations[AnnPreviousImage] = w.Annotations[AnnPreviousImage]
	}
	event("rolling back to " + img)
	nw, err := d.apply(ctx, ch, false)
	if err != nil {
		return res, d.wrap(u, err)
	}
	res.ReleaseID, res.Version = img, version
	return res, d.wrap(u, d.wait(ctx, u, ref, nw, event, d.unstick(ctx, event)))
}

// Prune scales the unit's workload to zero and takes gearshift's label
// off it: gearshift did not create the workload, so it does not delete
// it; with no pods it runs nothing, and inventory no longer lists it.
// A DaemonSet cannot be scaled: pruning one is refused.
func (d *Driver) Prune(ctx context.Context, env *state.Environment, target, unit string) error {
	u := &state.Unit{Name: unit, Target: target}
	w, ref, err := d.read(ctx, u, false)
	if err != nil {
		return d.wrap(u, err)
	}
	if ref.kind.scale == nil {
		return d.wrap(u, fmt.Errorf("%s cannot be scaled to zero: delete it yourself to prune it", ref))
	}
	c, err := w.container(ref.container)
	if err != nil {
		return d.wrap(u, err)
	}
	cl, err := d.client()
	if err != nil {
		return d.wrap(u, err)
	}
	events(driver.EventsFrom(ctx), ref)("scaling to zero")
	if err := ref.kind.scale(ctx, cl.cs, ref.namespace, ref.name, 0); err != nil {
		return d.wrap(u, explain(err, "scale", ref.String()))
	}
	ch := &change{w: w, ref: ref, o: d.owned(u, w, c.Name)}
	ch.o.Unit, ch.o.Image = "", c.Image
	if _, err := d.apply(ctx, ch, false); err != nil {
		return d.wrap(u, err)
	}
	return nil
}

// unstick returns what a rollback of a StatefulSet does while it waits: a
// StatefulSet whose pods are replaced in order waits forever for a pod
// of the failed revision to become ready, even once its template is
// reverted (the Kubernetes documentation's "forced rollback": delete
// those pods). Each pod that is not ready and not of the revision rolled
// back to is deleted, once; the controller recreates it from the reverted
// template. Other kinds replace failed pods themselves.
func (d *Driver) unstick(ctx context.Context, event func(string)) func(workload) error {
	deleted := map[string]bool{}
	return func(w workload) error {
		s, ok := w.Object.(*appsv1.StatefulSet)
		if !ok || s.Generation > s.Status.ObservedGeneration || s.Status.UpdateRevision == "" {
			return nil
		}
		c, err := d.client()
		if err != nil {
			return err
		}
		sel, err := metav1.LabelSelectorAsSelector(s.Spec.Selector)
		if err != nil {
			return err
		}
		pods, err := c.cs.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return explain(err, "list", "the pods of "+w.ref())
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if deleted[p.Name] || p.DeletionTimestamp != nil || podReady(p) ||
				p.Labels[appsv1.ControllerRevisionHashLabelKey] == s.Status.UpdateRevision {
				continue
			}
			event("deleting pod " + p.Name + " of the failed revision (not ready)")
			if err := c.cs.CoreV1().Pods(s.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return explain(err, "delete", "pod "+s.Namespace+"/"+p.Name)
			}
			deleted[p.Name] = true
		}
		return nil
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
