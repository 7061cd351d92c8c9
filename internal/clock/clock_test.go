package clock

import (
	"context"
	"testing"
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
