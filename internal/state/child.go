package state

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The evaluator entry. Every executable that links this package (gearshift,
// the test binaries, scripts/mkdist) serves as its own evaluator: when
// started with childEnv set, it evaluates one environment and exits,
// before main or TestMain runs. An init function rather than a call in
// cli.Main, so that no executable that can load a state lacks the entry
// (it would otherwise run its own main with the evaluator's request on
// stdin) and no test package needs a TestMain for it.
func init() {
	if os.Getenv(childEnv) == "" {
		return
	}
	os.Exit(serveChild(os.Stdin, os.Stdout, os.Stderr))
}

// serveChild reads a childRequest, bounds its own memory, evaluates the
// environment and writes a childReply.
func serveChild(stdin io.Reader, stdout, stderr io.Writer) int {
	var req childRequest
	if err := json.NewDecoder(io.LimitReader(stdin, 1<<20)).Decode(&req); err != nil {
		fmt.Fprintf(stderr, "gearshift state evaluator: reading the request: %v\n", err)
		return 1
	}
	if req.Memory <= 0 {
		req.Memory = int64(DefaultLoadMemory)
	}
	if err := limitMemory(req.Memory); err != nil {
		fmt.Fprintf(stderr, "gearshift state evaluator: %v\n", err)
		return 1
	}
	go watchMemory(req.Memory, stderr)
	perFile = req.PerFile
	env, diags := loadEnvironment(req.Root, req.Name)
	if err := json.NewEncoder(stdout).Encode(childReply{Env: toWire(env), Diags: diags}); err != nil {
		fmt.Fprintf(stderr, "gearshift state evaluator: writing the answer: %v\n", err)
		return 1
	}
	return 0
}

// limitMemory makes limit the child's memory bound three ways: the Go
// runtime collects hard as it nears it (debug.SetMemoryLimit), a watchdog
// exits when the runtime holds more than it (watchMemory), and the kernel
// refuses mappings beyond it with some headroom (setHardLimit): one huge
// allocation (a string of a gigabyte) is never seen by the watchdog.
func limitMemory(limit int64) error {
	debug.SetMemoryLimit(limit / 10 * 9)
	return setHardLimit(limit + 64<<20)
}

// watchMemory exits with exitMemory when the memory the Go runtime has
// mapped (and not released) exceeds limit.
func watchMemory(limit int64, stderr io.Writer) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	for range time.Tick(10 * time.Millisecond) {
		metrics.Read(samples)
		used := int64(samples[0].Value.Uint64()) - int64(samples[1].Value.Uint64())
		if used > limit {
			fmt.Fprintf(stderr, "gearshift state evaluator: %d bytes in use, over the bound of %d\n", used, limit)
			os.Exit(exitMemory)
		}
	}
}
