package github

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// DefaultWritesPerHour is GitHub's secondary limit on content-creating
// requests an hour, which Promote's writes stay under by default.
const DefaultWritesPerHour = 500

// arrivalMargin lengthens each window of the write limiter: Promote books a
// write for the moment it decides to send it, but GitHub counts it when it
// arrives, a little later. Without a margin, a write booked exactly a window
// after the n-th before it can arrive while GitHub still counts that one.
const arrivalMargin = 2 * time.Second

// writeLimit is one of GitHub's limits on content-creating requests: at most
// n in any period.
type writeLimit struct {
	n      int
	period time.Duration
}

func (l writeLimit) String() string {
	if l.period == time.Hour {
		return fmt.Sprintf("%d writes an hour", l.n)
	}
	return fmt.Sprintf("%d writes a minute", l.n)
}

// writeWindow books the start of every write, attempts that GitHub refuses
// included, since GitHub counts those too. A write starts at the earliest
// moment at which, for each limit, the n-th booking before it lies more
// than period + arrivalMargin earlier. A burst of up to half the first
// limit goes out at once; beyond that, writes are spread at the limit's
// sustained rate instead of going out in bursts at each window's edge.
type writeWindow struct {
	mu     sync.Mutex
	limits []writeLimit // the per-minute one, if on, first: it paces
	keep   int          // the largest n: how many bookings matter
	booked []time.Time  // the latest bookings, oldest first; never decreasing
}

// newWriteLimiter returns a writeWindow of perMinute and perHour writes
// (each off when negative), or nil for no throttle when both are off.
func newWriteLimiter(perMinute, perHour int) *writeWindow {
	w := &writeWindow{}
	if perMinute >= 0 {
		w.limits = append(w.limits, writeLimit{n: max(perMinute, 1), period: time.Minute})
	}
	if perHour >= 0 {
		w.limits = append(w.limits, writeLimit{n: max(perHour, 1), period: time.Hour})
	}
	if len(w.limits) == 0 {
		return nil
	}
	for _, l := range w.limits {
		w.keep = max(w.keep, l.n)
	}
	return w
}

// String names the limits, for messages.
func (w *writeWindow) String() string {
	s := ""
	for i, l := range w.limits {
		if i > 0 {
			s += " and "
		}
		s += l.String()
	}
	return s
}

// reserve books the earliest start at or after now that keeps every limit,
// with its margin, and returns it.
func (w *writeWindow) reserve(now time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bookLocked(now)
}

// reserveClose books n starts that lie close together: the earliest at or
// after now for which the n-th follows the first within the sustained
// spacing, so that none of them waits long for the others.
func (w *writeWindow) reserveClose(now time.Time, n int) []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	spread := time.Duration(n) * (time.Minute + arrivalMargin) / time.Duration(w.limits[0].n)
	from := now
	for range 20 { // converges in two or three rounds
		kept := slices.Clone(w.booked)
		slots := make([]time.Time, n)
		for i := range slots {
			slots[i] = w.bookLocked(from)
		}
		if slots[n-1].Sub(slots[0]) <= spread {
			return slots
		}
		w.booked = kept
		from = slots[n-1].Add(-spread)
	}
	slots := make([]time.Time, n)
	for i := range slots {
		slots[i] = w.bookLocked(from)
	}
	return slots
}

func (w *writeWindow) bookLocked(now time.Time) time.Time {
	start := now
	k := len(w.booked)
	if k > 0 && w.booked[k-1].After(start) {
		start = w.booked[k-1] // in order: the n-th booking back is the n-th write back
	}
	for _, l := range w.limits {
		if k >= l.n {
			if t := w.booked[k-l.n].Add(l.period + arrivalMargin); t.After(start) {
				start = t
			}
		}
	}
	if pace := w.limits[0]; k > 0 && pace.period == time.Minute {
		from := start.Add(-pace.period)
		inWindow := k - sort.Search(k, func(i int) bool { return w.booked[i].After(from) })
		if inWindow >= pace.n/2 {
			if t := w.booked[k-1].Add((pace.period + arrivalMargin) / time.Duration(pace.n)); t.After(start) {
				start = t
			}
		}
	}
	w.booked = append(w.booked, start)
	if len(w.booked) > 2*w.keep {
		w.booked = append(w.booked[:0], w.booked[len(w.booked)-w.keep:]...)
	}
	return start
}

// release gives back a booking whose write was not sent at its start. The
// writes booked after it keep their starts: one write fewer in a window
// never breaks a limit.
func (w *writeWindow) release(start time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.booked) - 1; i >= 0; i-- {
		if w.booked[i].Equal(start) {
			w.booked = append(w.booked[:i], w.booked[i+1:]...)
			return
		}
	}
}

// staleSlot is how late a write may go out after a start booked for it in
// advance: later than that, it gives the start back and books a new one.
const staleSlot = time.Second

// writeTicket holds starts booked in advance for the next writes of a
// context.
type writeTicket struct {
	mu    sync.Mutex
	slots []time.Time
}

type ticketKey struct{}

// next takes the ticket's next start, or reports that it has none left.
func (t *writeTicket) next() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.slots) == 0 {
		return time.Time{}, false
	}
	s := t.slots[0]
	t.slots = t.slots[1:]
	return s, true
}

// ReserveWrites waits until the write limits let n writes go out close
// together, books them, and returns a context whose next n writes use them,
// with a function that gives back what was not used. A promotion books the
// dispatch of a run and the status that lets the run go ahead this way, so
// that a run never waits for its go-ahead behind the limits. Without write
// limits it returns ctx as it is.
func (c *Client) ReserveWrites(ctx context.Context, n int) (context.Context, func(), error) {
	w := c.transport.writes
	if w == nil || n <= 0 {
		return ctx, func() {}, nil
	}
	now := c.transport.now()
	t := &writeTicket{slots: w.reserveClose(now, n)}
	release := func() {
		for {
			s, ok := t.next()
			if !ok {
				return
			}
			w.release(s)
		}
	}
	if d := t.slots[0].Sub(now); d > 0 {
		if err := c.transport.sleep(ctx, d); err != nil {
			release()
			return ctx, func() {}, fmt.Errorf("waiting %v to stay under GitHub's %v: %w", d.Round(time.Millisecond), w, err)
		}
	}
	return context.WithValue(ctx, ticketKey{}, t), release, nil
}

// bookedStart returns a start booked in advance for this write, if ctx
// holds one that is not stale.
func (w *writeWindow) bookedStart(ctx context.Context, now time.Time) (time.Time, bool) {
	t, _ := ctx.Value(ticketKey{}).(*writeTicket)
	if t == nil {
		return time.Time{}, false
	}
	for {
		s, ok := t.next()
		if !ok {
			return time.Time{}, false
		}
		if !s.Before(now.Add(-staleSlot)) {
			return s, true
		}
		w.release(s)
	}
}

// MinWriteSpan is the least time from the first to the last of n writes
// under the write limits a Client with perMinute and perHour keeps (0 for
// the defaults, as in Config): the bound that the write budget sets on the
// makespan of a promotion that needs n writes.
func MinWriteSpan(n, perMinute, perHour int) time.Duration {
	cfg := Config{WritesPerMinute: perMinute, WritesPerHour: perHour}.withDefaults()
	w := newWriteLimiter(cfg.WritesPerMinute, cfg.WritesPerHour)
	if w == nil || n <= 0 {
		return 0
	}
	var t0, last time.Time
	for range n {
		last = w.reserve(t0)
	}
	return last.Sub(t0)
}
