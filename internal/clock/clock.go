// Package clock is the time Promote's scheduler, its GitHub executor and the
// in-memory GitHub run on: the real one; a scaled one on which minutes of
// simulated promotion pass in milliseconds, for tests and benchmarks; and a
// manual one that moves only when told to.
//
// Tests that assert on durations use none of the fakes: they run inside a
// testing/synctest bubble, where Real's time.Now and timers are the bubble's
// fake clock. It advances only when every goroutine of the bubble is blocked,
// so a slow machine cannot stretch simulated time as it can on a Scaled
// clock. Scaled remains for benchmarks and the demo.
package clock

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Clock tells the time and sleeps.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever is first, and
	// returns ctx's error in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the wall clock.
type Real struct{}

// Now returns the current time.
func (Real) Now() time.Time { return time.Now() }

// Sleep waits for d or ctx.
func (Real) Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

// sleep waits for the real duration d or for ctx. A wait that would run past
// ctx's deadline fails at once, saying so, instead of sleeping into it: that
// saves a job from sleeping just to time out, and since ctx is not done yet,
// callers such as go-github pass this error on instead of ctx.Err().
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return fmt.Errorf("waiting %v would run past the deadline: %w", d, context.DeadlineExceeded)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Scaled runs Scale times faster than the wall clock, starting at the wall
// time of its creation.
type Scaled struct {
	scale float64
	wall  time.Time // creation time without a monotonic reading
	mono  time.Time // creation time with one, to measure elapsed time
}

// NewScaled returns a clock whose time starts now and runs scale times faster
// than real time: with scale 60000, a simulated minute passes in a real
// millisecond, and Sleep(ctx, time.Minute) returns after one millisecond. A
// scale of zero or less means 1.
func NewScaled(scale float64) *Scaled {
	if scale <= 0 {
		scale = 1
	}
	now := time.Now()
	return &Scaled{scale: scale, wall: now.Round(0), mono: now}
}

// Now returns the simulated time.
func (c *Scaled) Now() time.Time {
	return c.wall.Add(time.Duration(float64(time.Since(c.mono)) * c.scale))
}

// Sleep waits for the simulated duration d.
func (c *Scaled) Sleep(ctx context.Context, d time.Duration) error {
	return sleep(ctx, time.Duration(float64(d)/c.scale))
}

// Manual is a clock that only moves when told to, for tests that step
// through states. Sleep advances it instead of blocking, as if the caller
// were alone in the world and slept.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// NewManual returns a Manual clock showing start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the clock's time.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Sleep advances the clock by d and returns at once, unless ctx is already
// done.
func (c *Manual) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.Advance(d)
	}
	return nil
}
