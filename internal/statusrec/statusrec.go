// Package statusrec is the status record: the observed state of one
// environment, as written after each apply to the status branch of the
// state repository (one file per environment, <env>.json). A pull-request
// plan judges policies with it instead of live observation, so it needs no
// target credentials (fork PRs); promote reads the source environment's.
//
// The package only encodes and decodes; gitops moves the bytes. A record
// quotes what targets reported (a status command's error, a health
// message), so the writer (cli's writeStatus) passes the encoded bytes
// through the run's redactor (internal/redact) before they are committed:
// the status branch is read by every later plan, fork pull requests
// included, and must never carry a secret.
package statusrec

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gearshift-dev/gearshift/internal/observation"
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
	// Failed lists units whose last deploy failed and were rolled back,
	// with the version that failed: the reconciler does not retry a failed
	// version until the desired version changes.
	Failed map[string]string `json:"failed,omitempty"`
}

// FileName is the record's file on the status branch.
func FileName(env string) string { return env + ".json" }

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

// Observed turns a record into the planner's input.
func (r *Record) Observed() observation.Environment {
	return observation.Environment{Units: r.Units}
}
