package gitops

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkListTags500x50 is the discovery half of `gearshift bump` over a
// fleet: 500 units, each tracking one of 50 release repositories (ten units
// per library, as a framework is shared), each repository with 50 semver
// tags, on the local git server. A run lists each source once (TagLister)
// and picks every unit's latest version; "unmemoised" lists once per unit
// for comparison, and "memo-parallel4" lists the sources four at a time.
// requests/op is HTTP round trips per bump run.
func BenchmarkListTags500x50(b *testing.B) {
	const units, sources, tagsPerSource = 500, 50, 50
	srv, auth := newServer(b)
	urls := make([]string, sources)
	tags := make([]string, tagsPerSource)
	for i := range tags {
		tags[i] = fmt.Sprintf("v1.%d.%d", i/10, i%10)
	}
	for s := range sources {
		repo := fmt.Sprintf("lib%02d", s)
		srv.CreateRepo(repo, "main", map[string]string{"go.mod": "module " + repo + "\n"})
		srv.Tags(repo, "main", tags...)
		urls[s] = srv.URL(repo)
	}
	unitSource := func(u int) string { return urls[u%sources] }
	ctx := context.Background()

	// bumpUnit is what bump does per unit before editing any file.
	bumpUnit := func(list func(string) ([]string, error), u int) error {
		got, err := list(unitSource(u))
		if err != nil {
			return err
		}
		if v, ok := LatestVersion(got, Releases{}, "1.0.0", LevelMinor); !ok || v != "1.4.9" {
			return fmt.Errorf("unit %d: LatestVersion = %q, %v; want 1.4.9", u, v, ok)
		}
		return nil
	}
	run := func(name string, bump func() error) {
		b.Run(name, func(b *testing.B) {
			start := srv.Requests()
			b.ResetTimer()
			for range b.N {
				if err := bump(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(srv.Requests()-start)/float64(b.N), "requests/op")
		})
	}

	run("memo", func() error {
		l := NewTagLister(auth)
		for u := range units {
			if err := bumpUnit(func(url string) ([]string, error) { return l.Tags(ctx, url) }, u); err != nil {
				return err
			}
		}
		return nil
	})
	run("memo-parallel4", func() error {
		l := NewTagLister(auth)
		work := make(chan int)
		errs := make(chan error, units)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for u := range work {
					errs <- bumpUnit(func(url string) ([]string, error) { return l.Tags(ctx, url) }, u)
				}
			}()
		}
		for u := range units {
			work <- u
		}
		close(work)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
	run("unmemoised", func() error {
		for u := range units {
			if err := bumpUnit(func(url string) ([]string, error) { return ListTags(ctx, url, auth) }, u); err != nil {
				return err
			}
		}
		return nil
	})
}
