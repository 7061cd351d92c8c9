package actions

import (
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"
)

// FuzzEscape checks that any message and property survive a workflow command:
// the line holds no raw CR or LF, so it cannot end early or start a second
// command, and the runner's unescaping gives back exactly what was sent.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "%", "%25", "%0A", "a:b,c=d", "\r\n", "::", "::error::x", "100%\r", "ü%3A,\n\n"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, msg, prop string) {
		props := githubactions.CommandProperties{"title": prop, "file": prop + "x"}
		line := formatCommand("error", props, msg)
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("formatCommand() = %q, holds a raw line break", line)
		}
		got, err := parseCommand(line)
		if err != nil {
			t.Fatalf("parseCommand(%q) = %v", line, err)
		}
		if got.Name != "error" || got.Message != msg || got.Props["title"] != prop || got.Props["file"] != prop+"x" || len(got.Props) != 2 {
			t.Fatalf("command read back = %+v, want message %q and title %q", got, msg, prop)
		}
	})
}
