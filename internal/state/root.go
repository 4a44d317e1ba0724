package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FindRoot returns the state repository that holds dir: dir itself or its
// closest parent with a cue.mod/ or an environments/ directory, so that
// gearshift run from environments/dev reads the whole repository, as git
// and cue do. It returns dir, made absolute, when no parent qualifies:
// loading it then says what is missing.
func FindRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", noDirectory(abs, err)
	}
	for d := abs; ; {
		for _, marker := range []string{"cue.mod", EnvironmentsDir} {
			if fi, err := os.Stat(filepath.Join(d, marker)); err == nil && fi.IsDir() {
				return d, nil
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return abs, nil
		}
		d = parent
	}
}

// noDirectory words a failure to open the repository's root directory.
func noDirectory(root string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state repository %s: no such directory", root)
	}
	return err
}
