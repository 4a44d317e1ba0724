//go:build linux || darwin || freebsd

package artifact

import "syscall"

// FreeSpace reports the space of the filesystem holding dir (statfs(2)).
func FreeSpace(dir string) (Space, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return Space{}, err
	}
	bs := int64(st.Bsize)
	return Space{Free: int64(st.Bavail) * bs, Total: int64(st.Blocks) * bs}, nil
}
