// Package statusrec is the status record: the observed state of one
// environment, as written after each apply and rollback to the status
// branch of the state repository (one file per environment, <env>.json)
// and to the local state directory (<env>.status.json). A pull-request
// plan judges policies with it instead of live observation, so it needs no
// target credentials (fork PRs); promote reads the source environment's.
//
// This is the record's one home: it is built (Build), encoded and decoded
// (Marshal, Unmarshal), kept in a local file (ReadFile, WriteFile) and
// turned back into the planner's observations (Observed) here. Moving the
// bytes of the status branch is gitops' job. A record quotes what targets
// reported (a status command's error, a health message), so the writer of
// the status branch (cli's writeStatus) passes the encoded bytes through
// the run's redactor (internal/redact) before they are committed: the
// status branch is read by every later plan, fork pull requests included,
// and must never carry a secret.
//
// What the package must never do: observe a target or decide what to
// deploy. The failure memory that apply obeys lives in the journal beside
// the environment's lock; the record only shows it.
package statusrec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gearshift-dev/gearshift/internal/durable"
	"github.com/gearshift-dev/gearshift/internal/observation"
	"github.com/gearshift-dev/gearshift/internal/state"
)

// FormatVersion is the version of a status record document.
const FormatVersion = "1"

// Record is one environment's observed state.
type Record struct {
	FormatVersion string `json:"format_version"`
	Environment   string `json:"environment"`
	// Commit is the state repository commit that was applied.
	Commit    string    `json:"commit,omitempty"`
	WrittenAt time.Time `json:"written_at"`
	// Units are the observations after the apply, by unit.
	Units map[string]observation.Unit `json:"units"`
	// Failed lists the units whose desired version failed and was rolled
	// back before, with that version: apply does not deploy it again
	// until the desired version changes (or --retry-failed). It is a copy
	// of the journal's memory, for readers that cannot reach the lock
	// (promote, pull-request plans).
	Failed map[string]string `json:"failed,omitempty"`
}

// Build makes env's record from what was observed and the failed versions
// the journal remembers (by unit). Units not declared in env are left out.
func Build(env *state.Environment, observed observation.Environment, failed map[string][]string, now time.Time) *Record {
	rec := &Record{
		FormatVersion: FormatVersion,
		Environment:   env.Name,
		WrittenAt:     now.UTC(),
		Units:         make(map[string]observation.Unit, len(env.Units)),
	}
	for name, u := range env.Units {
		if o, ok := observed.Units[name]; ok {
			rec.Units[name] = o
		}
		if slices.Contains(failed[name], u.Version) {
			if rec.Failed == nil {
				rec.Failed = map[string]string{}
			}
			rec.Failed[name] = u.Version
		}
	}
	return rec
}

// FileName is the record's file on the status branch.
func FileName(env string) string { return env + ".json" }

// LocalFile is where a local state directory keeps env's record.
func LocalFile(stateDir, env string) string {
	return filepath.Join(stateDir, env+".status.json")
}

// Marshal encodes a record.
func Marshal(r *Record) ([]byte, error) {
	r.FormatVersion = FormatVersion
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Unmarshal decodes and checks a record.
func Unmarshal(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("status record: %w", err)
	}
	if r.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("status record has format_version %q, want %q", r.FormatVersion, FormatVersion)
	}
	if r.Units == nil {
		r.Units = map[string]observation.Unit{}
	}
	return &r, nil
}

// ReadFile reads a record file; a missing file gives nil.
func ReadFile(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return Unmarshal(b)
}

// WriteFile writes a record atomically (temporary file in the same
// directory, fsync, rename), so that a crash never leaves half a record.
func WriteFile(path string, rec *Record) error {
	b, err := Marshal(rec)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := durable.TempFile(dir, "."+filepath.Base(path)+".tmp-*", b)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// NoRecord starts the observation error of the units of an environment
// that has no status record yet.
const NoRecord = "not observed: no status record"

// Observed turns env's record into the planner's input. A unit the record
// does not list was not declared when the record was written, so it is not
// deployed. Without a record (rec nil) every unit is "not observed", and
// with one that could not be read (readErr) too, saying why; where names
// the record's place (the status branch) for the message.
func Observed(env *state.Environment, rec *Record, readErr error, where string) observation.Environment {
	out := observation.Environment{Units: make(map[string]observation.Unit, len(env.Units))}
	for _, un := range env.UnitNames() {
		switch {
		case readErr != nil:
			out.Units[un] = observation.Unit{Unit: un, Health: observation.HealthUnknown, Error: "not observed: " + readErr.Error()}
		case rec == nil:
			out.Units[un] = observation.Unit{Unit: un, Health: observation.HealthUnknown,
				Error: fmt.Sprintf("%s of %s yet on %s", NoRecord, env.Name, where)}
		default:
			o, found := rec.Units[un]
			if !found {
				o = observation.Unit{Unit: un, Health: observation.HealthMissing}
			}
			out.Units[un] = o
		}
	}
	return out
}
