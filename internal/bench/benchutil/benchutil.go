package benchutil

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// File is one entry of a release tarball; a Name ending in "/" is a
// directory.
type File struct {
	Name string
	Mode int64
	Body []byte
}

// WriteTarball writes a gzipped tarball of files to file and returns its
// checksum as the state's artifact.checksum wants it ("sha256:..."). A
// benchmark cannot go on without its artifact: an error is fatal.
func WriteTarball(file string, files []File) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.Name, "/") {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			log.Fatal(err)
		}
		if _, err := tw.Write(f.Body); err != nil {
			log.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Stamped prefixes each line written to it with the seconds since Start,
// for a trace of where the time of a run went.
type Stamped struct {
	W     *bytes.Buffer
	Start time.Time
	part  []byte
}

func (s *Stamped) Write(p []byte) (int, error) {
	s.part = append(s.part, p...)
	for {
		i := bytes.IndexByte(s.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		fmt.Fprintf(s.W, "%8.3f %s\n", time.Since(s.Start).Seconds(), s.part[:i])
		s.part = s.part[i+1:]
	}
}

// AppendTrace appends a run's stamped output to the trace file under a
// "=== header" line. A trace is a help, not a result: it is skipped if the
// file cannot be opened.
func AppendTrace(file, header string, traced []byte) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s\n%s", header, traced)
}

// ApplySummary is what follows "Apply complete: " in an apply's output, or
// "" when it has no such line.
func ApplySummary(out string) string {
	summary := ""
	for _, l := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(l, "Apply complete: "); ok {
			summary = s
		}
	}
	return summary
}

// Tail is the last n lines of s, each cut at 400 bytes, for the message
// of a failed run.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 400 {
			lines[i] = l[:400] + "..."
		}
	}
	return strings.Join(lines, "\n")
}

// StopPIDs sends SIGTERM to every process named by a pid file matching
// pattern (filepath.Glob), such as the run/*.pid files of the host layout:
// the servers a failed or finished run left behind.
func StopPIDs(pattern string) {
	pids, _ := filepath.Glob(pattern)
	for _, p := range pids {
		if s, err := os.ReadFile(p); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(s))); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	}
}
