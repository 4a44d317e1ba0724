package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gearshift-dev/gearshift/internal/state"
)

// inputsHash is a digest of every file the environment's state is made
// of: cue.mod/, the files of environments/ shared by all, and the
// environment's own directory. Two commits with the same digest have the
// same desired state for the environment, so a commit that changes only
// another environment is neither loaded nor planned again: this is what
// makes a one-line change cost one environment's load, not the fleet's.
// A symbolic link is hashed as its target's name, never followed (the
// loader refuses one that leaves the repository anyway).
func inputsHash(root, env string) (string, error) {
	h := sha256.New()
	add := func(rel string, d fs.DirEntry) error {
		io.WriteString(h, rel)
		h.Write([]byte{0})
		p := filepath.Join(root, rel)
		if d.Type()&fs.ModeSymlink != 0 {
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			io.WriteString(h, "link:"+t)
			h.Write([]byte{0})
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(h, f)
		h.Write([]byte{0})
		return err
	}
	walk := func(dir string, recurse bool) error {
		return filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if rel != dir && !recurse {
					return fs.SkipDir
				}
				return nil
			}
			if !recurse && !strings.HasSuffix(rel, ".cue") {
				return nil
			}
			return add(rel, d)
		})
	}
	if err := walk("cue.mod", true); err != nil {
		return "", err
	}
	if err := walk(state.EnvironmentsDir, false); err != nil {
		return "", err
	}
	if err := walk(state.EnvironmentsDir+"/"+env, true); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
