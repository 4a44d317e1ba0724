package artifact

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
)

// MaxBuiltAgainstBytes bounds the file an artifact records its framework
// versions in (a lock file): it is read whole.
const MaxBuiltAgainstBytes = 16 << 20

// Presets are the lock files whose format is known: a built-against file
// with one of these names needs no pattern.
var Presets = []string{"mix.lock", "go.mod", "package-lock.json"}

// Preset is the preset for file (its base name), "" when it has none.
func Preset(file string) string {
	base := path.Base(file)
	for _, p := range Presets {
		if base == p {
			return p
		}
	}
	return ""
}

// BuiltAgainstSpec says where an unpacked artifact records what it was
// built against.
type BuiltAgainstSpec struct {
	// File is a slash-separated path inside the artifact.
	File string
	// Pattern is a regular expression whose group named "version" (else
	// its first group, else the whole match) is a framework's version;
	// {framework} is replaced by the framework's name, quoted. Empty: the
	// preset of File's name.
	Pattern string
}

// BuiltAgainst reads from the unpacked artifact in dir the version of each
// of frameworks that spec's file records. A framework the file does not
// mention is absent from the result. The file is read through an os.Root
// of dir: a path that leaves the artifact is refused.
func BuiltAgainst(dir string, spec BuiltAgainstSpec, frameworks []string) (map[string]string, error) {
	name := path.Clean(spec.File)
	if spec.File == "" || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
		return nil, fmt.Errorf("built-against file %q is not a path inside the artifact", spec.File)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the artifact has no %s", name)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s in the artifact: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxBuiltAgainstBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s in the artifact: %w", name, err)
	}
	if len(b) > MaxBuiltAgainstBytes {
		return nil, fmt.Errorf("%s in the artifact is larger than %d bytes", name, MaxBuiltAgainstBytes)
	}
	return ParseBuiltAgainst(name, b, spec.Pattern, frameworks)
}

// ParseBuiltAgainst reads the versions of frameworks from the content of
// file, by pattern or by the preset of file's name.
func ParseBuiltAgainst(file string, content []byte, pattern string, frameworks []string) (map[string]string, error) {
	found := map[string]string{}
	for _, fw := range frameworks {
		var v string
		var err error
		switch p := Preset(file); {
		case pattern != "":
			v, err = byPattern(content, pattern, fw)
		case p == "mix.lock":
			v = mixLock(content, fw)
		case p == "go.mod":
			v = goMod(content, fw)
		case p == "package-lock.json":
			v, err = packageLock(content, fw)
		default:
			err = fmt.Errorf("%s has no known format (%s): give builtAgainst.pattern", file, strings.Join(Presets, ", "))
		}
		if err != nil {
			return nil, err
		}
		if v != "" {
			found[fw] = v
		}
	}
	return found, nil
}

func byPattern(content []byte, pattern, fw string) (string, error) {
	re, err := regexp.Compile(strings.ReplaceAll(pattern, "{framework}", regexp.QuoteMeta(fw)))
	if err != nil {
		return "", fmt.Errorf("builtAgainst.pattern: %w", err)
	}
	m := re.FindSubmatch(content)
	if m == nil {
		return "", nil
	}
	if i := re.SubexpIndex("version"); i > 0 {
		return string(m[i]), nil
	}
	if len(m) > 1 {
		return string(m[1]), nil
	}
	return string(m[0]), nil
}

// mixLock reads an Elixir mix.lock entry:
//
//	"antikythera": {:git, "https://github.com/access-company/antikythera.git", "0123abc...", [tag: "1.2.0"]},
//	"jason": {:hex, :jason, "1.4.1", "<checksum>", [:mix], [], "hexpm", "<checksum>"},
//
// A hex package's version; a git dependency's tag, else its ref or
// branch option, else the locked commit.
func mixLock(content []byte, fw string) string {
	q := regexp.QuoteMeta(fw)
	hex, err := regexp.Compile(`(?m)^\s*"` + q + `":\s*\{:hex,\s*:[A-Za-z0-9_]+,\s*"([^"]+)"`)
	if err != nil {
		return "" // a name no lock file can hold (not UTF-8)
	}
	if m := hex.FindSubmatch(content); m != nil {
		return string(m[1])
	}
	git := regexp.MustCompile(`(?m)^\s*"` + q + `":\s*\{:git,\s*"[^"]*",\s*"([0-9a-f]+)",\s*\[([^\]]*)\]`)
	m := git.FindSubmatch(content)
	if m == nil {
		return ""
	}
	for _, opt := range []string{"tag", "ref"} {
		if o := regexp.MustCompile(`\b` + opt + `:\s*"([^"]+)"`).FindSubmatch(m[2]); o != nil {
			return string(o[1])
		}
	}
	return string(m[1])
}

// goMod reads the required version of the module whose path is fw or ends
// in /fw (a major version suffix /vN is allowed), in a require line or
// block; a replace is not followed.
func goMod(content []byte, fw string) string {
	q := regexp.QuoteMeta(fw)
	re, err := regexp.Compile(`(?m)^\s*(?:require\s+)?(?:\S+/)?` + q + `(?:/v[0-9]+)?\s+(v[0-9][^\s/]*)`)
	if err != nil {
		return "" // a name no go.mod can hold (not UTF-8)
	}
	if m := re.FindSubmatch(content); m != nil {
		return string(m[1])
	}
	return ""
}

// packageLock reads npm's package-lock.json: packages["node_modules/fw"]
// (lockfile versions 2 and 3), else dependencies[fw] (version 1).
func packageLock(content []byte, fw string) (string, error) {
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
		Dependencies map[string]struct {
			Version string `json:"version"`
		} `json:"dependencies"`
	}
	if err := json.Unmarshal(content, &lock); err != nil {
		return "", fmt.Errorf("package-lock.json: %w", err)
	}
	if p, ok := lock.Packages["node_modules/"+fw]; ok && p.Version != "" {
		return p.Version, nil
	}
	return lock.Dependencies[fw].Version, nil
}
