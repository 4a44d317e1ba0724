package apply

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gearshift-dev/gearshift/internal/driver"
	"github.com/gearshift-dev/gearshift/internal/driver/host/transport"
	"github.com/gearshift-dev/gearshift/internal/statusrec"
)

// StatusRecord builds an environment's status record after a run: what a
// fresh observation saw, and the versions that failed and were rolled back.
// A failed version stays remembered (prev.Failed) until the desired version
// of its unit changes or that version is deployed; res may be nil (no run).
// desired maps each declared unit to its desired version. The gitops status
// branch writer calls this too.
func StatusRecord(envName string, observed driver.Observed, desired map[string]string, prev *statusrec.Record, res *EnvResult, now time.Time) *statusrec.Record {
	rec := &statusrec.Record{
		FormatVersion: statusrec.FormatVersion,
		Environment:   envName,
		WrittenAt:     now.UTC(),
		Units:         observed.Units,
	}
	if rec.Units == nil {
		rec.Units = map[string]driver.Observation{}
	}
	failed := map[string]string{}
	if prev != nil {
		for u, v := range prev.Failed {
			if d, ok := desired[u]; ok && d == v {
				failed[u] = v
			}
		}
	}
	if res != nil {
		for _, ur := range res.Units {
			switch ur.Outcome {
			case RolledBack:
				failed[ur.Unit] = ur.To
			case Deployed, Redeployed:
				delete(failed, ur.Unit)
			}
		}
	}
	if len(failed) > 0 {
		rec.Failed = failed
	}
	return rec
}

// StatusFile is where a local state directory keeps env's status record.
func StatusFile(stateDir, env string) string {
	return filepath.Join(stateDir, env+".status.json")
}

// ReadStatusFile reads a status record file; a missing file gives nil.
func ReadStatusFile(path string) (*statusrec.Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return statusrec.Unmarshal(b)
}

// WriteStatusFile writes a status record atomically (temporary file,
// fsync, rename), so that a crash never leaves half a record.
func WriteStatusFile(path string, rec *statusrec.Record) error {
	b, err := statusrec.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return transport.Local().WriteFileAtomic(context.Background(), path, b, 0o644)
}
