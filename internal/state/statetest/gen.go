// Package statetest generates state repositories for tests and benchmarks.
package statetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Options shape a generated state repository.
type Options struct {
	Envs         []string // default dev, staging, prod
	Units        int      // per environment
	UnitsPerFile int      // default 100
	// Target is the CUE of the environments' single target "t"; default a
	// local host target under Root.
	Target string
	// Root is the host target's root; {env} is replaced.
	Root string
	// NoHealth leaves out health checks (observe then reads records only).
	NoHealth bool
}

// Generate writes a state repository of o.Units units per environment in
// dir, with a framework, dependsOn chains and every optional block in use.
func Generate(dir string, o Options) error {
	if len(o.Envs) == 0 {
		o.Envs = []string{"dev", "staging", "prod"}
	}
	if o.UnitsPerFile <= 0 {
		o.UnitsPerFile = 100
	}
	if o.Root == "" {
		o.Root = "/var/tmp/gearshift-gen/{env}"
	}
	files := map[string]string{
		"cue.mod/module.cue":          "module: \"example.com/gen@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/frameworks.cue": "package gearshift\n\nframeworks: fw: {latest: \"2.0.0\", released: \"2026-01-01\", grace: \"7d\"}\n",
	}
	for _, env := range o.Envs {
		target := o.Target
		if target == "" {
			target = fmt.Sprintf("host: {local: true, root: %q}", strings.ReplaceAll(o.Root, "{env}", env))
		}
		files["environments/"+env+"/environment.cue"] = fmt.Sprintf(`package gearshift

environment: {
	name: %q
	deployFrom: branch: "main"
	policies: {latestFramework: "warn", maxAge: "30d"}
	variables: TEST_MODE: "blackbox_%s"
	targets: t: {%s}
}
`, env, env, target)
		for start := 0; start < o.Units; start += o.UnitsPerFile {
			var b strings.Builder
			b.WriteString("package gearshift\n")
			for i := start; i < start+o.UnitsPerFile && i < o.Units; i++ {
				fmt.Fprintf(&b, `
units: "u%05d": {
	kind:    "gear"
	version: "1.%d.0"
	frameworks: fw: "2.0.0"
	target: "t"
	port:   %d
	run: command: ["./bin/serve", "--port", "{port}"]
	verify: command: ["./bin/check", "--unit", "u%05d"]
`, i, i%50, 20000+i%40000, i)
				if !o.NoHealth {
					fmt.Fprintf(&b, "\thealth: http: {url: \"http://127.0.0.1:%d/healthz\", body: \"ok\"}\n", 20000+i%40000)
				}
				if i%10 != 0 {
					fmt.Fprintf(&b, "\tdependsOn: [\"u%05d\"]\n", i-i%10)
				}
				b.WriteString("}\n")
			}
			files[fmt.Sprintf("environments/%s/units-%05d.cue", env, start)] = b.String()
		}
	}
	return WriteFiles(dir, files)
}

// WriteFiles writes files (slash-separated paths relative to dir ->
// content) under dir, making the directories they need.
func WriteFiles(dir string, files map[string]string) error {
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
