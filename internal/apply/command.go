package apply

import (
	"context"
	"errors"
	"time"

	"github.com/gearshift-dev/gearshift/internal/proc"
)

// command is a test, verify or notify command from the state repository:
// an argv run by proc (no shell, the minimal environment plus env, a
// timeout that kills its whole process group, so a script's children
// cannot outlive it).
type command struct {
	argv    []string
	dir     string
	env     map[string]string
	timeout time.Duration
}

// commandOutput is how much of a check's output is kept: only its last line
// is ever shown.
const commandOutput = 64 << 10

// run runs the command and returns an error carrying the exit status and
// the last line of its stderr (or stdout), which is what a user needs to
// see first. Its output is not kept otherwise: it may hold anything.
func (c command) run(ctx context.Context) error {
	if len(c.argv) == 0 || c.argv[0] == "" {
		return errors.New("empty command")
	}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Minute
	}
	res, err := proc.Run(ctx, proc.Cmd{Argv: c.argv, Dir: c.dir, Env: c.env, Timeout: c.timeout, MaxOutput: commandOutput})
	if err != nil {
		return err
	}
	return res.Err()
}
