package apply

import (
	"context"

	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/plan"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// applyPlan carries out exactly the given actions in env under lock, as
// Reconcile's execute step does after planning: the executor's tests
// give it the plan instead of observing.
func applyPlan(ctx context.Context, env *state.Environment, root string, lock *Lock, resolve Resolver, o Options, actions ...*plan.Action) (*EnvResult, error) {
	c := &pass{req: Request{State: &state.State{Root: root}, Drivers: Drivers{Resolve: resolve}}, o: o.withDefaults(), seen: map[string]observation.Environment{}}
	r := newRunner(c, env, lock)
	res := &EnvResult{Name: env.Name, Run: lock.Info().Run, Units: []UnitResult{}}
	if err := r.begin(ctx); err != nil {
		return res, err
	}
	defer r.end(context.WithoutCancel(ctx), res)
	if err := r.scratch(); err != nil {
		return res, err
	}
	defer r.cleanScratch()
	r.execute(ctx, &plan.Environment{Name: env.Name, Actions: actions}, res)
	return res, nil
}
