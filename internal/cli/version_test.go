package cli

import (
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestVersionOf checks where each field of `gearshift version` comes from:
// the ldflags version wins, then the module version go install stamps;
// the commit, its time and a dirty tree come from the vcs settings.
func TestVersionOf(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-11-30T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := []struct {
		name     string
		ld       string
		bi       *debug.BuildInfo
		want     versionInfo
		wantLine string
	}{
		{
			name:     "no build info",
			ld:       "dev",
			want:     versionInfo{FormatVersion: "1", Version: "dev"},
			wantLine: "dev",
		},
		{
			name:     "go build in a checkout",
			ld:       "dev",
			bi:       &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			want:     versionInfo{FormatVersion: "1", Version: "dev", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-11-30T10:00:00Z", Modified: true, GoVersion: "go1.26.8"},
			wantLine: "dev (commit 0123456789ab of 2026-11-30T10:00:00Z, with uncommitted changes)",
		},
		{
			name:     "go install module@version",
			ld:       "dev",
			bi:       &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}},
			want:     versionInfo{FormatVersion: "1", Version: "v1.4.0", GoVersion: "go1.26.8"},
			wantLine: "v1.4.0",
		},
		{
			name:     "the ldflags version wins",
			ld:       "v1.5.0",
			bi:       &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261130100000-0123456789ab"}, Settings: vcs[:3]},
			want:     versionInfo{FormatVersion: "1", Version: "v1.5.0", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-11-30T10:00:00Z", GoVersion: "go1.26.8"},
			wantLine: "v1.5.0 (commit 0123456789ab of 2026-11-30T10:00:00Z)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := versionOf(tt.ld, tt.bi)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("versionOf (-want +got):\n%s", d)
			}
			if line := got.String(); line != tt.wantLine {
				t.Errorf("String() = %q, want %q", line, tt.wantLine)
			}
		})
	}
}
