package durable

import "os"

// TempFile writes data to a new file in dir named after pattern (as
// os.CreateTemp names it, mode 0600), fsyncs and closes it, and returns its
// name. The file is whole on disk before the caller renames or links it
// into place, and the caller removes the name afterwards; on an error
// TempFile leaves nothing behind.
func TempFile(dir, pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
