// Package durable writes files on this machine so that a crash leaves
// either the whole file or none of it: a temporary file written and
// fsync'd before its caller moves it into place (a rename for the status
// record, a hard link for the apply lock).
//
// It must never decide where a file goes or what it holds: the callers own
// their names, their formats and how the file is put in place.
package durable
