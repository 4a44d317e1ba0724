// Package state loads a gearshift state repository: the CUE files under
// environments/, unified with the embedded schema, decoded into typed Go
// values, and checked for the mistakes the schema cannot express.
//
// Every mistake is a Diagnostic at the file:line:column the user wrote it.
// The package reads files only; it never runs commands, touches targets or
// reaches the network. The one process it starts is its own executable, as
// the evaluator of one environment, bounded in time and memory and with an
// empty environment (bounded.go, child.go). A state is untrusted input: it
// never makes the loader read a file outside the repository, inside .git,
// or through CUE's embedding (guard.go).
//
// Edits to CUE files (for bump pull requests) live in edit.go and change
// only the bytes of the literal they replace.
package state
