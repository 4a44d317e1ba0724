// Command podrun runs a command as if in a pod, for the tests of
// in-cluster credentials: started by kubetest (Cluster.InPod) in a mount
// namespace of its own, it mounts a tmpfs on /run, puts the files of DIR
// (token, ca.crt, namespace) at /run/secrets/kubernetes.io/serviceaccount
// (/var/run is a link to /run) and executes the command there. The
// machine's own /run is untouched; the command sees only the test's.
//
//	podrun DIR -- ARGV...
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

const saDir = "/run/secrets/kubernetes.io/serviceaccount"

func main() {
	if len(os.Args) < 4 || os.Args[2] != "--" {
		fail(fmt.Errorf("usage: podrun DIR -- ARGV..."))
	}
	src, argv := os.Args[1], os.Args[3:]
	files := map[string][]byte{}
	for _, name := range []string{"token", "ca.crt", "namespace"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			fail(err)
		}
		files[name] = b
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fail(err)
	}
	if err := syscall.Mount("tmpfs", "/run", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
		fail(fmt.Errorf("mount a tmpfs on /run (a mount namespace of its own is needed): %w", err))
	}
	if err := os.MkdirAll(saDir, 0o755); err != nil {
		fail(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(saDir, name), b, 0o644); err != nil {
			fail(err)
		}
	}
	fail(syscall.Exec(path, argv, os.Environ()))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "podrun:", err)
	os.Exit(127)
}
