package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestBoundedAgrees: the demo state decoded by the child process and sent
// back as JSON is the state evaluated in this process, positions included.
func TestBoundedAgrees(t *testing.T) {
	opts := Options{Now: func() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) }}
	bounded, err := Load(context.Background(), "../..", nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.InProcess = true
	inProcess, err := Load(context.Background(), "../..", nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	// JSON does not tell an empty map from a missing one.
	if diff := cmp.Diff(inProcess, bounded, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("bounded load differs from in-process load (-in-process +bounded):\n%s", diff)
	}
	if p := bounded.Environments["prod"].Units["portal"].Pos.Of("version"); p.Line == 0 {
		t.Errorf("portal's version has no position after the child: %v", p)
	}
}

// TestBounds: a state that exceeds the memory or the time bound is a
// diagnostic naming the environment. Unbounded, the first takes more than
// 9 GB and the second more than ten minutes, and the test fails at go
// test's deadline.
func TestBounds(t *testing.T) {
	var doubling strings.Builder
	doubling.WriteString("package gearshift\n\na0: \"xx\"\n")
	for i := 1; i <= 30; i++ {
		doubling.WriteString(fmt.Sprintf("a%d: a%d+a%d\n", i, i-1, i-1))
	}
	for _, tc := range []struct {
		name, src string
		limits    Limits
		want      string
	}{
		{"memory", doubling.String(), Limits{Memory: 256 << 20},
			"environments/dev: evaluation exceeded the memory bound of 256 MiB (--load-memory)"},
		{"time", "package gearshift\n\nimport \"list\"\n\nx: [for i in list.Range(0, 3000, 1) for j in list.Range(0, 3000, 1) {i * j}]\n",
			Limits{Memory: 512 << 20, Timeout: 3 * time.Second},
			"environments/dev: evaluation exceeded the time bound of 3s (--load-timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"environments/dev/bomb.cue": tc.src})
			_, err := Load(context.Background(), dir, nil, Options{Limits: tc.limits})
			var ds Diagnostics
			if !errors.As(err, &ds) {
				t.Fatalf("Load: %v, want Diagnostics", err)
			}
			if got := ds.Error(); got != tc.want {
				t.Errorf("Load: %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		str  string
	}{
		{"2GiB", 2 << 30, "2 GiB"},
		{"512MiB", 512 << 20, "512 MiB"},
		{"512 MB", 512 << 20, "512 MiB"},
		{"1048577", 1<<20 + 1, "1048577 B"},
		{"3k", 3 << 10, "3 KiB"},
	} {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("ParseByteSize(%q) = %d (%s), %v; want %d (%s)", tc.in, got, got, err, tc.want, tc.str)
		}
		if back, err := ParseByteSize(got.String()); err != nil || back != got {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", got.String(), back, err, got)
		}
	}
	for _, bad := range []string{"", "lots", "-1GiB", "0", "1.5GiB", "99999999999TiB"} {
		if got, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", bad, got)
		}
	}
}
