package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func examplePlan(t *testing.T, sel dag.Selection) *Plan {
	t.Helper()
	data, err := os.ReadFile("../../examples/promotion.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse("examples/promotion.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(m, sel, Meta{ManifestBytes: data, Commit: "0123456789abcdef0123456789abcdef01234567"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/plan -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func TestRenderings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what string
		sel  dag.Selection
		name string
	}{
		{"whole example", dag.Selection{}, "example"},
		{"from staging", dag.Selection{From: "staging"}, "from-staging"},
		{"nothing changed", dag.Selection{FilterChanged: true}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			p := examplePlan(t, tt.sel)
			var text, md bytes.Buffer
			if err := p.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := p.WriteMarkdown(&md); err != nil {
				t.Fatal(err)
			}
			js, err := p.JSON()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".txt", text.Bytes())
			golden(t, tt.name+".md", md.Bytes())
			golden(t, tt.name+".json", js)
		})
	}
}

func TestExampleText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := examplePlan(t, dag.Selection{}).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"dev:         service-a → service-b → service-c",
		"production:  service-a → service-b              protected, soak 30m",
		"Critical path (1h2m):",
		`service-c@production  sandbox service is never promoted into protected environment "production"`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WriteText() = \n%s\nwant it to contain %q", b.String(), want)
		}
	}
}

func TestReadRoundTrip(t *testing.T) {
	t.Parallel()
	p := examplePlan(t, dag.Selection{})
	data, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(data)
	if err != nil {
		t.Fatalf("Read(JSON()) = %v", err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("Read(JSON()) (-want +got):\n%s", diff)
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what    string
		data    string
		want    string
		version bool
	}{
		{what: "newer version", data: `{"version": 2}`, want: "plan version 2", version: true},
		{what: "no version", data: `{}`, want: "plan version 0", version: true},
		{what: "not JSON", data: `nodes:`, want: "decode plan"},
		{what: "unknown field", data: `{"version": 1, "nodez": []}`, want: `unknown field "nodez"`},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			_, err := Read([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrVersion) != tt.version {
				t.Errorf("Read(%s) = %v, want %q (version error %v)", tt.data, err, tt.want, tt.version)
			}
		})
	}
}

func TestMatrices(t *testing.T) {
	t.Parallel()
	p := examplePlan(t, dag.Selection{To: "staging"})
	data, err := json.Marshal(p.Matrices())
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"include":[{"node":"service-a@dev","service":"service-a","environment":"dev","github_environment":"dev"}]},` +
		`{"include":[{"node":"service-b@dev","service":"service-b","environment":"dev","github_environment":"dev"},{"node":"service-a@staging","service":"service-a","environment":"staging","github_environment":"staging"}]},` +
		`{"include":[{"node":"service-c@dev","service":"service-c","environment":"dev","github_environment":"dev"},{"node":"service-b@staging","service":"service-b","environment":"staging","github_environment":"staging"}]},` +
		`{"include":[{"node":"service-c@staging","service":"service-c","environment":"staging","github_environment":"staging"}]}]`
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("Matrices() (-want +got):\n%s", diff)
	}
	if got := p.Services(); !cmp.Equal(got, []string{"service-a", "service-b", "service-c"}) {
		t.Errorf("Services() = %v", got)
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for secs, want := range map[int64]string{0: "0s", 45: "45s", 600: "10m", 3720: "1h2m", 3600: "1h", 3601: "1h0m1s"} {
		if got := Duration(secs); got != want {
			t.Errorf("Duration(%d) = %q, want %q", secs, got, want)
		}
	}
}
