package state

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones must resolve on machines without tzdata
)

// DeployWindow is a parsed Window: the days and the minutes of the day
// (in Location) when changes may be applied. End may be before Start for a
// window that crosses midnight; it then belongs to the day it starts on.
type DeployWindow struct {
	Days       [7]bool // indexed by time.Weekday
	Start, End int     // minutes after midnight
	Location   *time.Location
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindow checks a Window and returns its parsed form.
func ParseWindow(w Window) (DeployWindow, error) {
	var d DeployWindow
	for _, day := range w.Days {
		wd, ok := weekdays[day]
		if !ok {
			return d, fmt.Errorf("unknown day %q (use mon, tue, wed, thu, fri, sat, sun)", day)
		}
		d.Days[wd] = true
	}
	from, to, ok := strings.Cut(w.Hours, "-")
	if !ok {
		return d, fmt.Errorf("hours %q must be HH:MM-HH:MM", w.Hours)
	}
	var err error
	if d.Start, err = parseClock(from); err != nil {
		return d, fmt.Errorf("hours %q: %w", w.Hours, err)
	}
	if d.End, err = parseClock(to); err != nil {
		return d, fmt.Errorf("hours %q: %w", w.Hours, err)
	}
	if d.Start == d.End {
		return d, fmt.Errorf("hours %q is an empty window", w.Hours)
	}
	tz := w.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	if tz == "Local" {
		return d, fmt.Errorf("time zone %q depends on the machine: name a zone such as Europe/Oslo", tz)
	}
	if d.Location, err = time.LoadLocation(tz); err != nil {
		return d, fmt.Errorf("unknown time zone %q", tz)
	}
	return d, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return hh*60 + mm, nil
}

// Contains reports whether t falls inside the window.
func (d DeployWindow) Contains(t time.Time) bool {
	t = t.In(d.Location)
	min := t.Hour()*60 + t.Minute()
	if d.Start < d.End {
		return d.Days[t.Weekday()] && min >= d.Start && min < d.End
	}
	// Crosses midnight: the evening part belongs to today, the morning
	// part to yesterday's window.
	if min >= d.Start {
		return d.Days[t.Weekday()]
	}
	return min < d.End && d.Days[(t.Weekday()+6)%7]
}

// NextOpen returns the first time at or after t when the window is open,
// searching minute by minute boundaries over the next eight days.
func (d DeployWindow) NextOpen(t time.Time) (time.Time, bool) {
	if d.Contains(t) {
		return t, true
	}
	t = t.In(d.Location).Truncate(time.Minute).Add(time.Minute)
	for i := 0; i < 8*24*60; i++ {
		if d.Contains(t) {
			return t, true
		}
		t = t.Add(time.Minute)
	}
	return time.Time{}, false
}
