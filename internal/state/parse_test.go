package state

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30d", 30 * 24 * time.Hour, false},
		{"2w", 14 * 24 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"500ms", 500 * time.Millisecond, false},
		{"1d12h", 36 * time.Hour, false},
		{"0s", 0, false},
		{"", 0, true},
		{"3 days", 0, true},
		{"1y", 0, true},
		{"h", 0, true},
		{"-1h", 0, true},
		{"99999999999w", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	if got := FormatDuration(36*time.Hour + 90*time.Second); got != "1d12h1m30s" {
		t.Errorf("FormatDuration = %q", got)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.4.0", "1.3.9", 1},
		{"v1.4.0", "1.4.0", 0},
		{"1.4.0-rc.1", "1.4.0", -1},
		{"1.10.0", "1.9.0", 1},
		{"nightly", "1.0.0", 1},
		{"a", "b", -1},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	for _, bad := range []string{"1.4", "1.x", "", "01.2.3"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

func TestWindow(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	// Monday 2026-11-23.
	mon := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, oslo) }
	office, err := ParseWindow(Window{Days: []string{"mon", "fri"}, Hours: "09:00-17:00", TimeZone: "Europe/Oslo"})
	if err != nil {
		t.Fatal(err)
	}
	night, err := ParseWindow(Window{Days: []string{"sun"}, Hours: "22:00-02:00", TimeZone: "Europe/Oslo"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		w    DeployWindow
		at   time.Time
		want bool
	}{
		{office, mon(9, 0), true},
		{office, mon(16, 59), true},
		{office, mon(17, 0), false},
		{office, mon(8, 59), false},
		{office, mon(12, 0).Add(24 * time.Hour), false}, // tuesday
		{night, mon(1, 30), true},                       // sunday's window, after midnight
		{night, mon(2, 0), false},
		{night, mon(23, 0), false}, // monday night is not in it
	}
	for i, tt := range tests {
		if got := tt.w.Contains(tt.at); got != tt.want {
			t.Errorf("%d: Contains(%v) = %v, want %v", i, tt.at, got, tt.want)
		}
	}
	next, ok := office.NextOpen(mon(17, 30))
	if want := time.Date(2026, 11, 27, 9, 0, 0, 0, oslo); !ok || !next.Equal(want) {
		t.Errorf("NextOpen = %v, %v; want %v", next, ok, want)
	}
	for _, bad := range []Window{
		{Hours: "9-17"}, {Hours: "09:00-09:00"}, {Hours: "09:00-25:00"}, {Hours: "09:00-17:00", TimeZone: "Mars/Base"},
		{Hours: "09:00-17:00", TimeZone: "Local"}, {Days: []string{"monday"}, Hours: "09:00-17:00"},
	} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%+v) accepted", bad)
		}
	}
}
