package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3";
// when it is, it wins over the module version of the build info.
var Version = "dev"

// versionInfo is what `gearshift version` says: the release, and the
// commit the binary was built from as the go command stamped it.
type versionInfo struct {
	FormatVersion string `json:"format_version"`
	Version       string `json:"version"`
	// Commit is vcs.revision; empty when the build had no VCS stamp
	// (go test, go run, -buildvcs=false).
	Commit string `json:"commit"`
	// Date is vcs.time, the commit's time (RFC 3339).
	Date string `json:"date"`
	// Modified: the work tree had uncommitted changes (vcs.modified).
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// buildVersion reads this binary's build info.
func buildVersion() versionInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionOf(Version, bi)
}

// versionOf is the version of a binary with the ldflags version ldVersion
// and build info bi (nil when there is none).
func versionOf(ldVersion string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{FormatVersion: "1", Version: ldVersion}
	if bi == nil {
		return v
	}
	v.GoVersion = bi.GoVersion
	if (v.Version == "" || v.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		// go install module@version stamps the module version.
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.Date = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	return v
}

// String is the one line of --version and `gearshift version`.
func (v versionInfo) String() string {
	var b strings.Builder
	b.WriteString(v.Version)
	if v.Commit == "" {
		return b.String()
	}
	commit := v.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	fmt.Fprintf(&b, " (commit %s", commit)
	if v.Date != "" {
		fmt.Fprintf(&b, " of %s", v.Date)
	}
	if v.Modified {
		b.WriteString(", with uncommitted changes")
	}
	b.WriteString(")")
	return b.String()
}

func versionCmd() *command {
	return &command{
		name:    "version",
		usage:   "version",
		summary: "Print gearshift's version, the commit it was built from and that commit's date.",
		example: "  gearshift version\n  gearshift version -o json\n  gearshift --version",
		noState: true,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected arguments %q", args)
			}
			v := buildVersion()
			if e.output == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			fmt.Fprintln(e.stdout, "gearshift", v)
			return nil
		},
	}
}
