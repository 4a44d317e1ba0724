//go:build unix && !linux

package state

import (
	"fmt"
	"os"
	"syscall"
)

// setHardLimit caps the child's address space: RLIMIT_DATA does not
// count mmap'd memory everywhere, so RLIMIT_AS is the portable cap.
func setHardLimit(bytes int64) error {
	as := uint64(bytes) + 4<<30
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: as, Max: as}); err != nil {
		return fmt.Errorf("setting RLIMIT_AS: %w", err)
	}
	return nil
}

func childAttr() *syscall.SysProcAttr { return nil }

// peakRSS is not known here: only the child's own reports count.
func peakRSS(*os.ProcessState) int64 { return 0 }
