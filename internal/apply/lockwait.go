package apply

import (
	"context"
	"fmt"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// reloadAfterWait loads the state again when a lock had to be waited for
// (Fragalysis: two CI jobs a few seconds apart; the one that waited must
// not deploy the older state it loaded before the other one ran): Reload
// brings the newest commit of the ref (the cli asks the URL, or a local
// repository's origin; internal/cli/lockwait_reload.go). The environments
// are looked up and their refs checked again in the new state (a tag may
// have been replaced by a newer matching one), and a note names the
// commit planned from. Without a wait, or without req.Reload, req is
// returned as it is.
func reloadAfterWait(ctx context.Context, req Request, locks []*Lock, o Options) (Request, []*state.Environment, error) {
	envs := make([]*state.Environment, len(req.Names))
	for i, n := range req.Names {
		envs[i] = req.State.Environments[n]
	}
	waited := false
	for _, l := range locks {
		waited = waited || l.Waited()
	}
	if !waited || req.Reload == nil {
		return req, envs, nil
	}
	before := ""
	if req.Checkout != nil {
		before = req.Checkout.Commit
	}
	st, c, err := req.Reload(ctx)
	if err != nil {
		return req, nil, fmt.Errorf("loading the state again after waiting for the lock: %w", err)
	}
	req.State, req.Checkout = st, c
	for i, n := range req.Names {
		if envs[i] = st.Environments[n]; envs[i] == nil {
			return req, nil, fmt.Errorf("environment %s is no longer in the state loaded after waiting for the lock", n)
		}
		if err := checkRef(c, envs[i]); err != nil {
			return req, nil, err
		}
	}
	msg := "the lock was held: the state was loaded again"
	if c != nil && c.Commit != "" {
		if before != "" && before != c.Commit {
			msg = fmt.Sprintf("the lock was held: planning from the newest state, commit %s (%s of %s; loaded before the wait: %s)", shortHash(c.Commit), describeRef(c), c.Source, shortHash(before))
		} else {
			msg = fmt.Sprintf("the lock was held: the state was loaded again (commit %s, unchanged)", shortHash(c.Commit))
		}
	}
	for _, n := range req.Names {
		o.Progress.Event(Event{Env: n, Kind: "note", Msg: msg})
	}
	return req, envs, nil
}
