package github

import (
	"fmt"
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
