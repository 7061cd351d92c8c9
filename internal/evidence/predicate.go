package evidence

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The predicate's versions. Append writes the current one; the decoder
// reads every version, and refuses a field newer than the record's
// predicate type says.
const (
	predicateV1 = 1
	predicateV2 = 2
	// currentPredicate is the version Append writes.
	currentPredicate = predicateV2
)

// predicateField is one field of the predicate, everything about it in one
// place: its JSON name, the predicate version that introduced it, the kinds
// of record that may carry it, how Append checks and writes it, and how the
// decoder reads it.
//
// To add a field: add it to Predicate (and to Record, if Append writes it),
// describe it in schema/evidence-predicate.schema.json, and list a
// predicateField for it in a slice of your own file (see runFields in
// run.go) that predicateFields concatenates.
type predicateField struct {
	name string
	// since is the first predicate version with the field.
	since int
	// kinds are the kinds of record that may carry the field; nil means
	// every kind.
	kinds []Kind
	// check returns why Append must refuse the record's value, if it
	// must. It may be nil.
	check func(r *Record) error
	// put adds the field to the predicate Append writes, when the record
	// has it. Fields of version 1 are written by Record.statement.
	put func(r *Record, m map[string]any)
	// read decodes the field's value into p.
	read func(r *jsonReader, p *Predicate) error
}

// predicateFields lists every field the decoder accepts, in the order of
// Predicate's fields.
var predicateFields = slices.Concat(v1Fields, runFields, meshFields)

// predicateNames are predicateFields' names, for jsonReader.fields.
var predicateNames = func() []string {
	names := make([]string, len(predicateFields))
	for i, f := range predicateFields {
		names[i] = f.name
	}
	if len(names) > 64 {
		panic("evidence: more than 64 predicate fields do not fit the decoder's bit set")
	}
	return names
}()

// v1Fields are the fields of predicate version 1.
var v1Fields = []predicateField{
	{name: "kind", since: predicateV1, read: func(r *jsonReader, p *Predicate) error {
		s, err := r.str()
		p.Kind = Kind(s)
		return err
	}},
	{name: "service", since: predicateV1, read: readString(func(p *Predicate) *string { return &p.Service })},
	{name: "environment", since: predicateV1, read: readString(func(p *Predicate) *string { return &p.Environment })},
	{name: "node", since: predicateV1, read: readString(func(p *Predicate) *string { return &p.Node })},
	{name: "deployment_id", since: predicateV1, read: func(r *jsonReader, p *Predicate) error {
		n, err := r.integer(maxSeq)
		p.DeploymentID = int64(n)
		return err
	}},
	{name: "workflow_run_url", since: predicateV1, read: readString(func(p *Predicate) *string { return &p.WorkflowRunURL })},
	{name: "actor", since: predicateV1, read: readString(func(p *Predicate) *string { return &p.Actor })},
	{name: "approvers", since: predicateV1, read: func(r *jsonReader, p *Predicate) error {
		var err error
		p.Approvers, err = r.strings()
		return err
	}},
	{name: "started_at", since: predicateV1, read: readString(func(p *Predicate) *string { return &p.StartedAt })},
	{name: "finished_at", since: predicateV1, read: readString(func(p *Predicate) *string { return &p.FinishedAt })},
	{name: "outcome", since: predicateV1, read: readString(func(p *Predicate) *string { return &p.Outcome })},
	{name: "attempts", since: predicateV1, read: readInt(func(p *Predicate) *int { return &p.Attempts })},
	{name: "mesh_report_sha256", since: predicateV1, read: readString(func(p *Predicate) *string { return &p.MeshReportSHA256 })},
	{name: "seq", since: predicateV1, read: func(r *jsonReader, p *Predicate) error {
		var err error
		p.Seq, err = r.integer(maxSeq)
		return err
	}},
	{name: "prev", since: predicateV1, read: readString(func(p *Predicate) *string { return &p.Prev })},
}

// readString returns a read function that decodes a string into the field
// at returns.
func readString(at func(p *Predicate) *string) func(r *jsonReader, p *Predicate) error {
	return func(r *jsonReader, p *Predicate) error {
		var err error
		*at(p), err = r.str()
		return err
	}
}

// readInt returns a read function that decodes a whole number from 0 to
// 2^53-1 into the field at returns.
func readInt(at func(p *Predicate) *int) func(r *jsonReader, p *Predicate) error {
	return func(r *jsonReader, p *Predicate) error {
		n, err := r.integer(maxSeq)
		*at(p) = int(n)
		return err
	}
}

// readSeconds returns a read function that decodes a non-negative number
// into the field at returns.
func readSeconds(at func(p *Predicate) *float64) func(r *jsonReader, p *Predicate) error {
	return func(r *jsonReader, p *Predicate) error {
		var err error
		*at(p), err = r.seconds()
		return err
	}
}

// seconds reads a finite number of 0 or more, such as a duration in
// seconds.
func (r *jsonReader) seconds() (float64, error) {
	s, err := r.number()
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) {
		return 0, fmt.Errorf("number %s: want a finite number of 0 or more", s)
	}
	return f, nil
}

// timeValue is how a time is written in a predicate: RFC 3339 in UTC, with
// as many fractional digits as it has.
func timeValue(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// checkPredicateFields refuses fields that the record's version or kind
// does not allow; seen has a bit set for each of predicateFields present.
func checkPredicateFields(seen uint64, version int, kind Kind) error {
	for i, f := range predicateFields {
		if seen&(1<<i) == 0 {
			continue
		}
		if f.since > version {
			return fmt.Errorf("predicate field %q is new in predicate v%d, but the record's predicate type is v%d", f.name, f.since, version)
		}
		if f.kinds != nil && !slices.Contains(f.kinds, kind) {
			return fmt.Errorf("predicate field %q is not allowed in a %s record: only in %q", f.name, kind, f.kinds)
		}
	}
	return nil
}

// checkFields runs every field's check on r, and refuses a field whose
// kind does not allow it.
func (r *Record) checkFields() error {
	m := map[string]any{}
	for _, f := range predicateFields {
		if f.check != nil {
			if err := f.check(r); err != nil {
				return err
			}
		}
		if f.put == nil || f.kinds == nil || slices.Contains(f.kinds, r.Kind) {
			continue
		}
		clear(m)
		f.put(r, m)
		if len(m) > 0 {
			return fmt.Errorf("%s is set, but only %q records carry it", strings.ReplaceAll(f.name, "_", " "), f.kinds)
		}
	}
	return nil
}
