package state_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
)

// BenchmarkLoad loads and validates generated state repositories of N units
// in each of 3 environments. `make bench-load` compares it with cue export.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1000, 2000, 4000, 8000} {
		b.Run(fmt.Sprintf("units=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if err := statetest.Generate(dir, statetest.Options{Units: n}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st, err := state.Load(context.Background(), dir, nil, state.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if got := len(st.Environments["prod"].Units); got != n {
					b.Fatalf("loaded %d units, want %d", got, n)
				}
			}
		})
	}
}
