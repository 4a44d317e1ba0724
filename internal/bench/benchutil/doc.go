// Package benchutil holds what the apply benchmarks (applybench, fleetbench)
// share: release tarballs with their checksums, the trace of gearshift's
// output line by line with its time, the summary line of an apply, the tail
// of a failed run's output, and stopping the processes a run left by the
// host layout's pid files.
//
// It is for the benchmark commands only: it must never be imported by
// gearshift itself or by its tests, and it measures nothing on its own.
package benchutil
