package cli

import (
	"errors"
	"fmt"
)

// Exit codes, the contract of docs/ARCHITECTURE.md.
const (
	ExitOK      = 0 // success: no changes, or applied
	ExitFailure = 1 // an operational failure
	ExitChanges = 2 // the plan has changes (only with --detailed-exitcode)
	ExitDenied  = 3 // a policy denied an action
	ExitInvalid = 4 // the state files are invalid, or a request names an environment the state does not have
	ExitLocked  = 5 // another run holds the environment's lock
)

// exitError carries an exit code with an optional message for stderr.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withCode attaches an exit code to err; a nil err with a code is a silent
// exit (the command already reported).
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

func codeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitFailure
}
