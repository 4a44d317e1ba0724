package apply

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAcquireWait: with Wait, a held lock is waited for and taken once
// released (Waited says so); a lock still held when Wait has passed is a
// *LockWaitError that is also a *LockedError (exit 5); without Wait the
// lock fails at once, as before.
func TestAcquireWait(t *testing.T) {
	ctx := context.Background()
	d := LocalDir(t.TempDir())
	held, err := Acquire(ctx, d, "dev", NewLockInfo("r1", []string{"gearshift", "apply", "dev"}, time.Now()), LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if held.Waited() {
		t.Error("a free lock was waited for")
	}
	if _, err := Acquire(ctx, d, "dev", NewLockInfo("r2", nil, time.Now()), LockOptions{}); !IsLocked(err) {
		t.Fatalf("without Wait: %v, want locked", err)
	}

	var told *LockedError
	_, err = Acquire(ctx, d, "dev", NewLockInfo("r3", nil, time.Now()), LockOptions{Wait: 50 * time.Millisecond, Poll: 10 * time.Millisecond,
		Waiting: func(le *LockedError) { told = le }})
	var we *LockWaitError
	if !errors.As(err, &we) || !IsLocked(err) || !strings.HasPrefix(err.Error(), "waited 50ms for the lock: environment dev is locked by ") {
		t.Errorf("after the wait: %v, want a LockWaitError that is locked", err)
	}
	if told == nil || told.Info.Run != "r1" {
		t.Errorf("Waiting was told %+v, want the holder r1", told)
	}

	released := make(chan struct{})
	got := make(chan error, 1)
	var l *Lock
	go func() {
		var err error
		l, err = Acquire(ctx, d, "dev", NewLockInfo("r4", nil, time.Now()), LockOptions{Wait: time.Minute, Poll: 10 * time.Millisecond,
			Waiting: func(*LockedError) { close(released) }})
		got <- err
	}()
	<-released // it waits: now the holder releases
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiting Acquire: %v", err)
	}
	if !l.Waited() || l.Info().Run != "r4" {
		t.Errorf("lock %+v waited %v, want r4 after a wait", l.Info(), l.Waited())
	}
	l.Release(ctx)
}

// BenchmarkLockWaitHandover prints how long a waiting apply takes to get
// the lock after its holder releases it, with the default poll (1s): at
// most one poll.
func BenchmarkLockWaitHandover(b *testing.B) {
	ctx := context.Background()
	d := LocalDir(b.TempDir())
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		held, err := Acquire(ctx, d, "dev", NewLockInfo("h", nil, time.Now()), LockOptions{})
		if err != nil {
			b.Fatal(err)
		}
		waiting := make(chan struct{})
		done := make(chan time.Time, 1)
		go func() {
			l, err := Acquire(ctx, d, "dev", NewLockInfo("w", nil, time.Now()), LockOptions{Wait: time.Minute,
				Waiting: func(*LockedError) { close(waiting) }})
			if err != nil {
				b.Error(err)
			}
			done <- time.Now()
			l.Release(ctx)
		}()
		<-waiting
		start := time.Now()
		held.Release(ctx)
		total += (<-done).Sub(start)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-handover")
}
