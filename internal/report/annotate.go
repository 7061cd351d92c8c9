package report

import (
	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/mesh"
)

// Annotate emits one annotation per finding through rt: an error, warning or
// notice titled with the finding's rule, at its file, line and column. A
// finding in standard input has no file to point at, so its annotation has no
// location and its message starts with the position instead.
//
// rt emits only a few annotations of each level and keeps the rest, which
// its Flush lists in the step summary; call Flush after Annotate. Annotate
// returns an error, before emitting anything, if a finding has an unknown
// severity.
func Annotate(rt *actions.Runtime, r *mesh.Report) error {
	anns := make([]actions.Annotation, 0, len(r.Findings))
	for _, f := range r.Findings {
		level, ok := annotationLevel(f.Severity)
		if !ok {
			return unknownSeverity(f)
		}
		a := actions.Annotation{Level: level, Title: f.Rule, Message: f.Message}
		if f.File == mesh.StdinFile {
			a.Message = f.Pos.String() + ": " + f.Message
		} else {
			a.File, a.Line, a.Col = f.File, f.Line, f.Col
		}
		anns = append(anns, a)
	}
	for _, a := range anns {
		if err := rt.Annotate(a); err != nil {
			return err
		}
	}
	return nil
}

// annotationLevel returns the annotation level of s, and false if s is not a
// known severity.
func annotationLevel(s mesh.Severity) (actions.Level, bool) {
	switch s {
	case mesh.Error:
		return actions.Error, true
	case mesh.Warning:
		return actions.Warning, true
	case mesh.Note:
		return actions.Notice, true
	}
	return 0, false
}
