//go:build !(linux || darwin || freebsd)

package artifact

import "errors"

// FreeSpace is not known on this system: the unpack is bounded by the
// limit alone.
func FreeSpace(dir string) (Space, error) {
	return Space{}, errors.New("free space is not known on this system")
}
