// Command loadbench measures loading and validating generated state
// repositories with gearshift against `cue export` of the same trees, in
// the same run: wall time and peak resident memory of each process.
//
//	go run ./internal/bench/loadbench -gearshift bin/gearshift -cue bin/cue
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver/host"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"github.com/gearshift-dev/gearshift/schema"
)

func main() {
	gs := flag.String("gearshift", "bin/gearshift", "the gearshift binary")
	cue := flag.String("cue", "bin/cue", "the cue binary (cuelang.org/go/cmd/cue at go.mod's version)")
	runs := flag.Int("runs", 3, "runs of each command; the best is reported")
	planMode := flag.Int("plan", 0, "instead: plan N units x 3 environments with host records on disk, against loading alone")
	flag.Parse()
	// The commands run in the generated trees: make their paths absolute.
	for _, p := range []*string{gs, cue} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	if *planMode > 0 {
		benchPlan(*gs, *planMode, *runs)
		return
	}
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
		// The schema goes outside the tree: a file of package gearshift in
		// the module root would be part of every environment's package.
		schemaDir, err := os.MkdirTemp("", "loadbench-schema-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(schemaDir)
		schemaFile := filepath.Join(schemaDir, "schema.cue")
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

// benchPlan generates n units in each of 3 environments on local host
// targets, writes their release records as if deployed (most as desired,
// some at another version, some older than maxAge), and measures
// `gearshift plan` against `gearshift validate` (loading alone).
func benchPlan(gs string, n, runs int) {
	dir, err := os.MkdirTemp("", "planbench-")
	if err != nil {
		log.Fatal(err)
	}
	if os.Getenv("KEEP") == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("keeping", dir)
	}
	root := filepath.Join(dir, "targets", "{env}")
	target := fmt.Sprintf(`host: {local: true, root: %q, service: "command", command: {start: ["true"], stop: ["true"]}}`, root)
	envs := []string{"dev", "staging", "prod"}
	for _, env := range envs {
		if err := statetest.Generate(dir, statetest.Options{Units: n, Envs: []string{env}, NoHealth: true,
			Target: strings.ReplaceAll(target, "{env}", env)}); err != nil {
			log.Fatal(err)
		}
		now := time.Now().UTC()
		for i := 0; i < n; i++ {
			version := fmt.Sprintf("1.%d.0", i%50)
			at := now.Add(-24 * time.Hour)
			switch i % 20 {
			case 0:
				version = "0.9.0"
			case 1:
				at = now.Add(-40 * 24 * time.Hour)
			}
			writeRelease(filepath.Join(dir, "targets", env), env, fmt.Sprintf("u%05d", i), version, at)
		}
	}
	lw, lr := best(runs, func() (time.Duration, int64) { return measure(dir, gs, "validate", "--repo", dir) })
	pw, pr := best(runs, func() (time.Duration, int64) { return measureAny(dir, gs, "plan", "--repo", dir) })
	out, _ := exec.Command(gs, "plan", "--repo", dir).Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	fmt.Printf("plan of %d units x 3 environments (host records on disk): %s\n", n, lines[len(lines)-1])
	fmt.Printf("%-22s %10s %10s\n", "", "wall", "peak RSS")
	fmt.Printf("%-22s %10s %7d MB\n", "gearshift validate", lw.Round(time.Millisecond), lr>>10)
	fmt.Printf("%-22s %10s %7d MB\n", "gearshift plan", pw.Round(time.Millisecond), pr>>10)
	fmt.Printf("%-22s %10.2f %10.2f\n", "plan / load", float64(pw)/float64(lw), float64(pr)/float64(lr))
}

func writeRelease(root, env, unit, version string, at time.Time) {
	id := host.NewID(version, at)
	l := host.Layout{Root: root, Unit: unit}
	if err := os.MkdirAll(l.Release(id), 0o755); err != nil {
		log.Fatal(err)
	}
	rec := host.Record{FormatVersion: host.RecordFormatVersion, Unit: unit, Environment: env, ID: id, Version: version, DeployedAt: at,
		Frameworks: map[string]string{"fw": "2.0.0"}}
	b, _ := json.Marshal(rec)
	if err := os.WriteFile(l.Record(id), b, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Symlink("releases/"+id, l.Current()); err != nil {
		log.Fatal(err)
	}
}

// measureAny is measure for commands whose non-zero exit is an answer (a
// plan with changes or denies).
func measureAny(dir, name string, args ...string) (time.Duration, int64) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil && cmd.ProcessState == nil {
		log.Fatal(err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return wall, ru.Maxrss
}
