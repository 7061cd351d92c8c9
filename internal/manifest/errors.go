package manifest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a position in the manifest file, 1-based.
type Pos struct {
	Line, Col int
}

// Error is one problem in a manifest, at a position in its file. Notes point at
// related positions, such as every edge of a dependency cycle.
type Error struct {
	File  string
	Pos   Pos
	Msg   string
	Notes []Note
}

// Note is a related position of an Error, with a short explanation.
type Note struct {
	Pos Pos
	Msg string
}

// Error formats the error as file:line:col: message, one line per note after it.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
	for _, n := range e.Notes {
		fmt.Fprintf(&b, "\n%s:%d:%d:   %s", e.File, n.Pos.Line, n.Pos.Col, n.Msg)
	}
	return b.String()
}

// ErrorList is every problem found in one manifest, sorted by position.
type ErrorList []*Error

// Error joins the errors, one per line.
func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find a single *Error in the list.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

func (l ErrorList) sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			strings.Compare(a.Msg, b.Msg),
		)
	})
}
