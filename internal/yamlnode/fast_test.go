package yamlnode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// library parses data with the YAML library, leaving out empty documents as
// Fast does.
func library(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(doc.Content) == 0 {
			continue
		}
		if c := doc.Content[0]; c.Kind == yaml.ScalarNode && c.ShortTag() == "!!null" && c.Value == "" {
			continue
		}
		docs = append(docs, &doc)
	}
}

// diff describes the first difference between two trees, ignoring comments
// and the positions of document nodes.
func diff(path string, a, b *yaml.Node) string {
	if a.Kind != b.Kind || a.Tag != b.Tag || a.Value != b.Value || a.Style != b.Style || len(a.Content) != len(b.Content) {
		return fmt.Sprintf("%s: fast %v %q %q style %v (%d children), library %v %q %q style %v (%d children)",
			path, a.Kind, a.Tag, a.Value, a.Style, len(a.Content), b.Kind, b.Tag, b.Value, b.Style, len(b.Content))
	}
	if a.Kind != yaml.DocumentNode && (a.Line != b.Line || a.Column != b.Column) {
		return fmt.Sprintf("%s (%q): fast at %d:%d, library at %d:%d", path, a.Value, a.Line, a.Column, b.Line, b.Column)
	}
	for i := range a.Content {
		if d := diff(fmt.Sprintf("%s/%d", path, i), a.Content[i], b.Content[i]); d != "" {
			return d
		}
	}
	return ""
}

func same(t *testing.T, data []byte) {
	t.Helper()
	docs, ok := Fast(data)
	if !ok {
		return
	}
	want, err := library(data)
	if err != nil {
		t.Fatalf("Fast accepted what the library refuses (%v):\n%s", err, data)
	}
	if len(docs) != len(want) {
		t.Fatalf("Fast found %d documents, the library %d:\n%s", len(docs), len(want), data)
	}
	for i := range docs {
		if d := diff(fmt.Sprint(i), docs[i], want[i]); d != "" {
			t.Fatalf("%s\n%s", d, data)
		}
	}
}

func TestFastLikeLibrary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what string
		in   string
		ok   bool
	}{
		{what: "mapping", in: "a: 1\nb: two\nc: \"3\"\nd: 'it''s'\n", ok: true},
		{what: "nested", in: "a:\n  b:\n    c: true\n  d: null\n", ok: true},
		{what: "sequences", in: "a:\n- x\n- y: 1\n  z: 2\nb:\n  - [1, \"2\", {k: v}]\n  - {}\n", ok: true},
		{what: "documents", in: "---\na: 1\n---\n# only a comment\n---\nb: [x]\n", ok: true},
		{what: "comments", in: "a: 1 # one\nb: \"x\" # two\nc: d#e\n", ok: true},
		{what: "unicode columns", in: "ä: ö\nb: [ü, x]\n", ok: true},
		{what: "escapes", in: "a: \"x\\ny\\u00e9\\\"\"\n", ok: true},
		{what: "merge key", in: "a: {x: 1}\n<<: {y: 2}\n", ok: true},
		{what: "anchor", in: "a: &x 1\nb: *x\n"},
		{what: "block scalar", in: "a: |\n  text\n"},
		{what: "multi-line plain", in: "a: one\n  two\n"},
		{what: "empty value", in: "a:\nb: 1\n"},
		{what: "tab", in: "a:\n\tb: 1\n"},
		{what: "mapping in a scalar", in: "a: b: c\n"},
		{what: "bad indentation", in: "a:\n    b: 1\n  c: 2\n"},
		{what: "space before colon", in: "a : 1\n"},
		{what: "unclosed flow", in: "a: [1, 2\n"},
		{what: "text after a quote", in: "a: \"x\"y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			if _, ok := Fast([]byte(tt.in)); ok != tt.ok {
				t.Errorf("Fast(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			same(t, []byte(tt.in))
		})
	}
}

// TestFastExamples parses every YAML file of the repository both ways.
func TestFastExamples(t *testing.T) {
	t.Parallel()
	var n int
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != "../.." {
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return err
		}
		if !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, ok := Fast(data); ok {
			n++
		}
		same(t, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("Fast took only %d of the repository's YAML files", n)
	}
}

// FuzzFast checks that Fast never accepts what the YAML library refuses and
// builds the same trees, positions included, when it accepts.
func FuzzFast(f *testing.F) {
	for _, s := range []string{"a: 1\n", "a:\n- b: [1, {c: d}]\n  e: 'f'\n---\ng: \"h\\n\"\n", "- a\n- b\n", "a: b # c\n"} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob("../../examples/services/*/mesh/*.yaml")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		same(t, data)
	})
}
