package github

import (
	"context"
	"time"
)

// Backoff spaces out the polls of something that changes at its own pace,
// such as a workflow run: it polls quickly while things change and slows
// down while they do not, which spends fewer requests than a fixed interval
// on long waits (an approval can take days) and reacts as fast on short ones.
// The zero Backoff polls every second. A Backoff is not safe for concurrent
// use.
type Backoff struct {
	// Min is the interval after a change, and the first one; 0 means 1s.
	Min time.Duration
	// Max bounds the interval; below Min it counts as Min.
	Max time.Duration
	// Factor multiplies the interval after each poll that saw no change;
	// values below 1 count as 2.
	Factor float64

	cur time.Duration
}

// Next returns how long to wait before the next poll, given whether the last
// one saw a change: Min after a change (and on the first call), otherwise the
// previous interval times Factor, up to Max.
func (b *Backoff) Next(changed bool) time.Duration {
	lo := b.Min
	if lo <= 0 {
		lo = time.Second
	}
	hi := max(b.Max, lo)
	factor := b.Factor
	if factor < 1 {
		factor = 2
	}
	if changed || b.cur == 0 {
		b.cur = lo
		return b.cur
	}
	if next := float64(b.cur) * factor; next < float64(hi) {
		b.cur = time.Duration(next)
	} else {
		b.cur = hi // compared as floats: the product may not fit a Duration
	}
	return b.cur
}

// Poll calls check until it reports done or fails, waiting between calls as
// b says, with the Client's Sleep (so that scaled time applies). It returns
// check's error, or the wait's when ctx ends first.
func (c *Client) Poll(ctx context.Context, b *Backoff, check func(ctx context.Context) (done, changed bool, err error)) error {
	for {
		done, changed, err := check(ctx)
		if err != nil || done {
			return err
		}
		if err := c.sleep(ctx, b.Next(changed)); err != nil {
			return err
		}
	}
}
