// Command applybench measures `gearshift apply` of many units on this
// machine: the host driver on its local transport, the process service
// manager, demo-gear release tarballs from local files (verified by
// checksum), each unit an HTTP server on its own loopback port with an HTTP
// health check probed every 100ms. It reports the wall time of a first
// deploy, of an upgrade of every unit, of an apply with nothing to do, and
// of pruning them all (which also stops the servers).
//
//	go run ./internal/bench/applybench -gearshift bin/gearshift
//
// The apply runs at gearshift's default parallelism unless -parallelism is
// given.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/bench/benchutil"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
)

func main() {
	gs := flag.String("gearshift", "bin/gearshift", "the gearshift binary")
	units := flag.Int("units", 200, "how many units")
	port := flag.Int("port", 21000, "the first unit's port; units use port..port+units-1")
	parallelism := flag.Int("parallelism", 0, "apply --parallelism (0: gearshift's default)")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	trace := flag.String("trace", "", "append gearshift's output, each line with its time, to this file")
	flag.Parse()
	if abs, err := filepath.Abs(*gs); err == nil {
		*gs = abs
	}
	for p := *port; p < *port+*units; p++ {
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err != nil {
			log.Fatalf("port %d is taken: choose another -port", p)
		} else {
			ln.Close()
		}
	}
	dir, err := os.MkdirTemp("/var/tmp", "gearshift-applybench-")
	if err != nil {
		log.Fatal(err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	bin := filepath.Join(dir, "demo-gear")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/demo-gear")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		log.Fatalf("build demo-gear: %v", err)
	}
	sums := map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		sums[v] = writeTarball(filepath.Join(dir, "dist", "demo-gear-"+v+".tar.gz"), bin, v)
	}
	b := &bench{gs: *gs, dir: dir, units: *units, port: *port, sums: sums, trace: *trace, keep: *keep}
	if *parallelism > 0 {
		b.extra = []string{"--parallelism", strconv.Itoa(*parallelism)}
	}
	defer b.stopAll()

	fmt.Printf("gearshift apply of %d units on this machine (host driver, local transport, process manager, demo-gear artifacts), parallelism %s\n",
		*units, orDefault(*parallelism))
	b.run("first deploy", "1.0.0", false)
	b.run("upgrade every unit", "1.1.0", false)
	b.run("nothing to do", "1.1.0", false)
	b.run("prune every unit", "", true)
}

type bench struct {
	gs, dir     string
	units, port int
	sums        map[string]string
	extra       []string
	trace       string
	keep        bool
}

func orDefault(p int) string {
	if p == 0 {
		return "default (8)"
	}
	return strconv.Itoa(p)
}

// run writes the state with every unit at version ("" for none) and
// applies it, printing the wall time.
func (b *bench) run(what, version string, prune bool) {
	b.writeState(version)
	args := append([]string{"apply", "dev", "--repo", filepath.Join(b.dir, "repo"),
		"--state-dir", filepath.Join(b.dir, "state"), "--cache-dir", filepath.Join(b.dir, "cache")}, b.extra...)
	cmd := exec.Command(b.gs, args...)
	var out bytes.Buffer
	start := time.Now()
	cmd.Stdout, cmd.Stderr = &out, &out
	var traced bytes.Buffer
	if b.trace != "" {
		cmd.Stderr = &benchutil.Stamped{W: &traced, Start: start}
	}
	err := cmd.Run()
	wall := time.Since(start)
	if b.trace != "" {
		benchutil.AppendTrace(b.trace, what, traced.Bytes())
	}
	if err != nil {
		b.stopAll()
		if !b.keep {
			os.RemoveAll(b.dir)
		}
		log.Fatalf("%s: %v\n%s", what, err, benchutil.Tail(out.String(), 40))
	}
	fmt.Printf("  %-20s %8.2fs   %s\n", what, wall.Seconds(), benchutil.ApplySummary(out.String()))
}

func (b *bench) writeState(version string) {
	repo := filepath.Join(b.dir, "repo")
	root := filepath.Join(b.dir, "root")
	files := map[string]string{
		"cue.mod/module.cue": "module: \"example.com/bench@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/dev/environment.cue": fmt.Sprintf(`package gearshift

environment: {
	name: "dev"
	deployFrom: branch: "main"
	policies: {prune: true, requireChecksum: true}
	targets: local: host: {local: true, root: %q, allowLocalArtifacts: true}
}
`, root),
	}
	var u strings.Builder
	u.WriteString("package gearshift\n\n")
	if version != "" {
		for i := range b.units {
			name := fmt.Sprintf("u%03d", i)
			p := b.port + i
			fmt.Fprintf(&u, `units: %s: {
	kind: "gear", version: %q, target: "local", port: %d
	artifact: {source: %q, checksum: %q}
	run: command: ["./bin/demo-gear", "serve", "--addr", "127.0.0.1:{port}", "--name", %q, "--version", version]
	health: {http: {url: "http://127.0.0.1:{port}/healthz", body: "ok"}, interval: "100ms", timeout: "30s"}
}
`, name, version, p, filepath.Join(b.dir, "dist", "demo-gear-{version}.tar.gz"), b.sums[version], name)
		}
	}
	files["environments/dev/units.cue"] = u.String()
	if err := statetest.WriteFiles(repo, files); err != nil {
		log.Fatal(err)
	}
}

// stopAll stops the servers a failed run left, by the pid files of the
// host layout.
func (b *bench) stopAll() {
	benchutil.StopPIDs(filepath.Join(b.dir, "root", "*", "run", "*.pid"))
}

// writeTarball writes a release tarball of demo-gear and returns its
// checksum.
func writeTarball(file, bin, version string) string {
	exe, err := os.ReadFile(bin)
	if err != nil {
		log.Fatal(err)
	}
	return benchutil.WriteTarball(file, []benchutil.File{
		{Name: "VERSION", Mode: 0o644, Body: []byte(version + "\n")},
		{Name: "bin/", Mode: 0o755},
		{Name: "bin/demo-gear", Mode: 0o755, Body: exe},
	})
}
