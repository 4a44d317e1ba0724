package state

import (
	"fmt"
	"os"
	"syscall"
)

// setHardLimit caps the child's writable private mappings (RLIMIT_DATA:
// the Go heap, not the address space the runtime only reserves) and its
// address space (RLIMIT_AS, with room for those reservations).
func setHardLimit(bytes int64) error {
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: uint64(bytes), Max: uint64(bytes)}); err != nil {
		return fmt.Errorf("setting RLIMIT_DATA: %w", err)
	}
	as := uint64(bytes) + 4<<30
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: as, Max: as}); err != nil {
		return fmt.Errorf("setting RLIMIT_AS: %w", err)
	}
	return nil
}

// childAttr kills the child when the parent dies, so that a killed
// gearshift leaves no evaluation running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// peakRSS is the most memory the exited child held, in bytes (ru_maxrss
// is in KiB on Linux), or 0 when it is not known.
func peakRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10
	}
	return 0
}
