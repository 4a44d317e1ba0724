package apply

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gearshift-dev/gearshift/internal/redact"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// Journal events.
const (
	EventRunStart    = "run-start"
	EventActionStart = "action-start"
	EventActionEnd   = "action-end"
	EventRunEnd      = "run-end"
)

// Entry is one line of the journal. It holds names, versions, results and
// error messages: never the value of an environment variable.
type Entry struct {
	Time  time.Time `json:"time"`
	Run   string    `json:"run"`
	Event string    `json:"event"`
	// run-start
	Environment string   `json:"environment,omitempty"`
	Holder      string   `json:"holder,omitempty"`
	PID         int      `json:"pid,omitempty"`
	Command     []string `json:"command,omitempty"`
	// action-start and action-end
	Unit string `json:"unit,omitempty"`
	Type string `json:"type,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Release is the release an action deployed (action-end).
	Release string `json:"release,omitempty"`
	// Result is an Outcome for action-end, or ok, failed, interrupted for
	// run-end.
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
	// Closes names the earlier run whose unfinished action this action-end
	// settles, once a later run has repaired the unit.
	Closes string `json:"closes,omitempty"`
}

// JournalFile is the journal's file name for env.
func JournalFile(env string) string { return env + ".journal.jsonl" }

// Journal appends entries for one run. Each entry is one write followed by
// fsync: when Append returns, the entry survives a crash.
//
// A crash or a full disk can leave a torn last line without its newline.
// Appending straight after it would glue the next entry to the fragment
// and make both unreadable, so the first Append of a run starts on a new
// line when the file does not end in one (the fragment stays, as its own
// line, and readers count it as torn).
type Journal struct {
	dir  Dir
	name string
	run  string
	now  func() time.Time

	mu      sync.Mutex
	checked bool // the file's end was looked at by this run
}

// NewJournal returns the journal of env in dir for run.
func NewJournal(dir Dir, env, run string, now func() time.Time) *Journal {
	if now == nil {
		now = time.Now
	}
	return &Journal{dir: dir, name: JournalFile(env), run: run, now: now}
}

// Append writes e with the run and the time filled in.
func (j *Journal) Append(ctx context.Context, e Entry) error {
	e.Run = j.run
	if e.Time.IsZero() {
		e.Time = j.now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	// An entry's message may quote a command that printed a secret.
	b = redact.FromContext(ctx).Bytes(b)
	j.mu.Lock()
	defer j.mu.Unlock()
	line := append(b, '\n')
	if !j.checked {
		old, err := j.dir.ReadFile(ctx, j.name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("journal: %w", err)
		}
		if len(old) > 0 && old[len(old)-1] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if err := j.dir.Append(ctx, j.name, line); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.checked = true
	return nil
}

// Where names the journal file.
func (j *Journal) Where() string { return j.dir.Path(j.name) }

// Unfinished is an action a run started and never ended: the run was
// killed, or lost its machine, in the middle of it.
type Unfinished struct {
	// Run is the last run that left the unit unfinished; Runs are all of
	// them (a repair can itself be interrupted), oldest first.
	Run     string
	Runs    []string
	Unit    string
	Type    string
	From    string
	To      string
	Started time.Time
}

// Failure is a version of a unit that failed and was rolled back (or that
// gearshift rollback left), and when.
type Failure struct {
	Version string
	At      time.Time
}

// History is what a new run needs from the journal.
//
// The journal is the one memory of failed versions: it lives beside the
// lock (on the first host of a host target), so every machine that applies
// the environment sees the same failures.
type History struct {
	Unfinished []Unfinished
	// Failures are, by unit, every version that failed and was rolled
	// back, oldest first. A failure is forgotten once a deploy of that
	// version or of a later one succeeds: the desired version has moved
	// past it.
	Failures map[string][]Failure
	// Torn counts lines that did not parse (a crash in mid-write).
	Torn int
	// Interrupted reports that the last run started did not end: it may
	// have left temporary files on the targets.
	Interrupted bool
}

// ReadHistory reads env's journal in dir. A missing journal is empty.
func ReadHistory(ctx context.Context, dir Dir, env string) (History, error) {
	h := History{Failures: map[string][]Failure{}}
	b, err := dir.ReadFile(ctx, JournalFile(env))
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("journal: %w", err)
	}
	open := map[string]Unfinished{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, ok, torn := parseEntry(line)
		if torn {
			h.Torn++
		}
		if !ok {
			continue
		}
		switch e.Event {
		case EventRunStart:
			h.Interrupted = true
		case EventRunEnd:
			h.Interrupted = false
		case EventActionStart:
			open[e.Run+"\x00"+e.Unit] = Unfinished{Run: e.Run, Unit: e.Unit, Type: e.Type, From: e.From, To: e.To, Started: e.Time}
		case EventActionEnd:
			run := e.Run
			if e.Closes != "" {
				run = e.Closes
			}
			delete(open, run+"\x00"+e.Unit)
			h.remember(e)
		}
	}
	// One entry per unit: the newest run, the oldest known previous
	// version (the last release known to have worked before the chain of
	// interrupted runs).
	opens := make([]Unfinished, 0, len(open))
	for _, u := range open {
		opens = append(opens, u)
	}
	sort.Slice(opens, func(i, j int) bool { return opens[i].Started.Before(opens[j].Started) })
	byUnit := map[string]int{}
	for _, u := range opens {
		i, ok := byUnit[u.Unit]
		if !ok {
			u.Runs = []string{u.Run}
			byUnit[u.Unit] = len(h.Unfinished)
			h.Unfinished = append(h.Unfinished, u)
			continue
		}
		prev := h.Unfinished[i]
		u.Runs = append(prev.Runs, u.Run)
		if prev.From != "" {
			u.From = prev.From
		}
		h.Unfinished[i] = u
	}
	sort.Slice(h.Unfinished, func(i, j int) bool {
		a, b := h.Unfinished[i], h.Unfinished[j]
		if !a.Started.Equal(b.Started) {
			return a.Started.Before(b.Started)
		}
		return a.Unit < b.Unit
	})
	return h, nil
}

// remember updates the failed versions with an action's end: a deploy
// that was rolled back failed at its To, and a manual rollback marks the
// version it left; a deploy that succeeds forgets the failures of its
// version and of every older one (the desired version moved past them).
func (h *History) remember(e Entry) {
	switch Outcome(e.Result) {
	case RolledBack:
		v := e.To
		if e.Type == "rollback" {
			v = e.From
		}
		if v == "" {
			return
		}
		fs := slices.DeleteFunc(h.Failures[e.Unit], func(f Failure) bool { return f.Version == v })
		h.Failures[e.Unit] = append(fs, Failure{Version: v, At: e.Time})
	case Deployed, Redeployed:
		fs := slices.DeleteFunc(h.Failures[e.Unit], func(f Failure) bool {
			return state.CompareVersions(f.Version, e.To) <= 0
		})
		if len(fs) == 0 {
			delete(h.Failures, e.Unit)
		} else {
			h.Failures[e.Unit] = fs
		}
	}
}

// Failed returns the failure of unit's version, if that version failed
// and has not been forgotten.
func (h History) Failed(unit, version string) (Failure, bool) {
	for _, f := range h.Failures[unit] {
		if f.Version == version {
			return f, true
		}
	}
	return Failure{}, false
}

// FailedVersions are the remembered failed versions by unit, for the
// status record.
func (h History) FailedVersions() map[string][]string {
	out := map[string][]string{}
	for u, fs := range h.Failures {
		for _, f := range fs {
			out[u] = append(out[u], f.Version)
		}
	}
	return out
}

// entryStart is how every entry's JSON begins (Time is Entry's first
// field).
var entryStart = []byte(`{"time":`)

// parseEntry reads one journal line. A line that does not parse may be a
// fragment torn by a crash with a whole entry glued after it (written by a
// version of gearshift that did not start on a new line): the entry
// starting at the last `{"time":` is then read, so that the fragment
// swallows nothing. ok says an entry was read, torn that the line held a
// fragment.
func parseEntry(line []byte) (e Entry, ok, torn bool) {
	if json.Unmarshal(line, &e) == nil {
		return e, true, false
	}
	i := bytes.LastIndex(line, entryStart)
	if i <= 0 {
		return Entry{}, false, true
	}
	var tail Entry
	if json.Unmarshal(line[i:], &tail) != nil {
		return Entry{}, false, true
	}
	return tail, true, true
}

// NewRunID names a run: its start time and a random suffix, so that runs
// sort by time and never collide.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
