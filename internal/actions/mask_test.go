package actions

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what       string
		secrets    []string
		enabled    bool
		wantStdout []string
		redact     map[string]string // input: want
	}{
		{
			what:       "single line",
			secrets:    []string{"hunter2"},
			enabled:    true,
			wantStdout: []string{"::add-mask::hunter2"},
			redact:     map[string]string{"pass=hunter2;": "pass=***;", "hunter": "hunter"},
		},
		{
			what:       "multi-line secret masked line by line",
			secrets:    []string{"-----BEGIN KEY-----\r\nAAAA%BBBB\n  CCCC  \n\n-----END KEY-----\n"},
			enabled:    true,
			wantStdout: []string{"::add-mask::-----BEGIN KEY-----", "::add-mask::AAAA%25BBBB", "::add-mask::CCCC", "::add-mask::-----END KEY-----"},
			redact: map[string]string{
				"key: -----BEGIN KEY-----\r\nAAAA%BBBB\n  CCCC  \n\n-----END KEY-----\n.": "key: ***.",
				"line AAAA%BBBB then CCCC":         "line *** then ***",
				"-----BEGIN KEY-----\nAAAA%BBBB\n": "***\n***\n",
			},
		},
		{
			what:       "each line is emitted once",
			secrets:    []string{"a1\nb2", "b2", "a1\nc3", "b2"},
			enabled:    true,
			wantStdout: []string{"::add-mask::a1", "::add-mask::b2", "::add-mask::c3"},
			redact:     map[string]string{"a1 b2 c3": "*** *** ***"},
		},
		{
			what:    "blank secrets are ignored",
			secrets: []string{"", "  ", "\n\r\n"},
			enabled: true,
			redact:  map[string]string{"a  b\n": "a  b\n"},
		},
		{
			what:    "off Actions remembers without emitting",
			secrets: []string{"hunter2\nswordfish"},
			enabled: false,
			redact:  map[string]string{"hunter2/swordfish": "***/***", "hunter2\nswordfish": "***"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			if !tt.enabled {
				env["GITHUB_ACTIONS"] = ""
			}
			rt := newTestRuntime(t, env)
			for _, s := range tt.secrets {
				if err := rt.Mask(s); err != nil {
					t.Fatalf("Mask(%q) = %v", s, err)
				}
			}
			if diff := cmp.Diff(tt.wantStdout, rt.lines()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			for in, want := range tt.redact {
				if got := rt.Redact(in); got != want {
					t.Errorf("Redact(%q) = %q, want %q", in, got, want)
				}
			}
		})
	}
}

func TestRedactWithoutSecrets(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	if got, want := rt.Redact("nothing to hide"), "nothing to hide"; got != want {
		t.Errorf("Redact() = %q, want %q", got, want)
	}
}

func TestAnnotateRedacts(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	if err := rt.Mask("hunter2"); err != nil {
		t.Fatal(err)
	}
	rt.stdout.Reset()
	if err := rt.Annotate(Annotation{Level: Error, Title: "bad hunter2", Message: "token hunter2 rejected"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"::error title=bad ***::token *** rejected"}, rt.lines()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}
