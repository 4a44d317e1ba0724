package state

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// ParseVersion parses a semantic version, with or without a leading "v":
// "1.4.0", "v2.0.0-rc.1". Partial versions such as "1.4" are refused, so
// that ordering is never a guess.
func ParseVersion(s string) (*semver.Version, error) {
	v, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v"))
	if err != nil {
		return nil, fmt.Errorf("%q is not a semantic version (MAJOR.MINOR.PATCH): %w", s, err)
	}
	return v, nil
}

// CompareVersions orders two versions: semantic versions by precedence,
// anything else as strings after them. It reports -1, 0 or +1.
func CompareVersions(a, b string) int {
	va, ea := ParseVersion(a)
	vb, eb := ParseVersion(b)
	switch {
	case ea == nil && eb == nil:
		return va.Compare(vb)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}
