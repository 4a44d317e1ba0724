// Command fleetbench measures gearshift against a fleet of SSH hosts: N
// loopback addresses (127.0.2.1, 127.0.2.2, ... 127.0.5.250 for 1,000)
// served by one real sshd (internal/testutil/sshd.Fleet), each host's key
// verified against a known_hosts file that lists every address. One unit
// runs on all of them: a host target with the N hosts, the process service
// manager, a tiny artifact (a shell script that sleeps) downloaded over
// HTTP from 127.0.0.1 and checked by a health command on each host.
//
// For each fleet size it prints the wall time of a first deploy, of status,
// and of an upgrade of every host:
//
//	go run ./internal/bench/fleetbench -gearshift bin/gearshift -hosts 50,200,1000
//
// It prints figures; it is not a pass/fail test. Every process it starts
// (sshd, the unit's sleepers) is stopped at the end.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/bench/benchutil"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"github.com/gearshift-dev/gearshift/internal/testutil/sshd"
)

func main() {
	gs := flag.String("gearshift", "bin/gearshift", "the gearshift binary")
	sizes := flag.String("hosts", "50,200,1000", "fleet sizes, comma-separated")
	applyMax := flag.Int("apply-max", 1000, "measure only status above this many hosts")
	deployWith := flag.String("deploy-with", "", "the gearshift binary that deploys the fleets above -apply-max, untimed (default: -gearshift)")
	strategy := flag.String("strategy", "recreate", "the unit's strategy: recreate or rolling")
	batch := flag.Int("batch", 1, "rolling.maxUnavailable for -strategy rolling")
	health := flag.String("health", "command", "the unit's health check: command (./app check, run on each host) or none (the process manager's own check, over SFTP)")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	loginRC := flag.Bool("login-rc", false, "let the login shell source ~/.bashrc for every command (measures the machine's dotfiles)")
	trace := flag.String("trace", "", "append gearshift's output, each line with its time, to this file")
	flag.Parse()
	if abs, err := filepath.Abs(*gs); err == nil {
		*gs = abs
	}
	var ns []int
	maxN := 0
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 250*250 {
			log.Fatalf("-hosts %q: want sizes between 1 and 62500", *sizes)
		}
		ns = append(ns, n)
		maxN = max(maxN, n)
	}
	dir, err := os.MkdirTemp("/var/tmp", "gearshift-fleetbench-")
	if err != nil {
		log.Fatal(err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	fleet, err := sshd.StartFleet(dir, maxN, sshd.FleetOptions{LoginRC: *loginRC})
	if err != nil {
		log.Fatal(err)
	}
	defer fleet.Close()

	dist := filepath.Join(dir, "dist")
	sums := map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		sums[v] = writeTarball(filepath.Join(dist, "app-"+v+".tar.gz"), v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.FileServer(http.Dir(dist)))
	if *health != "command" && *health != "none" {
		log.Fatalf("-health %q: want command or none", *health)
	}
	b := &bench{gs: *gs, dir: dir, trace: *trace, health: *health, keep: *keep, fleet: fleet, sums: sums, strategy: *strategy, batch: *batch,
		source: "http://" + ln.Addr().String() + "/app-{version}.tar.gz"}
	defer b.stopAll()

	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("gearshift against a fleet of SSH hosts: one sshd (OpenSSH) on 127.0.x.y:%d, one unit (%s), %s\n",
		fleet.Port, b.describe(), strings.TrimSpace(string(load)))
	for _, n := range ns {
		b.n = n
		if n <= *applyMax {
			b.apply("first deploy", "1.0.0")
			b.status()
			b.apply("upgrade", "1.1.0")
		} else {
			// Status needs something to observe: a deploy, not timed.
			gs := b.gs
			if *deployWith != "" {
				b.gs, _ = filepath.Abs(*deployWith)
			}
			b.apply("setup, untimed", "1.0.0")
			b.gs = gs
			b.status()
		}
		b.stopAll()
		os.RemoveAll(b.root())
		os.RemoveAll(filepath.Join(dir, "state"))
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("load average at the end: %s\n", strings.TrimSpace(string(load)))
}

type bench struct {
	gs, dir, source string
	trace, health   string
	keep            bool
	fleet           *sshd.Fleet
	sums            map[string]string
	strategy        string
	batch, n        int
	// cpu is gearshift's CPU time in the last command, server the
	// fleet's sshd's (with its sessions and the commands they ran), and
	// machine every process's on this machine (others' too).
	cpu, server, machine time.Duration
}

func (b *bench) describe() string {
	s := b.strategy
	if b.strategy == "rolling" {
		s = fmt.Sprintf("rolling, %d at a time", b.batch)
	}
	return s + ", health " + b.health
}

func (b *bench) root() string { return filepath.Join(b.dir, "root") }

func (b *bench) args(cmd ...string) []string {
	return append(cmd, "fleet", "--repo", filepath.Join(b.dir, "repo"))
}

func (b *bench) apply(what, version string) {
	b.writeState(version)
	args := append(b.args("apply"), "--state-dir", filepath.Join(b.dir, "state"), "--cache-dir", filepath.Join(b.dir, "cache"), "--no-status")
	wall, out, err := b.run(args)
	if err != nil {
		b.fail(what, err, out)
	}
	fmt.Printf("  %5d hosts  apply (%s) %-14s %8.2fs   cpu: gearshift %5.1fs, sshd %6.1fs, machine %6.1fs   %s\n", b.n, version, what, wall.Seconds(), b.cpu.Seconds(), b.server.Seconds(), b.machine.Seconds(), benchutil.ApplySummary(out))
}

func (b *bench) status() {
	wall, out, err := b.run(b.args("status"))
	if err != nil {
		b.fail("status", err, out)
	}
	fmt.Printf("  %5d hosts  status                     %8.2fs   cpu: gearshift %5.1fs, sshd %6.1fs, machine %6.1fs\n", b.n, wall.Seconds(), b.cpu.Seconds(), b.server.Seconds(), b.machine.Seconds())
}

// busy is the CPU time every process of the machine has used, from
// /proc/stat: with one sshd serving the whole fleet on this machine, the
// hosts' side of each command (handshakes, sessions, the commands run) is
// here too, beside gearshift's own CPU.
func busy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ 100
}

func (b *bench) run(args []string) (time.Duration, string, error) {
	defer func(before time.Duration) { b.machine = busy() - before }(busy())
	sshdBefore, _ := b.fleet.CPU()
	defer func() {
		// The sessions end with gearshift's connections; sshd reaps them
		// a moment later.
		time.Sleep(200 * time.Millisecond)
		after, _ := b.fleet.CPU()
		b.server = after - sshdBefore
	}()
	cmd := exec.Command(b.gs, args...)
	var out, traced bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if b.trace != "" {
		cmd.Stderr = &benchutil.Stamped{W: &traced, Start: start}
	}
	err := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState != nil {
		b.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if b.trace != "" {
		benchutil.AppendTrace(b.trace, fmt.Sprintf("%d hosts: %s (%.2fs)", b.n, args[0], wall.Seconds()), traced.Bytes())
	}
	return wall, out.String(), err
}

func (b *bench) fail(what string, err error, out string) {
	b.stopAll()
	b.fleet.Close()
	if !b.keep {
		os.RemoveAll(b.dir) // log.Fatalf skips main's deferred removal
	}
	log.Fatalf("%d hosts, %s: %v\n%s", b.n, what, err, benchutil.Tail(out, 40))
}

func (b *bench) writeState(version string) {
	var hosts strings.Builder
	for _, a := range b.fleet.Addrs[:b.n] {
		fmt.Fprintf(&hosts, "%q, ", a)
	}
	strategy := fmt.Sprintf("strategy: %q", b.strategy)
	if b.strategy == "rolling" {
		strategy += fmt.Sprintf(", rolling: maxUnavailable: %d", b.batch)
	}
	files := map[string]string{
		"cue.mod/module.cue": "module: \"example.com/fleetbench@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/fleet/environment.cue": fmt.Sprintf(`package gearshift

environment: {
	name: "fleet"
	deployFrom: branch: "main"
	policies: requireChecksum: true
	targets: fleet: host: {
		hosts: [%s]
		ssh: {user: %q, port: %d, knownHosts: %q, identity: %q}
		root: %q
	}
}
`, hosts.String(), b.fleet.User, b.fleet.Port, b.fleet.KnownHosts, b.fleet.Identity, filepath.Join(b.root(), "{host}")),
		"environments/fleet/units.cue": fmt.Sprintf(`package gearshift

units: app: {
	kind: "gear", version: %q, target: "fleet", %s
	artifact: {source: %q, checksum: %q}
	run: command: ["./app"]
%s}
`, version, strategy, b.source, b.sums[version], healthCUE(b.health)),
	}
	if err := statetest.WriteFiles(filepath.Join(b.dir, "repo"), files); err != nil {
		log.Fatal(err)
	}
}

func healthCUE(health string) string {
	if health == "none" {
		return ""
	}
	return "\thealth: {command: [\"./app\", \"check\"], interval: \"100ms\", timeout: \"30s\"}\n"
}

// stopAll stops the unit's processes by the pid files of the host layout.
func (b *bench) stopAll() {
	benchutil.StopPIDs(filepath.Join(b.root(), "*", "app", "run", "*.pid"))
}

// writeTarball writes the unit's release tarball: app, a script that
// sleeps (or, as "app check", succeeds), and VERSION. It returns the
// checksum.
func writeTarball(file, version string) string {
	app := "#!/bin/sh\n[ \"$1\" = check ] && exit 0\nexec sleep 86400\n"
	return benchutil.WriteTarball(file, []benchutil.File{
		{Name: "VERSION", Mode: 0o644, Body: []byte(version + "\n")},
		{Name: "app", Mode: 0o755, Body: []byte(app)},
	})
}
