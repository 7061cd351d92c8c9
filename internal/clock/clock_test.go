package clock

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestScaledClock(t *testing.T) {
	t.Parallel()
	c := NewScaled(60000)
	start := c.Now()
	if err := c.Sleep(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := c.Now().Sub(start); got < time.Minute {
		t.Errorf("after sleeping a simulated minute, %v passed", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestManual(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	c := NewManual(start)
	if err := c.Sleep(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	if got := c.Now().Sub(start); got != time.Hour+time.Minute {
		t.Errorf("Now() - start = %v, want 1h1m0s", got)
	}
}

// TestRealInBubble is what the duration-asserting tests rely on: inside a
// testing/synctest bubble, Real sleeps and tells the bubble's fake time, so
// an hour passes at once and exactly.
func TestRealInBubble(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var c Real
		start := c.Now()
		if err := c.Sleep(context.Background(), time.Hour); err != nil {
			t.Fatal(err)
		}
		if got := c.Now().Sub(start); got != time.Hour {
			t.Errorf("after Sleep(1h), %v passed, want exactly 1h", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) || c.Now().Sub(start) != time.Hour {
			t.Errorf("Sleep(1h) with a minute left = %v after %v, want DeadlineExceeded at once", err, c.Now().Sub(start)-time.Hour)
		}
	})
}
