package actions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
)

// MaxSummaryBytes is the size GitHub allows the step summary file of one step.
// Over it, the summary upload fails and the step shows no summary at all.
const MaxSummaryBytes = 1 << 20

// ErrSummaryLimit reports that the step summary file was too full to take
// even the note that content was dropped.
var ErrSummaryLimit = errors.New("the step summary is limited to 1 MiB per step")

// AddSummary appends GitHub-flavoured Markdown to the step summary buffer,
// which Flush writes out.
func (r *Runtime) AddSummary(markdown string) {
	if !r.enabled {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.summary.WriteString(markdown)
}

// Flush appends what AddSummary buffered since the last Flush, followed by a
// table of the annotations that Annotate kept back since then, to the file
// named by GITHUB_STEP_SUMMARY. The text passes through Redact first, and
// invalid UTF-8 in it is replaced.
//
// Flush keeps the file within MaxSummaryBytes, counting what is already in
// it, since several Flushes (or processes) of one step append to the same
// file. Text that does not fit is cut at the last line break that fits and
// replaced by a note saying how many bytes were dropped; that is not an error.
// If not even the note fits, Flush writes nothing and returns an error
// wrapping ErrSummaryLimit. Either way the text is gone: Flush writes only
// what was added after it, and a second Flush with nothing new writes
// nothing. After a failed write, the next Flush tries the same text again.
func (r *Runtime) Flush() error {
	if !r.enabled {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	content := r.summary.String() + overflowTable(r.overflow[r.overflowFlushed:], r.limit)
	if content == "" {
		return nil
	}
	content = strings.ToValidUTF8(r.redactLocked(content), "\uFFFD")
	consume := func() {
		r.summary.Reset()
		r.overflowFlushed = len(r.overflow)
	}

	path := r.getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return errors.New("$GITHUB_STEP_SUMMARY is not set; the runner sets it for every step, so run Promote as a step of a GitHub Actions job or unset GITHUB_ACTIONS")
	}
	var existing int64
	switch info, err := os.Stat(path); {
	case err == nil:
		existing = info.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("reading the size of $GITHUB_STEP_SUMMARY: %w", err)
	}
	out, ok := fitSummary(content, MaxSummaryBytes-existing)
	if !ok {
		consume()
		return fmt.Errorf("step summary: %d bytes did not fit because $GITHUB_STEP_SUMMARY already holds %d of its %d bytes: %w",
			len(content), existing, MaxSummaryBytes, ErrSummaryLimit)
	}
	if err := r.appendFile("GITHUB_STEP_SUMMARY", []byte(out)); err != nil {
		return fmt.Errorf("step summary: %w", err)
	}
	consume()
	return nil
}

// fitSummary returns content if it fits in budget bytes. Otherwise it returns
// the longest prefix ending in a line break (or, lacking one, a whole UTF-8
// character) that fits together with a note saying how many bytes were
// dropped. It reports false when the note alone does not fit.
func fitSummary(content string, budget int64) (string, bool) {
	if int64(len(content)) <= budget {
		return content, true
	}
	// The note grows with the number of dropped bytes, which is at most
	// len(content): reserve room for that widest note.
	room := budget - int64(len(truncationNote(len(content))))
	if room < 0 {
		return "", false
	}
	cut := strings.LastIndexByte(content[:room], '\n') + 1
	if cut == 0 {
		cut = int(room)
		for cut > 0 && !utf8.RuneStart(content[cut]) {
			cut--
		}
	}
	return content[:cut] + truncationNote(len(content)-cut), true
}

// truncationNote tells the reader of a summary that dropped bytes of it did
// not fit.
func truncationNote(dropped int) string {
	return fmt.Sprintf("\n\n> **Summary truncated**: %d bytes did not fit GitHub's 1 MiB step-summary limit.\n", dropped)
}

// overflowTable returns a Markdown table of annotations that were not
// emitted, or "" if there are none.
func overflowTable(anns []Annotation, limit int) string {
	if len(anns) == 0 {
		return ""
	}
	var b strings.Builder
	if len(anns) == 1 {
		b.WriteString("\n\n**1 more annotation not shown as an annotation**")
	} else {
		fmt.Fprintf(&b, "\n\n**%d more annotations not shown as annotations**", len(anns))
	}
	fmt.Fprintf(&b, " (GitHub shows only about 10 annotations of each level per step, so Promote emitted at most %d of each)\n\n", limit)
	b.WriteString("| Location | Level | Message |\n| --- | --- | --- |\n")
	for _, a := range anns {
		msg := a.Message
		if a.Title != "" {
			msg = a.Title + ": " + msg
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", tableCell(location(a)), a.Level, tableCell(msg))
	}
	return b.String()
}

// location formats the position of a as file:line:col, leaving out what is
// unknown.
func location(a Annotation) string {
	loc := a.File
	if a.Line > 0 {
		loc += fmt.Sprintf(":%d", a.Line)
		if a.Col > 0 {
			loc += fmt.Sprintf(":%d", a.Col)
		}
	}
	return loc
}

// cellEscaper keeps text inside one Markdown table cell: a '|' would start a
// new cell and a line break would end the table.
var cellEscaper = strings.NewReplacer("|", `\|`, "\r\n", "<br>", "\r", "<br>", "\n", "<br>")

// tableCell escapes s for a Markdown table cell.
func tableCell(s string) string {
	return cellEscaper.Replace(s)
}
