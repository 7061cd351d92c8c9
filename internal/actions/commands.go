package actions

import (
	"fmt"
	"strconv"

	"github.com/sethvargo/go-githubactions"
)

// Level is the severity of an Annotation.
type Level int

// The levels of an Annotation. The zero Level is invalid, so that a forgotten
// level is an error instead of a silent "error" annotation.
const (
	// Error marks a problem that fails the step.
	Error Level = iota + 1
	// Warning marks a problem that does not fail the step.
	Warning
	// Notice marks information worth a reader's attention.
	Notice
)

// String returns the workflow command of the level: "error", "warning" or
// "notice".
func (l Level) String() string {
	switch l {
	case Error:
		return "error"
	case Warning:
		return "warning"
	case Notice:
		return "notice"
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

// Annotation is a message that GitHub shows on the run's summary page and, when
// File and Line point into the repository, next to that line of a pull
// request's diff. Positions are 1-based; zero leaves them out.
type Annotation struct {
	Level   Level
	File    string
	Line    int
	Col     int
	EndLine int
	EndCol  int
	Title   string
	Message string
}

// properties returns the command properties of the annotation, leaving out
// the empty ones.
func (a Annotation) properties() githubactions.CommandProperties {
	p := githubactions.CommandProperties{}
	add := func(k, v string) {
		if v != "" {
			p[k] = v
		}
	}
	num := func(k string, n int) {
		if n > 0 {
			p[k] = strconv.Itoa(n)
		}
	}
	add("file", a.File)
	num("line", a.Line)
	num("col", a.Col)
	num("endLine", a.EndLine)
	num("endColumn", a.EndCol)
	add("title", a.Title)
	return p
}

// Annotate emits a as an error, warning or notice workflow command, with its
// message and properties escaped so that no text can end the command early or
// start another one. Title and message pass through Redact first.
//
// GitHub shows only about 10 annotations of each level per step and drops the
// rest silently, so Annotate emits at most DefaultAnnotationLimit (or the
// WithAnnotationLimit) of each level; it keeps the others for Overflow, and
// Flush lists them in the step summary.
func (r *Runtime) Annotate(a Annotation) error {
	if !r.enabled {
		return nil
	}
	if a.Level < Error || a.Level > Notice {
		return fmt.Errorf("annotation level %d is unknown: use Error, Warning or Notice", int(a.Level))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.emitted[a.Level] >= r.limit {
		r.overflow = append(r.overflow, a)
		return nil
	}
	r.emitted[a.Level]++
	a.Title = r.redactLocked(a.Title)
	return r.issue(a.Level.String(), a.properties(), r.redactLocked(a.Message))
}

// Overflow returns, in the order they were given, the annotations that
// Annotate kept back because their level had reached its limit. They are
// returned as given, not redacted.
func (r *Runtime) Overflow() []Annotation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Annotation(nil), r.overflow...)
}

// Group starts a collapsible group of log lines titled title, which ends at
// the next EndGroup. The runner does not nest groups.
func (r *Runtime) Group(title string) error {
	if !r.enabled {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.issue("group", nil, r.redactLocked(title))
}

// EndGroup ends the group that Group started.
func (r *Runtime) EndGroup() error {
	if !r.enabled {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.issue("endgroup", nil, "")
}

// Debugf writes a debug message, formatted as by fmt.Sprintf, which the runner
// shows only when the run has debug logging enabled.
func (r *Runtime) Debugf(format string, args ...any) error {
	if !r.enabled {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.issue("debug", nil, r.redactLocked(fmt.Sprintf(format, args...)))
}

// issue writes one workflow command line to stdout. It relies on
// go-githubactions' Command.String, which escapes '%', CR and LF in the message
// and additionally ':' and ',' in property values, exactly as the runner
// unescapes them. r.mu must be held, so that lines never interleave.
func (r *Runtime) issue(name string, props githubactions.CommandProperties, msg string) error {
	if _, err := fmt.Fprintln(r.stdout, formatCommand(name, props, msg)); err != nil {
		return fmt.Errorf("writing the %q workflow command: %w", name, err)
	}
	return nil
}

// formatCommand returns the workflow command line "::name k=v,k=v::msg",
// escaped, without a line break.
func formatCommand(name string, props githubactions.CommandProperties, msg string) string {
	cmd := githubactions.Command{Name: name, Message: msg, Properties: props}
	return cmd.String()
}
