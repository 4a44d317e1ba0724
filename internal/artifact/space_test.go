package artifact

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gearshift-dev/gearshift/internal/testutil/tmpfs"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1KiB", 1 << 10}, {"512MiB", 512 << 20}, {"1GiB", 1 << 30}, {"3TiB", 3 << 40},
		{"0GiB", 0}, {"1GB", 0}, {"-1MiB", 0}, {"+1MiB", 0}, {"1.5GiB", 0}, {"MiB", 0}, {"", 0}, {"99999999TiB", 0},
	} {
		got, err := ParseSize(tc.in)
		if got != tc.want || (err == nil) != (tc.want > 0) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for n, want := range map[int64]string{17: "17 bytes", 1536: "1.5 KiB", 3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// bomb is a small archive that unpacks to n bytes of zeros.
func bomb(t *testing.T, n int, build func(testing.TB, []entry) []byte) []byte {
	return build(t, []entry{file("VERSION", 0o644, "1.0.0\n"), file("data/zeros", 0o644, strings.Repeat("\x00", n))})
}

// TestFetchUnpackLimit: an archive that unpacks beyond a low configured
// limit is refused, and nothing is left beside the destination.
func TestFetchUnpackLimit(t *testing.T) {
	for name, build := range map[string]func(testing.TB, []entry) []byte{"tar.gz": buildTarGz, "zip": buildZip} {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "app."+name)
			data := bomb(t, 4<<20, build)
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			_, err := New(Options{AllowLocal: true, MaxUnpackedBytes: 1 << 20}).Fetch(context.Background(), src, sha(data), filepath.Join(parent, "release"))
			if !errors.Is(err, ErrLimitExceeded) || !strings.Contains(err.Error(), "(1.0 MiB, the unpack limit: artifact.maxUnpackedSize)") {
				t.Errorf("a %d-byte archive that unpacks to 4 MiB under a 1 MiB limit: got %v, want %v naming the limit", len(data), err, ErrLimitExceeded)
			}
			if got := listing(t, parent); len(got) != 0 {
				t.Errorf("left after a refused unpack: %v", got)
			}
		})
	}
}

// TestFetchNoSpace unpacks onto a real 8 MiB filesystem: an archive that
// unpacks to more than its free space is refused, naming the free space,
// before it fills the disk, and nothing is left.
func TestFetchNoSpace(t *testing.T) {
	disk := tmpfs.Mount(t, "8m")
	for name, build := range map[string]func(testing.TB, []entry) []byte{"tar.gz": buildTarGz, "zip": buildZip} {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "app."+name)
			data := bomb(t, 16<<20, build)
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			before, err := FreeSpace(disk)
			if err != nil {
				t.Fatal(err)
			}
			parent := filepath.Join(disk, name)
			mkdir(t, parent)
			_, err = New(Options{AllowLocal: true}).Fetch(context.Background(), src, sha(data), filepath.Join(parent, "release"))
			if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "usable on the filesystem of "+parent) {
				t.Errorf("unpacking 16 MiB onto an 8 MiB disk: got %v, want %v naming the free space", err, ErrNoSpace)
			}
			if got := listing(t, parent); len(got) != 0 {
				t.Errorf("left after a refused unpack: %v", got)
			}
			after, err := FreeSpace(disk)
			if err != nil {
				t.Fatal(err)
			}
			if after.Free < before.Free-64<<10 {
				t.Errorf("free space went from %d to %d bytes", before.Free, after.Free)
			}
		})
	}
	// What fits is unpacked.
	src := filepath.Join(t.TempDir(), "small.tar.gz")
	data := bomb(t, 1<<20, buildTarGz)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{AllowLocal: true}).Fetch(context.Background(), src, sha(data), filepath.Join(disk, "release")); err != nil {
		t.Errorf("a 1 MiB release on an 8 MiB disk: %v", err)
	}
}

// TestCacheSweepsKilledDownloads: a download directory that a killed
// process left in the cache goes with the next download; one young enough
// to belong to a download in flight stays.
func TestCacheSweepsKilledDownloads(t *testing.T) {
	cache := t.TempDir()
	dir := filepath.Join(cache, "sha256")
	old, young := filepath.Join(dir, ".download-111"), filepath.Join(dir, ".download-222")
	for _, p := range []string{old, young} {
		mkdir(t, p)
		writeFile(t, filepath.Join(p, "archive"), "half an archive")
	}
	long := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	data := buildTarGz(t, release)
	src := filepath.Join(t.TempDir(), "app.tar.gz")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f := New(Options{AllowLocal: true, CacheDir: cache, Timeout: 10 * time.Minute})
	if _, err := f.Fetch(context.Background(), src, sha(data), filepath.Join(t.TempDir(), "release")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the killed download's directory is still there: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("a download that may be in flight was removed: %v", err)
	}
}
