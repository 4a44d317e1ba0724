package report

import (
	"fmt"
	"io"
	"sync"

	"github.com/gearshift-dev/gearshift/internal/report/inert"
)

// Progress is a one-line progress indicator ("observing dev: 12/40 units")
// rewritten in place on a terminal and cleared when done, so that plan and
// status do not show a blank screen while they observe. Off a terminal
// (piped, CI) or when the output is JSON it writes nothing: whether w is a
// terminal is the caller's decision, passed to NewProgress.
type Progress struct {
	w  io.Writer
	on bool

	mu    sync.Mutex
	shown bool
}

// NewProgress writes to w when terminal is true, and never otherwise.
func NewProgress(w io.Writer, terminal bool) *Progress {
	return &Progress{w: w, on: terminal}
}

// eraseLine returns the cursor to the start of the line and erases it.
const eraseLine = "\r\x1b[K"

// Observing returns the callback of driver.ObserveOptions.Progress for
// the environment env; nil when the indicator is off, so that the
// observation does not even call it.
func (p *Progress) Observing(env string) func(done, total int) {
	if p == nil || !p.on {
		return nil
	}
	return func(done, total int) { p.Update("observing "+env, done, total) }
}

// Update shows "what: done/total units" in place of the line shown before.
func (p *Progress) Update(what string, done, total int) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	noun := "units"
	if total == 1 {
		noun = "unit"
	}
	// The environment's name is the state's text: escaped (inert).
	fmt.Fprintf(p.w, "%s%s: %d/%d %s", eraseLine, inert.Text(what), done, total, noun)
	p.shown = true
}

// Clear erases the line, if one is shown, leaving the cursor where the
// line began: what is written next starts on a clean line.
func (p *Progress) Clear() {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		io.WriteString(p.w, eraseLine)
		p.shown = false
	}
}
