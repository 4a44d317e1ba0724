package state

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCompareVersionsNotSemver pins the numeric-aware order of versions
// that are not semantic versions (issue 9, defect 5: GeneNetwork's
// gn2-v0.2.10-… sorted before gn2-v0.2.9-… as strings).
func TestCompareVersionsNotSemver(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"gn2-v0.2.10-cccc3333-20220125", "gn2-v0.2.9-bbbb2222-20220112", 1},
		{"gn2-v0.2.9-bbbb2222-20220112", "gn2-v0.2.10-cccc3333-20220125", -1},
		{"gn3-v0.0.12-794db6e2-20220113", "gn3-v0.0.12-794db6e2-20220113", 0},
		// One version tagged twice: the hash is skipped, the date decides.
		{"gn3-v0.0.12-ffff0000-20220113", "gn3-v0.0.12-0000aaaa-20220120", -1},
		{"gn3-v0.0.12-0000aaaa-20220120", "gn3-v0.0.12-ffff0000-20220113", 1},
		{"gn3-v0.0.12-794db6e2", "gn3-v0.0.12-aaaa1111", 0},
		// The version before the hash decides first.
		{"gn3-v0.0.13-0000aaaa-20220101", "gn3-v0.0.12-ffff0000-20991231", 1},
		// A hash only counts as a whole field: inside a longer field it is text
		// and numbers.
		{"build794db6e2", "build794db6e3", -1},
		// Too short, a word, or only digits: not a hash.
		{"r-abc12", "r-abc13", -1},
		{"r-deadbeef-2", "r-deadbeef-1", 1},
		{"r-12345678-1", "r-12345679-1", -1},
		// A hash made only of digits is a number, which sorts before a hash.
		{"r-12345678-9", "r-abc12345-1", -1},
		// Numbers by value, leading zeros ignored.
		{"2022.01.13", "2022.1.13", 0},
		{"2022.01.13", "2022.1.9", 1},
		{"1.2.3.10", "1.2.3.9", 1},
		{"release-99", "release-100", -1},
		// The end sorts first, then numbers, hashes, text.
		{"1.2", "1.2.1", -1},
		{"1.2-rc1", "1.2", 1},
		{"1.2-rc1", "1.2.1", -1}, // text byte by byte: "-" < "."
		{"1.2.3.4", "nightly", -1},
		{"nightly", "1.0.0", 1},
		{"a", "b", -1},
		{"", "0", -1},
		// Mixed: one side a semantic version, the other not.
		{"1.2.3", "1.2.3.1", -1},
		{"v1.2.10", "v1.2.9-x_y", 1},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestCompareVersionsSortsReleases sorts a release history as a user
// expects to read it.
func TestCompareVersionsSortsReleases(t *testing.T) {
	got := []string{
		"gn2-v0.2.10-cccc3333-20220125",
		"gn2-v0.2.9-bbbb2222-20220112",
		"gn2-v0.10.0-dddd4444-20220301",
		"gn2-v0.2.9-aaaa1111-20220110",
		"gn2-v0.2.1-eeee5555-20211201",
	}
	slices.SortStableFunc(got, CompareVersions)
	want := []string{
		"gn2-v0.2.1-eeee5555-20211201",
		"gn2-v0.2.9-aaaa1111-20220110",
		"gn2-v0.2.9-bbbb2222-20220112",
		"gn2-v0.2.10-cccc3333-20220125",
		"gn2-v0.10.0-dddd4444-20220301",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sorted (-want +got):\n%s", diff)
	}
}

func TestTagPattern(t *testing.T) {
	tests := []struct {
		pattern, tag string
		want         string
		ok           bool
	}{
		{`gn3-v([0-9]+\.[0-9]+\.[0-9]+)-[0-9a-f]+-[0-9]{8}`, "gn3-v0.0.12-794db6e2-20220113", "0.0.12", true},
		{`gn3-v([0-9]+\.[0-9]+\.[0-9]+)-[0-9a-f]+-[0-9]{8}`, "gn2-v0.0.12-794db6e2-20220113", "", false},
		// Anchored at both ends: no match inside a longer tag.
		{`gn3-v([0-9]+\.[0-9]+\.[0-9]+)-[0-9a-f]+-[0-9]{8}`, "x-gn3-v0.0.12-794db6e2-20220113", "", false},
		{`gn3-v([0-9]+\.[0-9]+\.[0-9]+)-[0-9a-f]+-[0-9]{8}`, "gn3-v0.0.12-794db6e2-20220113-rc", "", false},
		// The group named version wins over the first group.
		{`(gn[0-9])-v(?P<version>[0-9.]+)-rel`, "gn3-v1.2.3-rel", "1.2.3", true},
		// No group: the whole tag.
		{`[0-9]{8}`, "20220113", "20220113", true},
		// An empty or absent version group is no release.
		{`v([0-9.]*)-rel`, "v-rel", "", false},
		{`v(?:([0-9.]+)|next)-rel`, "vnext-rel", "", false},
		// tsd-import: vX.Y.Z-rel.
		{`(v[0-9]+\.[0-9]+\.[0-9]+)-rel`, "v1.0.3-rel", "v1.0.3", true},
	}
	for _, tt := range tests {
		p, err := CompileTagPattern(tt.pattern)
		if err != nil {
			t.Fatalf("CompileTagPattern(%q): %v", tt.pattern, err)
		}
		got, ok := p.Version(tt.tag)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%q.Version(%q) = %q, %v; want %q, %v", tt.pattern, tt.tag, got, ok, tt.want, tt.ok)
		}
	}
	if _, err := CompileTagPattern(`v([0-9]+`); err == nil {
		t.Errorf("CompileTagPattern accepted an unclosed group")
	}
}

// FuzzCompareVersions checks that the order is an order: reflexive,
// antisymmetric and transitive, whatever the strings.
func FuzzCompareVersions(f *testing.F) {
	f.Add("gn2-v0.2.10-cccc3333-20220125", "gn2-v0.2.9-bbbb2222-20220112", "gn2-v0.2.9-aaaa1111-20220130")
	f.Add("1.2", "1.2.1", "1.2-rc1")
	f.Add("r-12345678-9", "r-abc12345-1", "r-5-3")
	f.Add("007", "7", "07a")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		// Mixed sets are compared pair by pair (see CompareVersions):
		// check the numeric-aware order on its own, and the whole
		// comparator only where it is one of its two orders.
		orders := map[string]func(x, y string) int{"natural": compareNatural}
		_, ea := ParseVersion(a)
		_, eb := ParseVersion(b)
		_, ec := ParseVersion(c)
		if (ea == nil) == (eb == nil) && (eb == nil) == (ec == nil) {
			orders["CompareVersions"] = CompareVersions
		}
		for name, cmp := range orders {
			if cmp(a, a) != 0 {
				t.Fatalf("%s(%q, itself) != 0", name, a)
			}
			if ab, ba := cmp(a, b), cmp(b, a); ab != -ba {
				t.Fatalf("%s(%q, %q) = %d but reversed %d", name, a, b, ab, ba)
			}
			if cmp(a, b) <= 0 && cmp(b, c) <= 0 && cmp(a, c) > 0 {
				t.Fatalf("%s: %q <= %q <= %q but %q > %q", name, a, b, c, a, c)
			}
		}
	})
}
