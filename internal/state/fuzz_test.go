package state

import (
	"context"
	"github.com/gearshift-dev/gearshift/internal/state/statetest"
	"strings"
	"testing"
	"time"
)

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "1h30m", "500ms", "2w", "0s", "", "3 days", "99999999999999999999h", "1d-1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 || d > maxDuration {
			t.Fatalf("ParseDuration(%q) = %v: out of range", s, d)
		}
		// Formatting and parsing again gives the same duration.
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.2.3", "v1.2.3", "1.2", "1.2.3-rc.1+build", "01.2.3", "", "v", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		if CompareVersions(s, v.String()) != 0 {
			t.Fatalf("%q parses to %s, which compares unequal", s, v)
		}
		if CompareVersions(s, s) != 0 {
			t.Fatalf("%q is not equal to itself", s)
		}
	})
}

func FuzzParseWindow(f *testing.F) {
	f.Add("mon,tue", "09:00-17:00", "Europe/Oslo", int64(0))
	f.Add("sun", "22:00-02:00", "UTC", int64(1e9))
	f.Add("", "24:00-00:00", "Local", int64(-5))
	f.Fuzz(func(t *testing.T, days, hours, tz string, unix int64) {
		w := Window{Hours: hours, TimeZone: tz}
		if days != "" {
			w.Days = strings.Split(days, ",")
		}
		dw, err := ParseWindow(w)
		if err != nil {
			return
		}
		now := time.Unix(unix%(1<<40), 0)
		next, ok := dw.NextOpen(now)
		if ok && (!dw.Contains(next) || next.Before(now.Truncate(time.Minute))) {
			t.Fatalf("NextOpen(%v) = %v, which is not open or is in the past", now, next)
		}
	})
}

// FuzzLoad feeds arbitrary text as a unit file: loading never panics, and
// every mistake it reports names a file.
func FuzzLoad(f *testing.F) {
	f.Add(`units: a: {kind: "gear", version: "1.0.0", target: "t"}`)
	f.Add(`units: a: {kind: "gaer", version: "1.0.0", target: "t", dependsOn: ["a"]}`)
	f.Add(`units: a: {kind: "gear", version: "1.0.0", target: "t", dependsOn: ["b"]}
units: b: {kind: "gear", version: "1.0.0", target: "t", dependsOn: ["a"]}`)
	f.Add(`units: a: waivers: [{rule: "max-age", until: "2020-01-01", reason: ""}]`)
	f.Add(`environment: policies: windows: [{hours: "9-5"}]`)
	f.Add("units: {{{")
	dir := f.TempDir()
	writeTree(f, dir, nil)
	f.Fuzz(func(t *testing.T, src string) {
		if err := statetest.WriteFiles(dir, map[string]string{"environments/dev/units.cue": "package gearshift\n\n" + src + "\n"}); err != nil {
			t.Fatal(err)
		}
		// In this process: the fuzzer sees a panic where it happens, and
		// runs far more inputs than a process each would allow.
		_, err := Load(context.Background(), dir, nil, Options{InProcess: true})
		if err == nil {
			return
		}
		ds, ok := err.(Diagnostics)
		if !ok {
			t.Fatalf("Load returned %T, want Diagnostics: %v", err, err)
		}
		for _, d := range ds {
			if d.Pos.File == "" {
				t.Fatalf("diagnostic without a file: %v", d)
			}
		}
	})
}
