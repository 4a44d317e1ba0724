package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// listKey is one List: a namespace and a kind.
type listKey struct{ namespace, kind string }

// listEntry is a List made once and shared by every unit that waits for
// it; done is closed when items and err are set.
type listEntry struct {
	done  chan struct{}
	items map[string]workload
	err   error
}

// listPage is how many workloads one List request returns.
const listPage = 500

// cached returns the workload named name from the run's List of its
// namespace and kind, listing it if no unit has yet. A List that is
// forbidden (a role that may get its workloads but not list them) falls
// back to one Get.
func (c *client) cached(ctx context.Context, k kind, ns, name string) (workload, error) {
	key := listKey{ns, k.name}
	for {
		w, err := c.cachedOnce(ctx, k, key, name)
		// The List was made under another unit's context, which ended:
		// this unit lists again if its own has time left.
		if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil {
			continue
		}
		return w, err
	}
}

func (c *client) cachedOnce(ctx context.Context, k kind, key listKey, name string) (workload, error) {
	ns := key.namespace
	c.mu.Lock()
	e, ok := c.lists[key]
	if !ok {
		e = &listEntry{done: make(chan struct{})}
		c.lists[key] = e
	}
	c.mu.Unlock()
	if !ok {
		e.items, e.err = c.list(ctx, k, ns)
		close(e.done)
		if e.err != nil {
			// The next unit tries again (this one's context may have
			// been the one that ended).
			c.forget(key, e)
		}
	} else {
		select {
		case <-e.done:
		case <-ctx.Done():
			return workload{}, ctx.Err()
		}
	}
	if e.err != nil {
		if apierrors.IsForbidden(e.err) {
			return k.get(ctx, c.cs, ns, name)
		}
		return workload{}, e.err
	}
	w, ok := e.items[name]
	if !ok {
		return workload{}, apierrors.NewNotFound(schemaResource(k.name), name)
	}
	return w, nil
}

func (c *client) list(ctx context.Context, k kind, ns string) (map[string]workload, error) {
	items := map[string]workload{}
	opts := metav1.ListOptions{Limit: listPage}
	for {
		page, cont, err := k.list(ctx, c.cs, ns, opts)
		if err != nil {
			return nil, err
		}
		for _, w := range page {
			items[w.Name] = w
		}
		if cont == "" {
			return items, nil
		}
		opts.Continue = cont
	}
}

func (c *client) forget(key listKey, e *listEntry) {
	c.mu.Lock()
	if c.lists[key] == e {
		delete(c.lists, key)
	}
	c.mu.Unlock()
}

// invalidate drops the run's List of a namespace and kind after a change,
// so that the re-read after a deploy sees it.
func (c *client) invalidate(ns, kind string) {
	c.mu.Lock()
	delete(c.lists, listKey{ns, kind})
	c.mu.Unlock()
}

// unitRef is what a unit is on its target: the workload, its container
// and the image its version names.
type unitRef struct {
	kind      kind
	namespace string
	name      string
	container string
}

func (d *Driver) ref(u *state.Unit) (unitRef, error) {
	k, err := kindOf(d.Target.Workload)
	if err != nil {
		return unitRef{}, err
	}
	ns := d.Target.Namespace
	if ns == "" {
		ns = "default"
	}
	name := u.Name
	if d.Target.Name != "" {
		name = strings.ReplaceAll(d.Target.Name, "{unit}", u.Name)
	}
	return unitRef{kind: k, namespace: ns, name: name, container: strings.ReplaceAll(d.Target.Container, "{unit}", u.Name)}, nil
}

func (r unitRef) String() string {
	return fmt.Sprintf("%s %s/%s", kindWord(r.kind.name), r.namespace, r.name)
}

// wrap names the unit and the target in an error, as every error of the
// driver does.
func (d *Driver) wrap(u *state.Unit, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("unit %s on kubernetes target %s: %w", u.Name, d.Name, err)
}

// Observe reports the version the unit's container runs (its image tag),
// when gearshift rolled it out, the rollout's health and what ran before.
func (d *Driver) Observe(ctx context.Context, env *state.Environment, u *state.Unit) driver.Observation {
	obs := driver.Observation{Unit: u.Name, Health: driver.HealthUnknown}
	w, ref, err := d.read(ctx, u, true)
	if err != nil {
		obs.Error = d.wrap(u, err).Error()
		return obs
	}
	c, err := w.container(ref.container)
	if err != nil {
		obs.Error = d.wrap(u, err).Error()
		return obs
	}
	obs.Deployed = true
	obs.Version = d.versionOf(u, c.Image)
	if t, err := time.Parse(time.RFC3339, w.Annotations[AnnDeployedAt]); err == nil && w.Annotations[AnnVersion] == obs.Version {
		obs.DeployedAt = t
	}
	if pv := w.Annotations[AnnPreviousVersion]; pv != "" {
		obs.Previous = &driver.Release{ID: w.Annotations[AnnPreviousImage], Version: pv}
	}
	obs.Health, obs.HealthDetail = d.health(u, w, obs.DeployedAt)
	if gv := w.Annotations[AnnVersion]; gv != "" && gv != obs.Version {
		obs.Drift = fmt.Sprintf("image %s was set outside gearshift, which rolled out %s", c.Image, gv)
	}
	return obs
}

// read gets the unit's workload: from the run's List when cached is
// true (observation), else fresh from the API server.
func (d *Driver) read(ctx context.Context, u *state.Unit, cached bool) (workload, unitRef, error) {
	ref, err := d.ref(u)
	if err != nil {
		return workload{}, ref, err
	}
	c, err := d.client()
	if err != nil {
		return workload{}, ref, err
	}
	var w workload
	if cached {
		w, err = c.cached(ctx, ref.kind, ref.namespace, ref.name)
	} else {
		w, err = ref.kind.get(ctx, c.cs, ref.namespace, ref.name)
	}
	switch {
	case apierrors.IsNotFound(err):
		return w, ref, fmt.Errorf("%s does not exist (gearshift changes workloads, it does not create them)", ref)
	case err != nil:
		return w, ref, explain(err, "read", ref.String())
	}
	return w, ref, nil
}

// health judges a workload by its rollout. A rollout that has not finished
// within the rollout timeout after gearshift began it is unhealthy: the
// cluster reports no failure of a StatefulSet or DaemonSet rollout.
func (d *Driver) health(u *state.Unit, w workload, deployedAt time.Time) (driver.Health, string) {
	r := w.Rollout
	switch {
	case r.Failed:
		return driver.HealthUnhealthy, r.Message
	case w.Paused:
		return driver.HealthUnhealthy, "rollout paused (spec.paused): resume it, or gearshift cannot roll out"
	case !r.Done:
		if !deployedAt.IsZero() && d.now().Sub(deployedAt) > d.rolloutTimeout(u) {
			return driver.HealthUnhealthy, fmt.Sprintf("rollout not finished %s after it began: %s (%s)", d.rolloutTimeout(u), r.Message, r.Progress())
		}
		return driver.HealthDegraded, fmt.Sprintf("rollout in progress: %s (%s)", r.Message, r.Progress())
	case r.Desired == 0:
		return driver.HealthHealthy, "scaled to zero"
	case r.Ready == 0:
		return driver.HealthUnhealthy, fmt.Sprintf("no pod ready (%s)", r.Progress())
	case r.Ready < r.Desired:
		return driver.HealthDegraded, fmt.Sprintf("%d of %d pods ready", r.Ready, r.Desired)
	}
	return driver.HealthHealthy, fmt.Sprintf("ready %d/%d", r.Ready, r.Desired)
}

// rolloutTimeout is how long a rollout may take: the unit's health
// timeout when it declares a health check, else the target's
// rolloutTimeout.
func (d *Driver) rolloutTimeout(u *state.Unit) time.Duration {
	if u.Health != nil && u.Health.Timeout.Duration > 0 {
		return u.Health.Timeout.Duration
	}
	if d.Target.RolloutTimeout.Duration > 0 {
		return d.Target.RolloutTimeout.Duration
	}
	return DefaultRolloutTimeout
}

// Inventory lists the units whose workloads carry gearshift's label in
// the target's namespace and kind.
func (d *Driver) Inventory(ctx context.Context, env *state.Environment, target string) ([]string, error) {
	k, err := kindOf(d.Target.Workload)
	if err != nil {
		return nil, err
	}
	c, err := d.client()
	if err != nil {
		return nil, fmt.Errorf("kubernetes target %s: %w", d.Name, err)
	}
	ns := d.Target.Namespace
	if ns == "" {
		ns = "default"
	}
	seen := map[string]bool{}
	opts := metav1.ListOptions{LabelSelector: LabelUnit, Limit: listPage}
	for {
		page, cont, err := k.list(ctx, c.cs, ns, opts)
		if err != nil {
			return nil, fmt.Errorf("kubernetes target %s: %w", d.Name, explain(err, "list", kindWord(k.name)+"s in namespace "+ns))
		}
		for _, w := range page {
			if n := w.Labels[LabelUnit]; n != "" && w.Replicas > 0 {
				seen[n] = true
			}
		}
		if cont == "" {
			break
		}
		opts.Continue = cont
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// image is the image of version v: the target's image with {version} and
// {unit} replaced, or, without one, the running image's repository with
// v as its tag.
func (d *Driver) image(u *state.Unit, running, v string) string {
	if d.Target.Image != "" {
		return strings.NewReplacer("{version}", v, "{unit}", u.Name).Replace(d.Target.Image)
	}
	return repository(running) + ":" + v
}

// versionOf is the version an image is: its tag when it is the image the
// target names for that tag; else the whole reference (someone set an
// image gearshift would not have: it differs from every desired version).
func (d *Driver) versionOf(u *state.Unit, img string) string {
	tag := tagOf(img)
	if tag == "" {
		return img
	}
	if d.Target.Image != "" && d.image(u, img, tag) != img {
		return img
	}
	return tag
}

// repository strips the tag and digest from an image reference.
func repository(img string) string {
	if i := strings.Index(img, "@"); i >= 0 {
		img = img[:i]
	}
	if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
		img = img[:i]
	}
	return img
}

// tagOf is an image reference's tag, "" without one.
func tagOf(img string) string {
	if i := strings.Index(img, "@"); i >= 0 {
		img = img[:i]
	}
	if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
		return img[i+1:]
	}
	return ""
}

func joinOr(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}
