package artifact

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFetchHostileArchives serves archives built to escape or exhaust the
// destination, each with a correct checksum (a verified archive is not a
// safe one), and checks that each is refused with nothing written anywhere.
func TestFetchHostileArchives(t *testing.T) {
	srv := newServer(t)
	outside := t.TempDir() // where escapes would land
	abs := filepath.Join(outside, "abs")
	many := make([]entry, 6)
	for i := range many {
		many[i] = file("f"+strconv.Itoa(i), 0o644, "x")
	}
	big := make([]entry, 3)
	for i := range big {
		big[i] = file("big"+strconv.Itoa(i), 0o644, string(bytes.Repeat([]byte("a"), 400)))
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"dotdot", buildTarGz(t, []entry{file("ok", 0o644, "x"), file("../evil", 0o644, "pwned")}), ErrUnsafeArchive},
		{"inner dotdot", buildTarGz(t, []entry{file("a/../../evil", 0o644, "pwned")}), ErrUnsafeArchive},
		{"cancelling dotdot", buildTarGz(t, []entry{file("a/../b", 0o644, "x")}), ErrUnsafeArchive},
		{"absolute", buildTarGz(t, []entry{file(abs, 0o644, "pwned")}), ErrUnsafeArchive},
		{"backslash", buildTarGz(t, []entry{file(`..\evil`, 0o644, "pwned")}), ErrUnsafeArchive},
		{"symlink to passwd", buildTarGz(t, []entry{symlink("passwd", "/etc/passwd"), file("x", 0o644, "x")}), ErrUnsafeArchive},
		{"hard link to passwd", buildTarGz(t, []entry{{name: "hl", typ: tar.TypeLink, link: "/etc/passwd"}}), ErrUnsafeArchive},
		{"hard link inside", buildTarGz(t, []entry{file("a", 0o644, "x"), {name: "b", typ: tar.TypeLink, link: "a"}}), ErrUnsafeArchive},
		{"write through symlink", buildTarGz(t, []entry{symlink("link", outside), file("link/pwned", 0o644, "pwned")}), ErrUnsafeArchive},
		{"char device", buildTarGz(t, []entry{{name: "null", typ: tar.TypeChar, mode: 0o666}}), ErrUnsafeArchive},
		{"fifo", buildTarGz(t, []entry{{name: "fifo", typ: tar.TypeFifo, mode: 0o666}}), ErrUnsafeArchive},
		{"duplicate entry", buildTarGz(t, []entry{file("a", 0o644, "good"), file("a", 0o644, "evil")}), ErrUnsafeArchive},
		{"file named dot", buildTar(t, []entry{file(".", 0o644, "x")}), ErrUnsafeArchive},
		{"too many files", buildTarGz(t, many), ErrLimitExceeded},
		{"too many bytes in total", buildTarGz(t, big), ErrLimitExceeded},
		{"zip dotdot", buildZip(t, []entry{file("../evil", 0o644, "pwned")}), ErrUnsafeArchive},
		{"zip absolute", buildZip(t, []entry{file(abs, 0o644, "pwned")}), ErrUnsafeArchive},
		{"zip symlink", buildZip(t, []entry{symlink("passwd", "/etc/passwd")}), ErrUnsafeArchive},
		{"zip write through symlink", buildZip(t, []entry{symlink("link", outside), file("link/pwned", 0o644, "pwned")}), ErrUnsafeArchive},
		{"zip too many files", buildZip(t, many), ErrLimitExceeded},
		{"zip too many bytes in total", buildZip(t, big), ErrLimitExceeded},
		{"empty archive", buildTarGz(t, nil), nil},
		{"only directories", buildZip(t, []entry{dir("a/", 0o755)}), nil},
		{"not an archive", []byte("<html>not found</html>"), nil},
		{"bzip2", []byte("BZh91AY&SY"), nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := srv.put(t, "a"+strconv.Itoa(i), tt.data)
			parent := t.TempDir()
			dest := filepath.Join(parent, "release")
			f := New(Options{MaxFiles: 5, MaxUnpackedBytes: 1000})
			_, err := f.Fetch(context.Background(), url, sha(tt.data), dest)
			if err == nil {
				t.Fatal("Fetch succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Fetch error = %v, want %v", err, tt.wantErr)
			}
			t.Log(err)
			if got := listing(t, parent); len(got) != 0 {
				t.Errorf("written beside dest: %v", got)
			}
			if got := listing(t, outside); len(got) != 0 {
				t.Errorf("written outside dest: %v", got)
			}
		})
	}
}

// TestFetchDecompressionBombs serves 200 MiB of zeros, compressed to a few
// hundred KiB, against a 10 MiB limit. The archives are written streaming.
func TestFetchDecompressionBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 200 MiB archives")
	}
	const size = 200 << 20
	srv := newServer(t)
	tests := []struct {
		name  string
		build func(t *testing.T, w io.Writer)
	}{
		{"tar.gz", func(t *testing.T, w io.Writer) {
			zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
			tw := tar.NewWriter(zw)
			if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
				t.Fatal(err)
			}
			writeZeros(t, tw, size)
			closeAll(t, tw, zw)
		}},
		{"zip", func(t *testing.T, w io.Writer) {
			zw := zip.NewWriter(w)
			zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
				return flate.NewWriter(w, flate.BestSpeed)
			})
			fw, err := zw.Create("zeros")
			if err != nil {
				t.Fatal(err)
			}
			writeZeros(t, fw, size)
			closeAll(t, zw)
		}},
		{"zip declaring a small size", func(t *testing.T, w io.Writer) {
			// The central directory says 1 KiB; the data inflates to 200 MiB.
			zw := zip.NewWriter(w)
			// The real compressed size goes into the data descriptor and
			// the central directory, written after the data.
			fh := &zip.FileHeader{Name: "zeros", Method: zip.Deflate, UncompressedSize64: 1024, Flags: 0x8}
			fw, err := zw.CreateRaw(fh)
			if err != nil {
				t.Fatal(err)
			}
			cw := &countingWriter{w: fw}
			fl, _ := flate.NewWriter(cw, flate.BestSpeed)
			writeZeros(t, fl, size)
			closeAll(t, fl)
			fh.CompressedSize64 = uint64(cw.n)
			fh.CompressedSize = uint32(cw.n)
			closeAll(t, zw)
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "bomb" + strconv.Itoa(i)
			out, err := os.Create(filepath.Join(srv.dir, name))
			if err != nil {
				t.Fatal(err)
			}
			tt.build(t, out)
			closeAll(t, out)
			parent := t.TempDir()
			f := New(Options{MaxUnpackedBytes: 10 << 20})
			_, err = f.Fetch(context.Background(), srv.URL+"/"+name, "", filepath.Join(parent, "release"))
			if err == nil {
				t.Fatal("Fetch succeeded, want an error")
			}
			t.Log(err)
			if got := listing(t, parent); len(got) != 0 {
				t.Errorf("written beside dest: %v", got)
			}
		})
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeZeros(t *testing.T, w io.Writer, n int64) {
	t.Helper()
	if _, err := io.CopyN(w, zeroReader{}, n); err != nil {
		t.Fatal(err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func closeAll(t *testing.T, cs ...io.Closer) {
	t.Helper()
	for _, c := range cs {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for refused
	}{
		{"a", "a"},
		{"a/b/", "a/b"},
		{"./a//b", "a/b"},
		{"./", "."},
		{"..", ""},
		{"../a", ""},
		{"a/..", ""},
		{"a/../b", ""},
		{"/etc/passwd", ""},
		{"", ""},
		{`a\b`, ""},
		{"a\x00b", ""},
		{"...", "..."},
		{"..a", "..a"},
	}
	for _, tt := range tests {
		got, err := cleanName(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Errorf("cleanName(%q) = %q, %v; want %v", tt.in, got, err, ErrUnsafeArchive)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("cleanName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzUnpackTar feeds arbitrary bytes as a tar stream. Whatever they are,
// unpacking must not panic, must write nothing beside dest, and must leave
// only directories and regular files without special bits inside it.
func FuzzUnpackTar(f *testing.F) {
	f.Add(buildTar(f, release))
	f.Add(buildTar(f, []entry{file("../evil", 0o644, "x")}))
	f.Add(buildTar(f, []entry{symlink("link", "/tmp"), file("link/x", 0o644, "x")}))
	f.Add(buildTar(f, []entry{{name: "hl", typ: tar.TypeLink, link: "/etc/passwd"}}))
	f.Add(buildTar(f, []entry{file("/tmp/x", 0o4777, "x"), dir("d/", 0o7777)}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dest := filepath.Join(parent, "dest")
		if err := os.Mkdir(dest, 0o700); err != nil {
			t.Fatal(err)
		}
		_, _ = unpackTar(context.Background(), bytes.NewReader(data), dest, limits{maxFiles: 64, maxBytes: 1 << 20})
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if diff := cmp.Diff([]string{"dest"}, names); diff != "" {
			t.Fatalf("written beside dest (-want +got):\n%s", diff)
		}
		err = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			m := fi.Mode()
			if !m.IsDir() && !m.IsRegular() {
				t.Errorf("%s: mode %v, want a directory or a regular file", p, m)
			}
			if m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
				t.Errorf("%s: mode %v has special bits", p, m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
