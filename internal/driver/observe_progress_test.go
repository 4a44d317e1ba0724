package driver

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// TestObserveProgress: Progress is told 0 of n before any unit, then each
// unit observed, one call at a time, ending at n of n.
func TestObserveProgress(t *testing.T) {
	env := &state.Environment{Units: map[string]*state.Unit{}}
	for i := range 10 {
		n := fmt.Sprintf("u%d", i)
		env.Units[n] = &state.Unit{Name: n, Target: "t"}
	}
	resolve := func(*state.Environment, string) (Observer, error) { return nil, errors.New("no driver") }
	var calls [][2]int
	inCall := false
	ObserveEnvironment(context.Background(), env, resolve, false, ObserveOptions{Parallelism: 3, Progress: func(done, total int) {
		if inCall {
			t.Error("Progress calls overlap")
		}
		inCall = true
		calls = append(calls, [2]int{done, total})
		inCall = false
	}})
	if len(calls) != 11 {
		t.Fatalf("%d Progress calls, want 11: %v", len(calls), calls)
	}
	for i, c := range calls {
		if c != [2]int{i, 10} {
			t.Errorf("call %d is %v, want [%d 10]", i, c, i)
		}
	}
}
