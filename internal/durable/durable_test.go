package durable

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTempFile(t *testing.T) {
	dir := t.TempDir()
	name, err := TempFile(dir, ".rec.tmp-*", []byte("whole\n"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(name) != dir || !strings.HasPrefix(filepath.Base(name), ".rec.tmp-") {
		t.Errorf("TempFile = %q, want a .rec.tmp-* file in %s", name, dir)
	}
	got, err := os.ReadFile(name)
	if err != nil || string(got) != "whole\n" {
		t.Errorf("file holds %q (%v), want %q", got, err, "whole\n")
	}

	if _, err := TempFile(filepath.Join(dir, "missing"), "x-*", []byte("x")); err == nil {
		t.Error("TempFile in a missing directory: no error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in %s, want the one written", len(entries), dir)
	}
}
