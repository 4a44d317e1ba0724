// Command loadbench measures loading and validating generated state
// repositories with gearshift against `cue export` of the same trees, in
// the same run: wall time and peak resident memory of each process.
//
//	go run ./internal/bench/loadbench -gearshift bin/gearshift -cue bin/cue
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"github.com/gearshift-dev/gearshift/schema"
)

func main() {
	gs := flag.String("gearshift", "bin/gearshift", "the gearshift binary")
	cue := flag.String("cue", "bin/cue", "the cue binary (cuelang.org/go/cmd/cue at go.mod's version)")
	runs := flag.Int("runs", 3, "runs of each command; the best is reported")
	flag.Parse()
	envs := []string{"dev", "staging", "prod"}
	fmt.Printf("%-8s %-10s %12s %12s %12s %12s\n", "units", "", "gearshift", "cue export", "ratio", "")
	for _, n := range []int{1000, 2000, 4000, 8000} {
		dir, err := os.MkdirTemp("", "loadbench-")
		if err != nil {
			log.Fatal(err)
		}
		if err := statetest.Generate(dir, statetest.Options{Units: n, Envs: envs}); err != nil {
			log.Fatal(err)
		}
		schemaFile := filepath.Join(dir, "schema.cue")
		if err := os.WriteFile(schemaFile, schema.CUE, 0o644); err != nil {
			log.Fatal(err)
		}
		gWall, gRSS := best(*runs, func() (time.Duration, int64) {
			return measure(dir, *gs, "validate", "--repo", dir)
		})
		// cue export evaluates one package instance at a time: one run per
		// environment, times summed and the peak of the three.
		cWall, cRSS := best(*runs, func() (time.Duration, int64) {
			var wall time.Duration
			var rss int64
			for _, env := range envs {
				args := []string{"export", schemaFile}
				shared, _ := filepath.Glob(filepath.Join(dir, "environments", "*.cue"))
				own, _ := filepath.Glob(filepath.Join(dir, "environments", env, "*.cue"))
				args = append(append(args, shared...), own...)
				w, r := measure(dir, *cue, args...)
				wall += w
				rss = max(rss, r)
			}
			return wall, rss
		})
		fmt.Printf("%-8d %-10s %12s %12s %12.2f\n", n, "time", gWall.Round(time.Millisecond), cWall.Round(time.Millisecond), float64(gWall)/float64(cWall))
		fmt.Printf("%-8s %-10s %10d MB %10d MB %12.2f\n", "", "peak RSS", gRSS>>10, cRSS>>10, float64(gRSS)/float64(cRSS))
		os.RemoveAll(dir)
	}
}

func best(runs int, f func() (time.Duration, int64)) (time.Duration, int64) {
	var bw time.Duration
	var br int64
	for i := 0; i < runs; i++ {
		w, r := f()
		if i == 0 || w < bw {
			bw = w
		}
		br = max(br, r)
	}
	return bw, br
}

// measure runs a command and returns its wall time and peak RSS in KiB.
func measure(dir, name string, args ...string) (time.Duration, int64) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s %v: %v", name, args[0], err)
	}
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return wall, ru.Maxrss
}
