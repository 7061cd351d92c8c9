// Package clock is the time Promote's scheduler, GitHub client and the
// in-memory GitHub run on: the real one, or a scaled one on which minutes of
// simulated promotion pass in milliseconds, for tests and benchmarks.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and sleeps.
type Clock interface {
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

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
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

// Scaled is a clock that runs Scale times faster than the wall clock, from
// the moment it was made.
type Scaled struct {
	Scale float64
	start time.Time
	base  time.Time
}

// NewScaled returns a clock on which a simulated second passes in
// 1/scale real seconds. Its time starts at the current wall time.
func NewScaled(scale float64) *Scaled {
	now := time.Now()
	return &Scaled{Scale: scale, start: now, base: now}
}

// Now returns the simulated time.
func (c *Scaled) Now() time.Time {
	elapsed := time.Since(c.start)
	return c.base.Add(time.Duration(float64(elapsed) * c.Scale))
}

// Sleep waits for the simulated duration d.
func (c *Scaled) Sleep(ctx context.Context, d time.Duration) error {
	return sleep(ctx, time.Duration(float64(d)/c.Scale))
}

// Real converts a simulated duration to the wall-clock time it takes.
func (c *Scaled) Real(d time.Duration) time.Duration { return time.Duration(float64(d) / c.Scale) }
