package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// RecordFormatVersion is the version of release records on disk
// (docs/host-layout.md).
const RecordFormatVersion = "1"

// Record describes one release of a unit on a host. It is written
// atomically beside the release directory: <root>/<unit>/releases/<id>.json.
type Record struct {
	FormatVersion string            `json:"format_version"`
	Unit          string            `json:"unit"`
	Environment   string            `json:"environment"`
	ID            string            `json:"id"`
	Version       string            `json:"version"`
	DeployedAt    time.Time         `json:"deployed_at"`
	Checksum      string            `json:"checksum,omitempty"`
	Source        string            `json:"source,omitempty"`
	Frameworks    map[string]string `json:"frameworks,omitempty"`
	// Previous is the ID of the release that ran before this one.
	Previous string `json:"previous,omitempty"`
	// Slot and Port are set for blue/green units.
	Slot string `json:"slot,omitempty"`
	Port int    `json:"port,omitempty"`
	// Run is the command the release was deployed with: a rollback starts
	// the old release as it ran, not with today's desired command (which
	// may name the new version).
	Run *state.Command `json:"run,omitempty"`
}

// Layout names the paths of a unit under a host target's root.
type Layout struct {
	Root, Unit string
}

func (l Layout) Dir() string              { return path.Join(l.Root, l.Unit) }
func (l Layout) Current() string          { return path.Join(l.Dir(), "current") }
func (l Layout) Releases() string         { return path.Join(l.Dir(), "releases") }
func (l Layout) Release(id string) string { return path.Join(l.Releases(), id) }
func (l Layout) Record(id string) string  { return path.Join(l.Releases(), id+".json") }
func (l Layout) Archive() string          { return path.Join(l.Dir(), "archive") }
func (l Layout) Run() string              { return path.Join(l.Dir(), "run") }
func (l Layout) PidFile(slot string) string {
	if slot == "" {
		slot = "main"
	}
	return path.Join(l.Run(), slot+".pid")
}

// ReleaseLog is the output of release id under the process service
// manager: run/<id>.log. A log per release, so that the end of the log
// quoted when a release fails its health check is its own, never an older
// release's lines.
func (l Layout) ReleaseLog(id string) string { return path.Join(l.Run(), id+".log") }

// Slot is the link of a blue/green slot: <root>/<unit>/slots/<slot>.
func (l Layout) Slot(slot string) string { return path.Join(l.Slots(), slot) }

// Slots is the directory of the blue/green slot links.
func (l Layout) Slots() string { return path.Join(l.Dir(), "slots") }

// Attempt is <root>/<unit>/deploy.json, the marker of the last deploy that
// touched the host (see attempt).
func (l Layout) Attempt() string { return path.Join(l.Dir(), "deploy.json") }

// Reader is the part of a transport that observing needs.
type Reader interface {
	ReadFile(ctx context.Context, path string) ([]byte, error)
	Readlink(ctx context.Context, link string) (string, error)
	ReadDir(ctx context.Context, dir string) ([]string, error)
}

// ReadCurrent returns the record of the release `current` points at, and
// the record of its previous release when there is one. A unit that was
// never deployed gives (nil, nil, nil).
func ReadCurrent(ctx context.Context, r Reader, l Layout) (cur, prev *Record, err error) {
	target, err := r.Readlink(ctx, l.Current())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("read %s: %w", l.Current(), err)
	}
	id := path.Base(target)
	cur, err = ReadRecord(ctx, r, l, id)
	if err != nil {
		return nil, nil, err
	}
	if cur.Previous != "" {
		prev, err = ReadRecord(ctx, r, l, cur.Previous)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return cur, nil, err
		}
	}
	return cur, prev, nil
}

// ReadRecord reads and checks one release record.
func ReadRecord(ctx context.Context, r Reader, l Layout, id string) (*Record, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("invalid release id %q under %s", id, l.Releases())
	}
	b, err := r.ReadFile(ctx, l.Record(id))
	if err != nil {
		return nil, fmt.Errorf("read release record: %w", err)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("release record %s is corrupt: %w", l.Record(id), err)
	}
	if rec.FormatVersion != RecordFormatVersion {
		return nil, fmt.Errorf("release record %s has format_version %q, want %q", l.Record(id), rec.FormatVersion, RecordFormatVersion)
	}
	if rec.ID != id || rec.Unit != l.Unit {
		return nil, fmt.Errorf("release record %s names release %s of %s", l.Record(id), rec.ID, rec.Unit)
	}
	return &rec, nil
}

// NewID names a release: its version and the UTC time of the deploy, so
// that IDs sort by time for each version and never collide for one unit.
func NewID(version string, at time.Time) string {
	return version + "-" + at.UTC().Format(idTimeLayout)
}

// idTimeLayout is the time part of a release id.
const idTimeLayout = "20060102T150405.000000000Z"

// IDTime returns the deploy time encoded in a release id, and false for a
// name that is not a release id made by NewID (which the driver then never
// removes).
func IDTime(id string) (time.Time, bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || !ValidID(id) {
		return time.Time{}, false
	}
	t, err := time.Parse(idTimeLayout, id[i+1:])
	return t, err == nil
}

// ValidID reports whether id can be a release directory name.
func ValidID(id string) bool {
	if id == "" || id == "." || id == ".." || len(id) > 200 {
		return false
	}
	return !strings.ContainsAny(id, "/\\\x00")
}
