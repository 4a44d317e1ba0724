package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkBump500x50 is `gearshift bump` over a fleet on the local git
// server: 500 tracked units, each with its own release repository of 50
// semver tags, every unit one minor release behind. "discover" is a dry
// run (clone the state, list 500 sources, plan 500 edits); "open" also
// commits, pushes and opens (then updates) 500 pull requests on the GitHub
// fake. git-requests/op counts HTTP round trips to the git server;
// api-requests/op those to the GitHub API.
//
//	go test -run '^$' -bench BenchmarkBump500x50 -benchtime 2x ./internal/cli/
func BenchmarkBump500x50(b *testing.B) {
	const units, tags = 500, 50
	h := newHarness(b, nil)
	start := time.Now()
	tagNames := make([]string, tags)
	for i := range tagNames {
		tagNames[i] = fmt.Sprintf("v1.%d.%d", i/10, i%10)
	}
	files := map[string]string{
		"cue.mod/module.cue":       "module: \"example.com/state@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"environments/dev/env.cue": envCUE("dev", "bump", ""),
	}
	var f strings.Builder
	for u := range units {
		repo := fmt.Sprintf("rel%03d", u)
		h.git.CreateRepo(repo, "main", map[string]string{"README": repo + "\n"})
		h.git.Tags(repo, "main", tagNames...)
		if u%100 == 0 {
			f.Reset()
			f.WriteString("package gearshift\n")
		}
		// Level major: the newest of the 50 tags, v1.4.9, is proposed.
		fmt.Fprintf(&f, "\nunits: u%03d: {\n\tkind:    \"gear\"\n\tversion: \"1.0.0\"\n\ttarget:  \"t\"\n\ttrack: {source: %q, level: \"major\"}\n}\n", u, h.git.URL(repo))
		if u%100 == 99 {
			files[fmt.Sprintf("environments/dev/units-%03d.cue", u-99)] = f.String()
		}
	}
	h.git.CreateRepo("state", "main", files)
	b.Logf("set-up of %d release repositories: %s", units, time.Since(start).Round(time.Millisecond))
	url := h.git.URL("state")

	run := func(name string, args ...string) {
		b.Run(name, func(b *testing.B) {
			gitStart, apiStart := h.git.Requests(), len(h.gh.Requests())
			b.ResetTimer()
			for range b.N {
				code, out, errOut := h.run(append([]string{"bump", "--repo", url, "--ref", "main"}, args...)...)
				if code != 0 || strings.Count(out, "gearshift/bump-dev-u") != units {
					b.Fatalf("exit %d\n%.2000s\n%s", code, out, errOut)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(h.git.Requests()-gitStart)/float64(b.N), "git-requests/op")
			b.ReportMetric(float64(len(h.gh.Requests())-apiStart)/float64(b.N), "api-requests/op")
		})
	}
	run("discover", "--dry-run")
	run("open")
	if n := len(h.gh.PullRequests()); n != units {
		b.Errorf("%d pull requests, want %d", n, units)
	}
}
