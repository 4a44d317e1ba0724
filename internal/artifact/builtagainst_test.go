package artifact

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testMixLock = `%{
  "antikythera": {:git, "https://github.com/access-company/antikythera.git", "6b1b2c3d4e5f60718293a4b5c6d7e8f901234567", [tag: "1.2.0"]},
  "croma": {:hex, :croma, "0.11.3", "0ac1d8d4c2b8a4f6e6d2e0f0c7b6a5f4e3d2c1b0", [:mix], [], "hexpm", "f0e1d2c3"},
  "gear_lib": {:git, "https://example.com/gear_lib.git", "a1b2c3d4e5f6", []},
}
`

const testGoMod = `module example.com/gear

go 1.24

require (
	github.com/access-company/antikythera/v2 v2.3.1
	golang.org/x/text v0.21.0 // indirect
)

require github.com/other/fw v0.4.0
`

const testPackageLockV3 = `{"name": "gear", "lockfileVersion": 3, "packages": {
  "": {"name": "gear", "dependencies": {"antikythera": "^1.0.0"}},
  "node_modules/antikythera": {"version": "1.4.0"},
  "node_modules/left-pad": {"version": "1.3.0"}}}`

const testPackageLockV1 = `{"name": "gear", "lockfileVersion": 1, "dependencies": {"antikythera": {"version": "1.1.0"}}}`

func TestParseBuiltAgainst(t *testing.T) {
	for _, tt := range []struct {
		name, file, content, pattern string
		frameworks                   []string
		want                         map[string]string
		err                          string
	}{
		{"mix.lock git tag", "mix.lock", testMixLock, "", []string{"antikythera"}, map[string]string{"antikythera": "1.2.0"}, ""},
		{"mix.lock hex", "mix.lock", testMixLock, "", []string{"croma"}, map[string]string{"croma": "0.11.3"}, ""},
		{"mix.lock git commit", "mix.lock", testMixLock, "", []string{"gear_lib"}, map[string]string{"gear_lib": "a1b2c3d4e5f6"}, ""},
		{"mix.lock absent", "mix.lock", testMixLock, "", []string{"phoenix"}, map[string]string{}, ""},
		{"go.mod major suffix", "go.mod", testGoMod, "", []string{"antikythera"}, map[string]string{"antikythera": "v2.3.1"}, ""},
		{"go.mod require line", "app/go.mod", testGoMod, "", []string{"fw", "text"}, map[string]string{"fw": "v0.4.0", "text": "v0.21.0"}, ""},
		{"go.mod not the module", "go.mod", testGoMod, "", []string{"gear"}, map[string]string{}, ""},
		{"package-lock v3", "package-lock.json", testPackageLockV3, "", []string{"antikythera", "left-pad"}, map[string]string{"antikythera": "1.4.0", "left-pad": "1.3.0"}, ""},
		{"package-lock v1", "package-lock.json", testPackageLockV1, "", []string{"antikythera"}, map[string]string{"antikythera": "1.1.0"}, ""},
		{"package-lock broken", "package-lock.json", `{"packages": [`, "", []string{"antikythera"}, nil, "package-lock.json: "},
		{"pattern named group", "BUILD_INFO", "framework antikythera=1.5.0\nframework other=2\n", `{framework}=(?P<version>[0-9.]+)`, []string{"antikythera"}, map[string]string{"antikythera": "1.5.0"}, ""},
		{"pattern first group", "BUILD_INFO", "built with fw.x 3.1\n", `{framework} ([0-9.]+)`, []string{"fw.x"}, map[string]string{"fw.x": "3.1"}, ""},
		{"pattern quotes the name", "BUILD_INFO", "fwax 9\n", `{framework} ([0-9.]+)`, []string{"fw.x"}, map[string]string{}, ""},
		{"pattern overrides preset", "mix.lock", `"antikythera" pinned 7.0.0`, `"{framework}" pinned ([0-9.]+)`, []string{"antikythera"}, map[string]string{"antikythera": "7.0.0"}, ""},
		{"unknown file", "BUILD_INFO", "x", "", []string{"antikythera"}, nil, "has no known format"},
		{"bad pattern", "BUILD_INFO", "x", "(", []string{"antikythera"}, nil, "builtAgainst.pattern: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBuiltAgainst(tt.file, []byte(tt.content), tt.pattern, tt.frameworks)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

// TestBuiltAgainstFile reads the file from an unpacked artifact, and
// refuses a path that leaves it or a file that is not there.
func TestBuiltAgainstFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "gear"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gear", "mix.lock"), []byte(testMixLock), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := BuiltAgainst(dir, BuiltAgainstSpec{File: "gear/mix.lock"}, []string{"antikythera"})
	if err != nil || got["antikythera"] != "1.2.0" {
		t.Errorf("BuiltAgainst = %v, %v; want antikythera 1.2.0", got, err)
	}
	for _, tt := range []struct{ file, err string }{
		{"mix.lock", "the artifact has no mix.lock"},
		{"../mix.lock", "is not a path inside the artifact"},
		{"/etc/passwd", "is not a path inside the artifact"},
		{"", "is not a path inside the artifact"},
	} {
		if _, err := BuiltAgainst(dir, BuiltAgainstSpec{File: tt.file}, []string{"antikythera"}); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("BuiltAgainst(%q): %v, want %q", tt.file, err, tt.err)
		}
	}
	// A link out of the artifact (which unpacking never makes) is not
	// followed either.
	if err := os.Symlink("/etc", filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if _, err := BuiltAgainst(dir, BuiltAgainstSpec{File: "out/hostname", Pattern: "(.*)"}, []string{"x"}); err == nil {
		t.Error("BuiltAgainst followed a link out of the artifact")
	}
}

// FuzzParseBuiltAgainst: the lock files come from artifacts, untrusted;
// no input makes the parsers panic, and a found version is never empty.
func FuzzParseBuiltAgainst(f *testing.F) {
	for _, c := range []struct{ file, content string }{
		{"mix.lock", testMixLock}, {"go.mod", testGoMod}, {"package-lock.json", testPackageLockV3}, {"package-lock.json", testPackageLockV1},
	} {
		f.Add(c.file, c.content, "antikythera")
	}
	f.Fuzz(func(t *testing.T, file, content, fw string) {
		if fw == "" {
			return
		}
		got, _ := ParseBuiltAgainst(file, []byte(content), "", []string{fw})
		for k, v := range got {
			if v == "" {
				t.Errorf("framework %q found with an empty version", k)
			}
		}
	})
}

// BenchmarkParseBuiltAgainst reads antikythera from a gear's mix.lock of
// 300 dependencies (the file apply reads before each deploy), and from a
// package-lock.json of 2,000 packages.
func BenchmarkParseBuiltAgainst(b *testing.B) {
	var mix strings.Builder
	mix.WriteString("%{\n")
	for i := range 300 {
		fmt.Fprintf(&mix, "  \"dep%03d\": {:hex, :dep%03d, \"1.%d.0\", \"0ac1d8d4c2b8a4f6e6d2e0f0c7b6a5f4e3d2c1b0\", [:mix], [], \"hexpm\", \"f0e1d2c3\"},\n", i, i, i)
	}
	mix.WriteString("  \"antikythera\": {:git, \"https://github.com/access-company/antikythera.git\", \"6b1b2c3d\", [tag: \"1.2.0\"]},\n}\n")
	var npm strings.Builder
	npm.WriteString(`{"lockfileVersion": 3, "packages": {"": {"name": "gear"}`)
	for i := range 2000 {
		fmt.Fprintf(&npm, `, "node_modules/dep%04d": {"version": "1.%d.0", "resolved": "https://registry.invalid/dep%04d.tgz"}`, i, i, i)
	}
	npm.WriteString(`, "node_modules/antikythera": {"version": "1.2.0"}}}`)
	for _, c := range []struct{ file, content string }{{"mix.lock", mix.String()}, {"package-lock.json", npm.String()}} {
		b.Run(c.file, func(b *testing.B) {
			b.SetBytes(int64(len(c.content)))
			for b.Loop() {
				got, err := ParseBuiltAgainst(c.file, []byte(c.content), "", []string{"antikythera"})
				if err != nil || got["antikythera"] != "1.2.0" {
					b.Fatalf("%v, %v", got, err)
				}
			}
		})
	}
}
