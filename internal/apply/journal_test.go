package apply

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadHistory(t *testing.T) {
	ctx := context.Background()
	d := LocalDir(t.TempDir())
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	lines := []Entry{
		// Run A: api deployed, web rolled back, db started and never ended.
		{Run: "A", Event: EventRunStart, Time: at(0)},
		{Run: "A", Event: EventActionStart, Unit: "api", Type: "deploy", From: "1", To: "2", Time: at(1)},
		{Run: "A", Event: EventActionEnd, Unit: "api", Type: "deploy", From: "1", To: "2", Result: "deployed", Time: at(2)},
		{Run: "A", Event: EventActionStart, Unit: "web", Type: "deploy", From: "1", To: "2", Time: at(3)},
		{Run: "A", Event: EventActionEnd, Unit: "web", Type: "deploy", From: "1", To: "2", Result: "rolled-back", Time: at(4)},
		{Run: "A", Event: EventActionStart, Unit: "db", Type: "deploy", From: "5", To: "6", Time: at(5)},
		// Run B resumed db, rolling it back, and was killed in the middle.
		{Run: "B", Event: EventRunStart, Time: at(10)},
		{Run: "B", Event: EventActionStart, Unit: "db", Type: "rollback", From: "6", To: "5", Time: at(11)},
		// Run C: a manual rollback of api from 2.
		{Run: "C", Event: EventActionStart, Unit: "api", Type: "rollback", From: "2", To: "1", Time: at(20)},
		{Run: "C", Event: EventActionEnd, Unit: "api", Type: "rollback", From: "2", To: "1", Result: "rolled-back", Time: at(21)},
		// Run D closed an unfinished action of an older run Z.
		{Run: "Z", Event: EventActionStart, Unit: "old", Type: "deploy", To: "1", Time: at(22)},
		{Run: "D", Event: EventActionEnd, Unit: "old", Result: "resumed", Closes: "Z", Time: at(23)},
	}
	for _, e := range lines {
		j := NewJournal(d, "dev", e.Run, nil)
		if err := j.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// A crash in mid-write.
	if err := d.Append(ctx, JournalFile("dev"), []byte(`{"time":"2026-11-22T10:00:30Z","run":"D","ev`)); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHistory(ctx, d, "dev")
	if err != nil {
		t.Fatal(err)
	}
	want := History{
		Unfinished: []Unfinished{{Run: "B", Runs: []string{"A", "B"}, Unit: "db", Type: "rollback", From: "5", To: "5", Started: at(11)}},
		Failures:   map[string][]Failure{"web": {{Version: "2", At: at(4)}}, "api": {{Version: "2", At: at(21)}}},
		Torn:       1,
		// Run B started and never ended.
		Interrupted: true,
	}
	if diff := cmp.Diff(h, want); diff != "" {
		t.Errorf("history (-got +want):\n%s", diff)
	}
}

// TestFailureMemory keeps every failed version of a unit until a deploy of
// it or of a later version succeeds: 1.0.6 failing does not erase 1.0.5,
// and a manual rollback marks the version it left.
func TestFailureMemory(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	end := func(s int, typ, from, to, result string) Entry {
		return Entry{Run: "A", Event: EventActionEnd, Unit: "api", Type: typ, From: from, To: to, Result: result, Time: at(s)}
	}
	tests := []struct {
		name    string
		entries []Entry
		want    []Failure
	}{
		{"two failed versions are both kept",
			[]Entry{end(1, "deploy", "1.0.4", "1.0.5", "rolled-back"), end(2, "deploy", "1.0.4", "1.0.6", "rolled-back")},
			[]Failure{{"1.0.5", at(1)}, {"1.0.6", at(2)}}},
		{"a failed version that fails again is kept once, with its last time",
			[]Entry{end(1, "deploy", "1.0.4", "1.0.5", "rolled-back"), end(2, "deploy", "1.0.4", "1.0.5", "rolled-back")},
			[]Failure{{"1.0.5", at(2)}}},
		{"a success forgets its version and the older ones",
			[]Entry{end(1, "deploy", "1.0.4", "1.0.5", "rolled-back"), end(2, "deploy", "1.0.4", "1.0.7", "rolled-back"),
				end(3, "deploy", "1.0.4", "1.0.6", "deployed")},
			[]Failure{{"1.0.7", at(2)}}},
		{"a success past every failure forgets them all",
			[]Entry{end(1, "deploy", "1.0.4", "1.0.5", "rolled-back"), end(3, "deploy", "1.0.4", "1.0.8", "deployed")},
			nil},
		{"a manual rollback marks the version it left; an unchanged one nothing",
			[]Entry{end(1, "rollback", "2.6.1", "2.6.0", "rolled-back"), end(2, "rollback", "2.6.0", "2.6.0", "unchanged")},
			[]Failure{{"2.6.1", at(1)}}},
		{"a settled unfinished action is no failure",
			[]Entry{end(1, "deploy", "1.0.4", "1.0.5", "resumed")},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := LocalDir(t.TempDir())
			for _, e := range tt.entries {
				if err := NewJournal(d, "dev", e.Run, nil).Append(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			h, err := ReadHistory(ctx, d, "dev")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(h.Failures["api"], tt.want); diff != "" {
				t.Errorf("failures (-got +want):\n%s", diff)
			}
		})
	}
}

func TestReadHistoryMissing(t *testing.T) {
	h, err := ReadHistory(context.Background(), LocalDir(t.TempDir()), "dev")
	if err != nil || len(h.Unfinished) != 0 || h.Torn != 0 {
		t.Errorf("a missing journal: got %+v, %v, want empty", h, err)
	}
}

// TestJournalAfterTornLine writes a line torn by a crash or a full disk (no
// trailing newline), then a new run's entries: every one of them reads
// back, on every kind of Dir, and the fragment counts as one torn line.
func TestJournalAfterTornLine(t *testing.T) {
	for name, mk := range dirs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			d := mk(t)
			t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			old := NewJournal(d, "dev", "A", nil)
			if err := old.Append(ctx, Entry{Event: EventRunStart, Time: t0}); err != nil {
				t.Fatal(err)
			}
			if err := d.Append(ctx, JournalFile("dev"), []byte(`{"time":"2026-11-22T10:00:01Z","run":"A","event":"action-st`)); err != nil {
				t.Fatal(err)
			}
			j := NewJournal(d, "dev", "B", nil)
			entries := []Entry{
				{Event: EventRunStart, Time: t0.Add(time.Minute)},
				{Event: EventActionStart, Unit: "web", Type: "deploy", From: "1", To: "2", Time: t0.Add(61 * time.Second)},
				{Event: EventActionEnd, Unit: "web", Type: "deploy", From: "1", To: "2", Result: "rolled-back", Time: t0.Add(62 * time.Second)},
				{Event: EventActionStart, Unit: "db", Type: "deploy", From: "5", To: "6", Time: t0.Add(63 * time.Second)},
			}
			for _, e := range entries {
				if err := j.Append(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			h, err := ReadHistory(ctx, d, "dev")
			if err != nil {
				t.Fatal(err)
			}
			want := History{
				Unfinished:  []Unfinished{{Run: "B", Runs: []string{"B"}, Unit: "db", Type: "deploy", From: "5", To: "6", Started: t0.Add(63 * time.Second)}},
				Failures:    map[string][]Failure{"web": {{Version: "2", At: t0.Add(62 * time.Second)}}},
				Torn:        1,
				Interrupted: true,
			}
			if diff := cmp.Diff(h, want); diff != "" {
				t.Errorf("history (-got +want):\n%s", diff)
			}
			b, err := d.ReadFile(ctx, JournalFile("dev"))
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Count(b, []byte("\n")); got != 6 {
				t.Errorf("the journal has %d lines, want 6 (1 + the fragment + 4):\n%s", got, b)
			}
		})
	}
}

// TestReadHistoryGluedLine reads a journal in which an entry was appended
// straight after a torn fragment, on the same line (as gearshift did
// before it started on a new line): the entry is read, the fragment is
// counted as torn.
func TestReadHistoryGluedLine(t *testing.T) {
	ctx := context.Background()
	d := LocalDir(t.TempDir())
	text := `{"time":"2026-11-22T10:00:00Z","run":"A","event":"run-start"}` + "\n" +
		`{"time":"2026-11-22T10:00:01Z","run":"A","ev` +
		`{"time":"2026-11-22T10:01:00Z","run":"B","event":"action-start","unit":"db","type":"deploy","from":"5","to":"6"}` + "\n"
	if err := d.Append(ctx, JournalFile("dev"), []byte(text)); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHistory(ctx, d, "dev")
	if err != nil {
		t.Fatal(err)
	}
	want := History{
		Unfinished:  []Unfinished{{Run: "B", Runs: []string{"B"}, Unit: "db", Type: "deploy", From: "5", To: "6", Started: time.Date(2026, 11, 22, 10, 1, 0, 0, time.UTC)}},
		Failures:    map[string][]Failure{},
		Torn:        1,
		Interrupted: true,
	}
	if diff := cmp.Diff(h, want); diff != "" {
		t.Errorf("history (-got +want):\n%s", diff)
	}
}
