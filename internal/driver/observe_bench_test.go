package driver_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	execdrv "github.com/gearshift-dev/gearshift/internal/driver/exec"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// BenchmarkObserveSlow observes 1,000 units whose status command takes
// 100 ms each (a real process: sleep 0.1, then the JSON document), at
// parallelism 32. Serially this is at least 100 s.
func BenchmarkObserveSlow(b *testing.B) {
	dir := b.TempDir()
	script := filepath.Join(dir, "status.sh")
	body := "#!/bin/sh\nsleep 0.1\necho '{\"format_version\":\"1\",\"deployed\":true,\"version\":\"1.0.0\",\"health\":\"healthy\"}'\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		b.Fatal(err)
	}
	env := &state.Environment{Name: "dev", Units: map[string]*state.Unit{},
		Targets: map[string]state.Target{"t": {Exec: &state.ExecTarget{Status: []string{script}, Timeout: state.Duration{Duration: 30 * time.Second}}}}}
	for i := 0; i < 1000; i++ {
		n := fmt.Sprintf("u%04d", i)
		env.Units[n] = &state.Unit{Name: n, Version: "1.0.0", Target: "t"}
	}
	d := &execdrv.Driver{Target: env.Targets["t"].Exec, Dir: dir}
	resolve := func(*state.Environment, string) (driver.Observer, error) { return d, nil }
	for _, par := range []int{32} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				obs := driver.ObserveEnvironment(context.Background(), env, resolve, false, driver.ObserveOptions{Parallelism: par, Timeout: time.Minute})
				for n, o := range obs.Units {
					if o.Error != "" || o.Version != "1.0.0" {
						b.Fatalf("%s: %+v", n, o)
					}
				}
			}
		})
	}
}
