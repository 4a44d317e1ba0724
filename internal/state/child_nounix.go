//go:build !unix

package state

import (
	"os"
	"syscall"
)

// setHardLimit has no kernel limit to set here: the child is bounded by
// debug.SetMemoryLimit and its watchdog only.
func setHardLimit(int64) error { return nil }

func childAttr() *syscall.SysProcAttr { return nil }

// peakRSS is not known here: only the child's own reports count.
func peakRSS(*os.ProcessState) int64 { return 0 }
