package state

import (
	"fmt"
	"regexp"
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

// CompareVersions is gearshift's one order of versions: the latest-framework
// rule, promote's "never backwards", bump's choice of the newest tag and
// every other comparison of two versions call it. It reports -1, 0 or +1.
//
// When both are semantic versions (ParseVersion), it is semver precedence:
// 1.10.0 > 1.9.0, 2.0.0-rc.1 < 2.0.0, "v1.4.0" = "1.4.0", build metadata
// ignored.
//
// Otherwise it is a numeric-aware order, as dpkg and rpm compare versions
// and file managers sort names ("natural order"). Each string is cut into
// tokens: runs of digits (numbers), runs of letters and runs of other
// characters (both text), and commit hashes. The tokens are compared in
// turn and the first difference decides:
//
//   - numbers by value, so gn2-v0.2.10-… > gn2-v0.2.9-… and 007 = 7;
//   - text byte by byte;
//   - a commit hash is a whole field (letters and digits between
//     punctuation) of 7 to 64 lowercase hexadecimal characters with at
//     least one digit and one letter, like 794db6e2. A hash says where a
//     release was built, not when: all hashes compare equal, so in
//     gn3-v0.0.12-794db6e2-20220113 the date after the hash decides
//     between two tags of one version. A hash made only of digits cannot
//     be told from a number and is compared as one;
//   - tokens of different kinds: the end of the string first, then a
//     number, a hash, text. So 1.2 < 1.2.1 and 1.2 < 1.2-rc1 (unlike
//     semver, a suffix is not a prerelease), and every version that
//     starts with a digit sorts before "nightly".
//
// Both orders are total on their own. A set that mixes semantic versions
// with other strings is compared pair by pair; a unit's versions have one
// shape, which track.tagPattern and policies.versionPattern can enforce.
func CompareVersions(a, b string) int {
	if a == b {
		return 0
	}
	va, ea := ParseVersion(a)
	vb, eb := ParseVersion(b)
	if ea == nil && eb == nil {
		return va.Compare(vb)
	}
	return compareNatural(a, b)
}

// Token kinds of the numeric-aware order, in the order they sort.
const (
	tokEnd = iota
	tokNumber
	tokHash
	tokText
)

// compareNatural is the numeric-aware order of CompareVersions.
func compareNatural(a, b string) int {
	fa, fb := true, true // at the start of a field
	for {
		ka, ta, ra, nfa := nextToken(a, fa)
		kb, tb, rb, nfb := nextToken(b, fb)
		if ka != kb {
			if ka < kb {
				return -1
			}
			return 1
		}
		switch ka {
		case tokEnd:
			return 0
		case tokNumber:
			ta, tb = strings.TrimLeft(ta, "0"), strings.TrimLeft(tb, "0")
			if len(ta) != len(tb) {
				if len(ta) < len(tb) {
					return -1
				}
				return 1
			}
			if c := strings.Compare(ta, tb); c != 0 {
				return c
			}
		case tokText:
			if c := strings.Compare(ta, tb); c != 0 {
				return c
			}
		}
		a, b, fa, fb = ra, rb, nfa, nfb
	}
}

// nextToken cuts the first token off s. fieldStart says whether s starts a
// field (a run of letters and digits), where a hash may start; next says
// whether the rest does.
func nextToken(s string, fieldStart bool) (kind int, tok, rest string, next bool) {
	if s == "" {
		return tokEnd, "", "", true
	}
	if fieldStart && alnum(s[0]) {
		n := 0
		for n < len(s) && alnum(s[n]) {
			n++
		}
		if isHash(s[:n]) {
			return tokHash, s[:n], s[n:], true
		}
	}
	class := charClass(s[0])
	n := 1
	for n < len(s) && charClass(s[n]) == class {
		n++
	}
	if class == classDigit {
		return tokNumber, s[:n], s[n:], false
	}
	return tokText, s[:n], s[n:], class == classOther
}

const (
	classDigit = iota
	classLetter
	classOther
)

func charClass(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return classDigit
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return classLetter
	}
	return classOther
}

func alnum(c byte) bool { return charClass(c) != classOther }

// isHash reports whether a field looks like an abbreviated or full commit
// hash (see CompareVersions).
func isHash(f string) bool {
	if len(f) < 7 || len(f) > 64 {
		return false
	}
	digit, letter := false, false
	for i := 0; i < len(f); i++ {
		switch c := f[i]; {
		case '0' <= c && c <= '9':
			digit = true
		case 'a' <= c && c <= 'f':
			letter = true
		default:
			return false
		}
	}
	return digit && letter
}

// TagPattern is a compiled track.tagPattern: which tags are a unit's
// releases, and which part of one orders them. A tag (after track.tagPrefix
// is removed) is a release when the pattern matches it as a whole; the
// part that orders releases, and that track.level reads, is the named
// group "version", else the first group, else the whole tag. For
// GeneNetwork's gn3-v0.0.12-794db6e2-20220113:
//
//	tagPattern: "gn3-v([0-9]+\\.[0-9]+\\.[0-9]+)-[0-9a-f]+-[0-9]{8}"
//
// orders by 0.0.12 and writes the whole tag as the unit's version.
type TagPattern struct {
	re    *regexp.Regexp
	src   string
	group int
}

// CompileTagPattern compiles a track.tagPattern, anchored at both ends.
func CompileTagPattern(pattern string) (*TagPattern, error) {
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, err
	}
	group := 0
	if i := re.SubexpIndex("version"); i > 0 {
		group = i
	} else if re.NumSubexp() > 0 {
		group = 1
	}
	return &TagPattern{re: re, src: pattern, group: group}, nil
}

// Version returns the part of s that orders it; ok is false when the
// pattern does not match s as a whole or its version group is empty.
func (p *TagPattern) Version(s string) (version string, ok bool) {
	m := p.re.FindStringSubmatchIndex(s)
	if m == nil || m[2*p.group] < 0 || m[2*p.group] == m[2*p.group+1] {
		return "", false
	}
	return s[m[2*p.group]:m[2*p.group+1]], true
}

// String returns the pattern as the user wrote it.
func (p *TagPattern) String() string { return p.src }
