package apply

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/gearshift-dev/gearshift/internal/report/inert"
)

// Event is one step of a run, for progress output.
type Event struct {
	Env  string
	Unit string
	// Kind is "start" (an action began), "step" (a phase or a driver
	// event), "end" (the action ended with Outcome) or "note" (a run-level
	// message: resuming, a broken lock).
	Kind    string
	Msg     string
	Outcome Outcome
	Seconds float64
}

// Progress receives a run's events. It must be safe for concurrent use:
// the actions of a wave report from their own goroutines.
type Progress interface {
	Event(Event)
}

// Discard is a Progress that drops every event.
var Discard Progress = discard{}

type discard struct{}

func (discard) Event(Event) {}

// Lines writes one line per event: for logs and CI, where carriage returns
// would be noise.
type Lines struct {
	mu sync.Mutex
	W  io.Writer
}

func (l *Lines) Event(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.W, inert.Text(eventLine(e)))
}

func eventLine(e Event) string {
	switch e.Kind {
	case "note":
		return fmt.Sprintf("gearshift: %s: %s", e.Env, e.Msg)
	case "end":
		s := fmt.Sprintf("gearshift: %s %s: %s (%s)", e.Env, e.Unit, e.Outcome, seconds(e.Seconds))
		if e.Msg != "" {
			s += ": " + e.Msg
		}
		return s
	}
	return fmt.Sprintf("gearshift: %s %s: %s", e.Env, e.Unit, e.Msg)
}

// Live keeps one line per running action at the bottom of a terminal,
// rewritten in place as the actions move on; finished actions and notes
// scroll above it. Close must be called to stop its clock and clear the
// lines.
type Live struct {
	mu      sync.Mutex
	w       io.Writer
	fd      int
	running map[string]*liveAction
	drawn   int
	stop    chan struct{}
	done    chan struct{}
}

type liveAction struct {
	env, unit, msg string
	start          time.Time
}

// NewLive starts live progress on w, a terminal with file descriptor fd.
func NewLive(w io.Writer, fd int) *Live {
	l := &Live{w: w, fd: fd, running: map[string]*liveAction{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.mu.Lock()
				l.redraw()
				l.mu.Unlock()
			}
		}
	}()
	return l
}

func (l *Live) Event(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := e.Env + "\x00" + e.Unit
	switch e.Kind {
	case "start":
		l.running[key] = &liveAction{env: e.Env, unit: e.Unit, msg: e.Msg, start: time.Now()}
	case "step":
		if a := l.running[key]; a != nil {
			a.msg = e.Msg
		}
	case "end":
		delete(l.running, key)
		l.print(inert.Text(eventLine(e)))
	default:
		l.print(inert.Text(eventLine(e)))
	}
	l.redraw()
}

// Close stops the clock and clears the live lines.
func (l *Live) Close() {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.erase()
}

func (l *Live) erase() {
	if l.drawn > 0 {
		fmt.Fprintf(l.w, "\r\x1b[%dA\x1b[J", l.drawn)
		l.drawn = 0
	}
}

func (l *Live) print(line string) {
	l.erase()
	fmt.Fprintln(l.w, line)
}

const maxLiveLines = 12

func (l *Live) redraw() {
	l.erase()
	if len(l.running) == 0 {
		return
	}
	as := make([]*liveAction, 0, len(l.running))
	for _, a := range l.running {
		as = append(as, a)
	}
	sort.Slice(as, func(i, j int) bool { return as[i].start.Before(as[j].start) })
	width := termWidth(l.fd)
	var b strings.Builder
	n := 0
	for i, a := range as {
		if i == maxLiveLines-1 && len(as) > maxLiveLines {
			fmt.Fprintf(&b, "  ... and %d more running\n", len(as)-i)
			n++
			break
		}
		line := fmt.Sprintf("  %s %s: %s (%s)", a.env, a.unit, inert.Text(a.msg), time.Since(a.start).Truncate(time.Second))
		if len(line) > width-1 {
			line = line[:width-1]
		}
		b.WriteString(line + "\n")
		n++
	}
	io.WriteString(l.w, b.String())
	l.drawn = n
}

// termWidth asks the terminal its width; 80 when it will not say.
func termWidth(fd int) int {
	var ws struct{ row, col, x, y uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws)))
	if errno != 0 || ws.col == 0 {
		return 80
	}
	return int(ws.col)
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
