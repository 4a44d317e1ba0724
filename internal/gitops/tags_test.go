package gitops

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gearshift-dev/gearshift/internal/state"
)

func TestLatestVersion(t *testing.T) {
	tags := []string{
		"v1.2.3", "v1.2.4", "v1.2.10", "v1.3.0", "v1.10.1", "v2.0.0", "v2.1.0-rc.1",
		"v1.2.11-beta.1", "latest", "v1.2", "1.2.99.1", "v1.2.x", "release-2024", "",
	}
	tests := []struct {
		name    string
		tags    []string
		prefix  string
		current string
		level   string
		want    string
		wantOK  bool
	}{
		{"patch", tags, "", "1.2.3", LevelPatch, "1.2.10", true},
		{"minor", tags, "", "1.2.3", LevelMinor, "1.10.1", true},
		{"empty level is minor", tags, "", "1.2.3", "", "1.10.1", true},
		{"major", tags, "", "1.2.3", LevelMajor, "2.0.0", true},
		{"none", tags, "", "1.2.3", LevelNone, "1.2.3", false},
		{"unknown level", tags, "", "1.2.3", "sometimes", "1.2.3", false},
		{"already latest", tags, "", "2.0.0", LevelMajor, "2.0.0", false},
		{"newer than every tag", tags, "", "3.0.0", LevelMajor, "3.0.0", false},
		{"current keeps its v", tags, "", "v1.2.3", LevelPatch, "v1.2.10", true},
		{"prerelease skipped for a stable current", []string{"1.0.0", "1.1.0-rc.1"}, "", "1.0.0", LevelMinor, "1.0.0", false},
		{"prerelease taken for a prerelease current", tags, "", "2.1.0-rc.0", LevelMinor, "2.1.0-rc.1", true},
		{"stable release beats its prerelease", []string{"v2.1.0-rc.1", "v2.1.0"}, "", "2.1.0-rc.0", LevelPatch, "2.1.0", true},
		{"no current takes newest stable", tags, "", "", LevelPatch, "2.0.0", true},
		{"current not a version", tags, "", "main", LevelMajor, "main", false},
		{"garbage only", []string{"latest", "nightly", "v1", "1.2", "v1.2.3.4", "01.2.3"}, "", "1.0.0", LevelMajor, "1.0.0", false},
		{"prefix stripped", []string{"gearframe-v1.4.0", "gearframe-v1.5.0", "other-v9.0.0", "v9.9.9"}, "gearframe-", "1.4.0", LevelMinor, "1.5.0", true},
		{"prefix with v", []string{"lib/v0.9.2", "lib/v0.10.0", "lib/0.11.0"}, "lib/v", "0.9.2", LevelMinor, "0.10.0", true},
		{"build metadata kept", []string{"1.0.0", "1.0.1+build.7"}, "", "1.0.0", LevelPatch, "1.0.1+build.7", true},
		{"no tags", nil, "", "1.0.0", LevelMajor, "1.0.0", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := LatestVersion(tc.tags, Releases{Prefix: tc.prefix}, tc.current, tc.level)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("LatestVersion(%q, %q, %q) = %q, %v; want %q, %v", tc.prefix, tc.current, tc.level, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestLatestVersionTagPattern tracks releases whose tags are not semantic
// versions (issue 9, defect 5): GeneNetwork's gn3-v0.0.12-794db6e2-20220113
// were "not a semantic version" and gn2-v0.2.10 lost to gn2-v0.2.9.
func TestLatestVersionTagPattern(t *testing.T) {
	gn := []string{
		"gn3-v0.0.9-aaaa1111-20211201",
		"gn3-v0.0.10-bbbb2222-20211215",
		"gn3-v0.0.12-794db6e2-20220113",
		"gn3-v0.0.12-0000ffff-20220120", // the same version tagged again, later
		"gn3-v0.1.0-cccc3333-20220201",
		"gn3-v1.0.0-dddd4444-20220301",
		"gn3-v1.1.0-rc.1-eeee5555-20220310",
		"gn2-v9.9.9-ffff6666-20991231", // another product in the same repository
		"gn3-v0.0.13-nothash-20220101", // does not match the pattern
		"latest",
	}
	semverGroup := `gn3-v([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.]+)?)-[0-9a-f]+-[0-9]{8}`
	dates := []string{"20220113", "20220120", "2022012", "202201200", "nightly", "20211231"}
	tests := []struct {
		name    string
		tags    []string
		prefix  string
		pattern string
		current string
		level   string
		want    string
		wantOK  bool
	}{
		{"patch", gn, "", semverGroup, "gn3-v0.0.9-aaaa1111-20211201", LevelPatch, "gn3-v0.0.12-0000ffff-20220120", true},
		{"minor", gn, "", semverGroup, "gn3-v0.0.9-aaaa1111-20211201", LevelMinor, "gn3-v0.1.0-cccc3333-20220201", true},
		{"major", gn, "", semverGroup, "gn3-v0.0.9-aaaa1111-20211201", LevelMajor, "gn3-v1.0.0-dddd4444-20220301", true},
		{"none", gn, "", semverGroup, "gn3-v0.0.9-aaaa1111-20211201", LevelNone, "gn3-v0.0.9-aaaa1111-20211201", false},
		{"a later tag of the same version", gn, "", semverGroup, "gn3-v0.0.12-794db6e2-20220113", LevelPatch, "gn3-v0.0.12-0000ffff-20220120", true},
		{"already latest", gn, "", semverGroup, "gn3-v0.0.12-0000ffff-20220120", LevelPatch, "gn3-v0.0.12-0000ffff-20220120", false},
		{"prerelease taken for a prerelease current", gn, "", semverGroup, "gn3-v1.1.0-rc.0-abcd1234-20220305", LevelMinor, "gn3-v1.1.0-rc.1-eeee5555-20220310", true},
		{"current does not match", gn, "", semverGroup, "0.0.9", LevelMajor, "0.0.9", false},
		{"prefix removed before the pattern", gn, "gn3-", `v([0-9.]+)-[0-9a-f]+-[0-9]{8}`, "v0.0.10-bbbb2222-20211215", LevelMinor, "v0.1.0-cccc3333-20220201", true},
		{"named group", []string{"v1.0.3-rel", "v1.0.4-rel", "v1.1.0-rel", "v1.0.5"}, "", `(?P<version>v[0-9.]+)-rel`, "v1.0.3-rel", LevelPatch, "v1.0.4-rel", true},
		// Versions that are not semantic: numeric-aware order, level major only.
		{"dates, major", dates, "", `[0-9]{8}`, "20220113", LevelMajor, "20220120", true},
		{"dates, minor proposes nothing", dates, "", `[0-9]{8}`, "20220113", LevelMinor, "20220113", false},
		{"dates, empty level is minor", dates, "", `[0-9]{8}`, "20220113", "", "20220113", false},
		{"numbers by value", []string{"build-9", "build-10", "build-100a"}, "", `build-([0-9]+)`, "build-9", LevelMajor, "build-10", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := state.CompileTagPattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := LatestVersion(tc.tags, Releases{Prefix: tc.prefix, Pattern: p}, tc.current, tc.level)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("LatestVersion(%q, %q, %q) = %q, %v; want %q, %v", tc.pattern, tc.current, tc.level, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestListTags(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	srv.CreateRepo("lib", "main", map[string]string{"go.mod": "module lib\n"})
	srv.Tags("lib", "main", "v1.0.0", "v1.1.0")
	srv.AnnotatedTag("lib", "v1.2.0", "main", "release 1.2.0")

	got, err := ListTags(ctx, srv.URL("lib"), auth)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"v1.0.0", "v1.1.0", "v1.2.0"}, got); diff != "" {
		t.Errorf("ListTags (-want +got):\n%s", diff)
	}

	before := srv.Requests()
	if _, err := ListTags(ctx, srv.URL("lib"), auth); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests() - before; n != 1 {
		t.Errorf("ListTags made %d requests, want 1", n)
	}

	_, err = ListTags(ctx, srv.URL("lib"), Auth{Token: "wrongTOKENvalue42"})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("ListTags with a wrong token = %v, want ErrAuth", err)
	}
	assertNoSecret(t, "error", err.Error())
}

func TestTagListerListsEachURLOnce(t *testing.T) {
	srv, auth := newServer(t)
	ctx := testContext(t)
	for _, repo := range []string{"a", "b"} {
		srv.CreateRepo(repo, "main", nil)
		srv.Tag(repo, "v0.1.0", "main")
	}
	l := NewTagLister(auth)
	before := srv.Requests()
	for range 10 {
		for _, repo := range []string{"a", "b"} {
			tags, err := l.Tags(ctx, srv.URL(repo))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"v0.1.0"}, tags); diff != "" {
				t.Errorf("Tags(%s) (-want +got):\n%s", repo, diff)
			}
		}
	}
	if n := srv.Requests() - before; n != 2 {
		t.Errorf("20 lookups of 2 URLs made %d requests, want 2", n)
	}
	if _, err := l.Tags(ctx, srv.URL("missing")); err == nil {
		t.Errorf("Tags of a missing repository succeeded")
	}
}

// FuzzLatestVersion: whatever tags a remote repository holds, a proposal
// is one of them (in current's style) and newer than current, and no
// proposal leaves current unchanged.
func FuzzLatestVersion(f *testing.F) {
	f.Add("gn3-v0.0.9-aaaa1111-20211201\ngn3-v0.0.12-794db6e2-20220113\ngn3-v1.0.0-bbbb2222-20220301", "gn3-v0.0.9-aaaa1111-20211201", true, "minor")
	f.Add("v1.2.3\nv1.2.10\nv2.0.0-rc.1\nlatest", "1.2.3", false, "patch")
	f.Add("20220113\n20220120\nnightly", "20220113", true, "major")
	pattern, err := state.CompileTagPattern(`(?:gn3-v)?([0-9][0-9.a-z-]*)(?:-[0-9a-f]+-[0-9]{8})?`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tagList, current string, withPattern bool, level string) {
		tags := strings.Split(tagList, "\n")
		r := Releases{}
		if withPattern {
			r.Pattern = pattern
		}
		got, ok := LatestVersion(tags, r, current, level)
		if !ok {
			if got != current {
				t.Fatalf("no proposal, but %q instead of current %q", got, current)
			}
			return
		}
		if level == LevelNone {
			t.Fatalf("level none proposed %q", got)
		}
		if !slices.ContainsFunc(tags, func(tag string) bool {
			return tag == got || strings.TrimPrefix(tag, "v") == strings.TrimPrefix(got, "v")
		}) {
			t.Fatalf("proposed %q, which is no tag of %q", got, tags)
		}
		if current != "" && r.compare(part(r, got), got, part(r, current), current) <= 0 {
			t.Fatalf("proposed %q, which is not newer than %q", got, current)
		}
	})
}

func part(r Releases, s string) string {
	if r.Pattern == nil {
		return s
	}
	p, _ := r.Pattern.Version(s)
	return p
}
