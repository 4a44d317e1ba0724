// Package cli is gearshift's command line: it parses flags (cobra), runs one
// function per command that reads top to bottom (load desired -> observe ->
// plan -> render, and for apply -> lock -> execute -> journal), and maps
// outcomes to the exit codes of docs/ARCHITECTURE.md.
//
// Commands compute; the report package renders. cli never prints secrets:
// tokens are read from the environment and handed to the packages that use
// them, never formatted.
package cli
