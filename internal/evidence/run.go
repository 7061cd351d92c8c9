package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"
)

// RunSummary describes the promotion run that wrote a record: the same in
// every promotion record of one run (predicate v2, field "run"). With it,
// KPIs compute a run's makespan, its ratio to the lower bound and its
// parallel efficiency from the evidence alone.
type RunSummary struct {
	// ID names the run, e.g. the workflow run's id and attempt
	// ("9000000-1"), or the plan's digest and start time outside Actions.
	ID         string    `json:"id"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// MakespanSeconds is the time from the run's first node's start to its
	// last node's end.
	MakespanSeconds float64 `json:"makespan_seconds"`
	// LowerBoundSeconds is the plan's critical path with the durations the
	// nodes took: no schedule can finish sooner.
	LowerBoundSeconds float64 `json:"lower_bound_seconds"`
	// MaxParallel is the run's concurrency limit.
	MaxParallel int `json:"max_parallel"`
	// BusySeconds is the sum of the nodes' durations, so that
	// BusySeconds ÷ (MakespanSeconds × MaxParallel) is the run's parallel
	// efficiency.
	BusySeconds float64 `json:"busy_seconds"`
}

var runSummaryFields = []string{"id", "started_at", "finished_at", "makespan_seconds", "lower_bound_seconds", "max_parallel", "busy_seconds"}

// promotionOnly are the kinds that carry a node's timings.
var promotionOnly = []Kind{KindPromotion}

// runFields are the promotion record's fields for KPIs (predicate v2).
var runFields = []predicateField{
	{
		name: "queued_at", since: predicateV2, kinds: promotionOnly,
		put: func(r *Record, m map[string]any) {
			if !r.QueuedAt.IsZero() {
				m["queued_at"] = timeValue(r.QueuedAt)
			}
		},
		read: readString(func(p *Predicate) *string { return &p.QueuedAt }),
	},
	{
		name: "approval_wait_seconds", since: predicateV2, kinds: promotionOnly,
		check: func(r *Record) error {
			if r.ApprovalWait < 0 {
				return fmt.Errorf("approval wait %v: want 0 or more", r.ApprovalWait)
			}
			return nil
		},
		put: func(r *Record, m map[string]any) {
			if r.ApprovalWait > 0 {
				m["approval_wait_seconds"] = r.ApprovalWait.Seconds()
			}
		},
		read: readSeconds(func(p *Predicate) *float64 { return &p.ApprovalWaitSeconds }),
	},
	{
		name: "commit_time", since: predicateV2, kinds: promotionOnly,
		put: func(r *Record, m map[string]any) {
			if !r.CommitTime.IsZero() {
				m["commit_time"] = timeValue(r.CommitTime)
			}
		},
		read: readString(func(p *Predicate) *string { return &p.CommitTime }),
	},
	{
		name: "api_requests", since: predicateV2, kinds: promotionOnly,
		check: func(r *Record) error {
			if r.APIRequests < 0 || r.APIRequests > maxSeq {
				return fmt.Errorf("api requests %d: want 0 to %d", r.APIRequests, int64(maxSeq))
			}
			return nil
		},
		put: func(r *Record, m map[string]any) {
			if r.APIRequests > 0 {
				m["api_requests"] = float64(r.APIRequests)
			}
		},
		read: readInt(func(p *Predicate) *int { return &p.APIRequests }),
	},
	{
		name: "run", since: predicateV2, kinds: promotionOnly,
		check: func(r *Record) error {
			if r.Run == nil {
				return nil
			}
			return r.Run.validate()
		},
		put: func(r *Record, m map[string]any) {
			if s := r.Run; s != nil {
				m["run"] = map[string]any{
					"id":                  s.ID,
					"started_at":          timeValue(s.StartedAt),
					"finished_at":         timeValue(s.FinishedAt),
					"makespan_seconds":    s.MakespanSeconds,
					"lower_bound_seconds": s.LowerBoundSeconds,
					"max_parallel":        float64(s.MaxParallel),
					"busy_seconds":        s.BusySeconds,
				}
			}
		},
		read: func(r *jsonReader, p *Predicate) error {
			s := &RunSummary{}
			seen, err := r.fields("run", runSummaryFields, func(i int) error {
				var err error
				switch i {
				case 0:
					s.ID, err = r.str()
				case 1:
					s.StartedAt, err = r.time()
				case 2:
					s.FinishedAt, err = r.time()
				case 3:
					s.MakespanSeconds, err = r.seconds()
				case 4:
					s.LowerBoundSeconds, err = r.seconds()
				case 5:
					var n uint64
					n, err = r.integer(maxSeq)
					s.MaxParallel = int(n)
				case 6:
					s.BusySeconds, err = r.seconds()
				}
				if err != nil {
					return fmt.Errorf("%s: %w", runSummaryFields[i], err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if err := missing(seen, runSummaryFields); err != nil {
				return fmt.Errorf("run: %w", err)
			}
			p.Run = s
			return nil
		},
	},
}

// validate checks what the JSON Schema checks of a run.
func (s *RunSummary) validate() error {
	switch {
	case s.ID == "":
		return errors.New("run id is empty: name the run")
	case s.StartedAt.IsZero() || s.FinishedAt.IsZero():
		return errors.New("run started and finished times are required")
	case s.FinishedAt.Before(s.StartedAt):
		return fmt.Errorf("run finished at %s, before it started at %s", timeValue(s.FinishedAt), timeValue(s.StartedAt))
	case s.MaxParallel < 1 || s.MaxParallel > maxSeq:
		return fmt.Errorf("run max parallel %d: want 1 or more", s.MaxParallel)
	}
	for _, v := range []float64{s.MakespanSeconds, s.LowerBoundSeconds, s.BusySeconds} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("run durations %v, %v, %v: want finite numbers of seconds, 0 or more", s.MakespanSeconds, s.LowerBoundSeconds, s.BusySeconds)
		}
	}
	return nil
}

// time reads an RFC 3339 time, as encoding/json reads a time.Time: from
// the string's raw bytes, so escapes are refused as encoding/json refuses
// them.
func (r *jsonReader) time() (time.Time, error) {
	r.ws()
	start := r.i
	b, err := r.rawStr()
	if err != nil {
		return time.Time{}, err
	}
	if bytes.IndexByte(r.b[start:r.i], '\\') >= 0 {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 without escapes, e.g. 2026-05-04T09:30:00Z", b)
	}
	var t time.Time
	if err := t.UnmarshalText(b); err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339, e.g. 2026-05-04T09:30:00Z", b)
	}
	return t, nil
}

// missing returns an error naming the first of names that seen lacks.
func missing(seen uint64, names []string) error {
	for i, name := range names {
		if seen&(1<<i) == 0 {
			return fmt.Errorf("no %q", name)
		}
	}
	return nil
}
