package artifact

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoSpace is an archive that does not fit in the free space of the
// filesystem it is unpacked on.
var ErrNoSpace = errors.New("not enough free space")

// Space is what a filesystem has: bytes free to an unprivileged writer,
// and its size.
type Space struct {
	Free, Total int64
}

// Usable is what gearshift may fill: the free space less a reserve (a
// twentieth of the filesystem, at most 64 MiB), so that an unpack never
// takes the last bytes that the journal, the lock and the services on the
// same filesystem need.
func (s Space) Usable() int64 {
	reserve := min(s.Total/20, 64<<20)
	return max(s.Free-reserve, 0)
}

// ParseSize reads a size as the state gives it: a whole number followed
// by KiB, MiB, GiB or TiB ("512MiB", "2GiB").
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n <= 0 || num[0] == '+' || n > (1<<62)>>u.shift {
			break
		}
		return n << u.shift, nil
	}
	return 0, fmt.Errorf("size %q is not a positive whole number of KiB, MiB, GiB or TiB", s)
}

// FormatSize writes n bytes for people: "3.0 GiB", "512.0 KiB", "17 bytes".
func FormatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %s", float64(n)/float64(div), []string{"KiB", "MiB", "GiB", "TiB"}[exp])
}
