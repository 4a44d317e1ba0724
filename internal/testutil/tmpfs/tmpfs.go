// Package tmpfs mounts small tmpfs filesystems for tests that need a disk
// that fills up: free-space checks and ENOSPC in the middle of a copy.
package tmpfs

import (
	"os/exec"
	"testing"
)

// Mount mounts a tmpfs of size (as mount(8) takes it: "8m") on a fresh
// directory and unmounts it when the test ends. It skips the test, saying
// why, when mounting is not permitted (not root, no CAP_SYS_ADMIN, a
// container without it).
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a %s tmpfs for the full-disk test (needs root or CAP_SYS_ADMIN): %v: %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}
