package report

import (
	"encoding/json"
	"io"

	"github.com/promote-dev/promote/internal/mesh"
)

// JSONVersion is the version of the document JSON writes. It changes when a
// field is removed or changes meaning, not when one is added.
const JSONVersion = 1

// JSON writes the report as an indented JSON document: {"version": 1}
// followed by the fields of mesh.Report. Lists are written as [] rather than
// null when empty, so that scripts can iterate over them without a check, and
// maps have their keys sorted, so the same report gives the same bytes.
func JSON(w io.Writer, r *mesh.Report) error {
	doc := struct {
		Version int `json:"version"`
		mesh.Report
	}{JSONVersion, *r}
	doc.Checks = nonNil(doc.Checks)
	doc.Findings = nonNil(doc.Findings)
	doc.Ignored = nonNil(doc.Ignored)
	doc.Rules = nonNil(doc.Rules)
	doc.Namespaces = nonNil(doc.Namespaces)
	return writeJSON(w, doc)
}

// nonNil returns s, or an empty slice if s is nil, which JSON encodes as []
// instead of null.
func nonNil[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

// writeJSON writes v indented by two spaces. It leaves <, > and & as they are,
// since the documents are files, not HTML, and "<stdin>" should read as such.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
