package evidence

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Entry is a record of a log that verified, as Read returns it.
type Entry struct {
	// Key is the record's key in the store.
	Key string
	// Commit is the commit the record is about.
	Commit string
	// Subjects are the record's subjects with a SHA-256 digest, such as
	// the plan.
	Subjects []Subject
	// Version is the predicate's version: 1 or 2. A v1 record lacks the
	// fields that v2 added.
	Version int
	Predicate
}

// Subject returns the SHA-256 of the entry's subject called name, or "".
func (e *Entry) Subject(name string) string {
	for _, s := range e.Subjects {
		if s.Name == name {
			return s.SHA256
		}
	}
	return ""
}

// Finished returns when the recorded work ended, or the zero time if the
// record's time does not parse.
func (e *Entry) Finished() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, e.FinishedAt)
	return t
}

// UnverifiedError is Read's answer for a log that does not verify: none of
// its records is to be trusted.
type UnverifiedError struct {
	Report *Report
}

func (e *UnverifiedError) Error() string {
	n := len(e.Report.Failures)
	if n == 0 {
		return "the evidence does not verify"
	}
	// A record's problem says most; the checkpoints over it fail too.
	f := e.Report.Failures[0]
	for _, g := range e.Report.Failures {
		if strings.HasPrefix(g.Key, RecordsPrefix) {
			f = g
			break
		}
	}
	more := ""
	if n > 1 {
		more = fmt.Sprintf(" (and %d more problems)", n-1)
	}
	return fmt.Sprintf("the evidence does not verify: %s (seq %d): %s%s", f.Key, f.Seq, f.Reason, more)
}

// Read verifies the whole log in store as Verify does and returns its
// records in sequence order. Records are read only from a log that passes
// every check: when any check fails, Read returns an *UnverifiedError with
// the report and no entries, because a log with one forged, changed or
// missing record cannot vouch for the others.
func (v *Verifier) Read(ctx context.Context, store Store) ([]Entry, error) {
	report, entries, err := v.ReadReport(ctx, store)
	if err == nil && !report.OK() {
		err = &UnverifiedError{Report: report}
	}
	return entries, err
}

// ReadReport is Read that also returns Verify's report, which says how far
// the checkpoints reach; the entries are nil unless the report is OK.
func (v *Verifier) ReadReport(ctx context.Context, store Store) (*Report, []Entry, error) {
	report, records, err := v.verify(ctx, store)
	if err != nil {
		return nil, nil, err
	}
	if !report.OK() {
		return report, nil, nil
	}
	entries := make([]Entry, 0, len(records))
	for _, r := range records {
		entries = append(entries, Entry{Key: r.key, Commit: r.st.commit, Subjects: r.st.subjects, Version: r.st.version, Predicate: r.st.predicate})
	}
	return report, entries, nil
}

// LastPromotions returns, for each node, the newest promotion record of
// commit that tried to deploy it (attempts above 0), from entries in
// sequence order. A node skipped or cancelled before it started changed
// nothing, so its record does not hide an earlier one; any other outcome
// is the node's latest state for the commit: a success, or a failure that a
// rerun must repair.
func LastPromotions(entries []Entry, commit string) map[string]Entry {
	last := map[string]Entry{}
	for _, e := range entries {
		if e.Kind == KindPromotion && e.Commit == commit && e.Attempts > 0 {
			last[e.Node] = e
		}
	}
	return last
}
