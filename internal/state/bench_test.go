package state_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gearshift-dev/gearshift/internal/state"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
)

// BenchmarkLoad loads and validates generated state repositories of N units
// in each of 3 environments, each environment in a bounded child process
// (as the CLI does) and in this process, to show what the bound costs.
// `make bench-load` compares the CLI with cue export.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1000, 2000, 4000, 8000} {
		dir := b.TempDir()
		if err := statetest.Generate(dir, statetest.Options{Units: n}); err != nil {
			b.Fatal(err)
		}
		for _, inProcess := range []bool{false, true} {
			name := "bounded"
			if inProcess {
				name = "in-process"
			}
			b.Run(fmt.Sprintf("units=%d/%s", n, name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					st, err := state.Load(context.Background(), dir, nil, state.Options{InProcess: inProcess})
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
}
