package actions

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestFlushIsIdempotent(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	steps := []struct {
		add  string
		want string
	}{
		{add: "# Promote\n", want: "# Promote\n"},
		{add: "", want: "# Promote\n"},
		{add: "", want: "# Promote\n"},
		{add: "done\n", want: "# Promote\ndone\n"},
	}
	for i, s := range steps {
		if s.add != "" {
			rt.AddSummary(s.add)
		}
		if err := rt.Flush(); err != nil {
			t.Fatalf("Flush() #%d = %v", i+1, err)
		}
		if diff := cmp.Diff(s.want, rt.file(t, "GITHUB_STEP_SUMMARY")); diff != "" {
			t.Errorf("summary after Flush() #%d (-want +got):\n%s", i+1, diff)
		}
	}
}

func TestFlushRedactsAndRepairsUTF8(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	rt.AddSummary("token hunter2\nbad \xff byte\n")
	// Masking after AddSummary still hides the secret: Flush redacts.
	if err := rt.Mask("hunter2"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Flush(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("token ***\nbad \uFFFD byte\n", rt.file(t, "GITHUB_STEP_SUMMARY")); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

var notePattern = regexp.MustCompile(`\n\n> \*\*Summary truncated\*\*: (\d+) bytes did not fit GitHub's 1 MiB step-summary limit\.\n$`)

func TestFlushTruncates(t *testing.T) {
	t.Parallel()
	line := "| héllo | wörld ✓ | 🚀 |\n" // multi-byte characters
	tests := []struct {
		what        string
		existing    int
		content     string
		wantNote    bool
		wantErr     error
		wantNewline bool // whether the kept part must end at a line break
	}{
		{what: "fits", existing: 1000, content: line},
		{what: "fits exactly", existing: MaxSummaryBytes - len(line), content: line},
		{what: "one byte over", existing: MaxSummaryBytes - 40*len(line) + 1, content: strings.Repeat(line, 40), wantNote: true, wantNewline: true},
		{what: "existing file near the limit", existing: MaxSummaryBytes - 2000, content: strings.Repeat(line, 500), wantNote: true, wantNewline: true},
		{what: "empty file, too much content", existing: 0, content: strings.Repeat(line, (MaxSummaryBytes/len(line))+10), wantNote: true, wantNewline: true},
		{what: "no line break cuts between characters", existing: MaxSummaryBytes - 500, content: strings.Repeat("€🚀", 400), wantNote: true},
		{what: "room for the note only", existing: MaxSummaryBytes - 100, content: strings.Repeat("x", 200), wantNote: true},
		{what: "not even the note fits", existing: MaxSummaryBytes - 10, content: line, wantErr: ErrSummaryLimit},
		{what: "file already over the limit", existing: MaxSummaryBytes + 10, content: line, wantErr: ErrSummaryLimit},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			rt := newTestRuntime(t, nil)
			var prior string
			if tt.existing > 0 {
				prior = strings.Repeat("p", tt.existing-1) + "\n"
			}
			if err := os.WriteFile(rt.env["GITHUB_STEP_SUMMARY"], []byte(prior), 0o600); err != nil {
				t.Fatal(err)
			}
			rt.AddSummary(tt.content)
			err := rt.Flush()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Flush() = %v, want %v", err, tt.wantErr)
			}
			got := rt.file(t, "GITHUB_STEP_SUMMARY")
			if tt.wantErr != nil {
				if got != prior {
					t.Errorf("summary changed although nothing fit")
				}
				return
			}
			if len(got) > MaxSummaryBytes {
				t.Errorf("summary is %d bytes, want at most %d", len(got), MaxSummaryBytes)
			}
			if !utf8.ValidString(got) {
				t.Errorf("summary is not valid UTF-8")
			}
			added, ok := strings.CutPrefix(got, prior)
			if !ok {
				t.Fatalf("summary lost what the file held before")
			}
			m := notePattern.FindStringSubmatchIndex(added)
			if gotNote := m != nil; gotNote != tt.wantNote {
				t.Fatalf("truncation note present = %v, want %v; summary ends %q", gotNote, tt.wantNote, added[max(0, len(added)-200):])
			}
			if !tt.wantNote {
				if added != tt.content {
					t.Errorf("summary added %d bytes, want the %d given", len(added), len(tt.content))
				}
				return
			}
			kept := added[:m[0]]
			dropped, _ := strconv.Atoi(added[m[2]:m[3]])
			if !strings.HasPrefix(tt.content, kept) {
				t.Errorf("kept text is not a prefix of the content")
			}
			if got, want := dropped, len(tt.content)-len(kept); got != want {
				t.Errorf("note says %d bytes dropped, want %d", got, want)
			}
			if tt.wantNewline && kept != "" && !strings.HasSuffix(kept, "\n") {
				t.Errorf("kept text ends %q, want a line break", kept[max(0, len(kept)-20):])
			}
			// The content is consumed: flushing again adds nothing.
			if err := rt.Flush(); err != nil {
				t.Fatal(err)
			}
			if again := rt.file(t, "GITHUB_STEP_SUMMARY"); again != got {
				t.Errorf("second Flush() wrote %d more bytes, want none", len(again)-len(got))
			}
		})
	}
}
