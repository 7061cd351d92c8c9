package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/mesh"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sarifSchema compiles the official SARIF 2.1.0 schema named by
// $SARIF_SCHEMA once for all tests, which only read it.
var sarifSchemaOnce = sync.OnceValues(func() (*jsonschema.Schema, error) {
	path := os.Getenv("SARIF_SCHEMA")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	// GitHub's upload rejects URIs that are not valid uri-references, so
	// the tests check formats too, and more strictly than Go's url.Parse,
	// which accepts spaces.
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "uri-reference", Validate: validateURIReference})
	if err := c.AddResource(path, doc); err != nil {
		return nil, err
	}
	return c.Compile(path)
})

// uriReference matches the characters RFC 3986 allows in a URI reference,
// with every '%' starting an escape.
var uriReference = regexp.MustCompile(`^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*$`)

func validateURIReference(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if !uriReference.MatchString(s) {
		return fmt.Errorf("%q has characters that a URI reference must percent-encode", s)
	}
	if _, err := url.Parse(s); err != nil {
		return err
	}
	return nil
}

func compileSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	if os.Getenv("SARIF_SCHEMA") == "" {
		t.Skip("SARIF_SCHEMA is not set; `make test` sets it to the SARIF 2.1.0 schema it downloads")
	}
	sch, err := sarifSchemaOnce()
	if err != nil {
		t.Fatalf("compiling $SARIF_SCHEMA: %v", err)
	}
	return sch
}

func TestSARIFSchema(t *testing.T) {
	t.Parallel()
	sch := compileSARIFSchema(t)
	write := func(t *testing.T, r *mesh.Report) []byte {
		t.Helper()
		var buf bytes.Buffer
		if err := SARIF(&buf, r, SARIFOptions{}); err != nil {
			t.Fatalf("SARIF() error = %v", err)
		}
		return buf.Bytes()
	}
	tests := []struct {
		what    string
		doc     func(t *testing.T) []byte
		wantErr bool
	}{
		{what: "sample report", doc: sampleSARIF},
		{what: "empty report", doc: func(t *testing.T) []byte { return write(t, &mesh.Report{}) }},
		{
			what: "awkward file names",
			doc: func(t *testing.T) []byte {
				r := &mesh.Report{}
				for _, name := range []string{"a b/c:d.yaml", "100%.yaml", "é/ü.yaml", "q?#x.yaml", "/abs/p a.yaml", "../up.yaml"} {
					r.Findings = append(r.Findings, mesh.Finding{Pos: mesh.Pos{File: name, Line: 1}, Severity: mesh.Error, Rule: "r", Message: "m"})
				}
				return write(t, r)
			},
		},
		{
			// Proves that the validator checks URI formats at all.
			what: "an unescaped space in a URI",
			doc: func(t *testing.T) []byte {
				return bytes.Replace(sampleSARIF(t), []byte("virtual%20service"), []byte("virtual service"), 1)
			},
			wantErr: true,
		},
		{
			// Proves that the schema is in force.
			what: "a level SARIF does not know",
			doc: func(t *testing.T) []byte {
				return bytes.Replace(sampleSARIF(t), []byte(`"level": "note"`), []byte(`"level": "info"`), 1)
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(tt.doc(t)))
			if err != nil {
				t.Fatal(err)
			}
			err = sch.Validate(inst)
			if tt.wantErr && err == nil {
				t.Errorf("Validate() = nil, want an error")
			}
			if !tt.wantErr && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

// decodeSARIF writes the SARIF of r and reads it back.
func decodeSARIF(t *testing.T, r *mesh.Report) sarifLog {
	t.Helper()
	var buf bytes.Buffer
	if err := SARIF(&buf, r, SARIFOptions{}); err != nil {
		t.Fatalf("SARIF() error = %v", err)
	}
	var log sarifLog
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatalf("SARIF() wrote invalid JSON: %v", err)
	}
	return log
}

// TestSARIFForGitHub checks what GitHub code scanning requires beyond the
// schema: it rejects a whole log over one result without a location, a rule
// index that points elsewhere, or a URI it cannot place.
func TestSARIFForGitHub(t *testing.T) {
	t.Parallel()
	r := sampleReport()
	log := decodeSARIF(t, r)
	if len(log.Runs) != 1 {
		t.Fatalf("SARIF() wrote %d runs, want 1", len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool.Driver.Name != "promote" {
		t.Errorf("tool.driver.name = %q, want promote", run.Tool.Driver.Name)
	}
	if len(run.Results) != len(r.Findings) {
		t.Fatalf("SARIF() wrote %d results for %d findings", len(run.Results), len(r.Findings))
	}
	rules := run.Tool.Driver.Rules
	fingerprints := make(map[string]int)
	for i, res := range run.Results {
		f := r.Findings[i]
		if res.RuleIndex < 0 || res.RuleIndex >= len(rules) || rules[res.RuleIndex].ID != res.RuleID || res.RuleID != f.Rule {
			t.Errorf("result %d: ruleId %q, ruleIndex %d does not point at rule %q", i, res.RuleID, res.RuleIndex, f.Rule)
		}
		if res.Level != f.Severity.String() || res.Message.Text != f.Message {
			t.Errorf("result %d: level %q, message %q; want %q, %q", i, res.Level, res.Message.Text, f.Severity, f.Message)
		}
		if len(res.Locations) != 1 {
			t.Fatalf("result %d has %d locations, want 1", i, len(res.Locations))
		}
		phys := res.Locations[0].PhysicalLocation
		u, err := url.Parse(phys.ArtifactLocation.URI)
		if err != nil || phys.ArtifactLocation.URI == "" {
			t.Errorf("result %d: uri %q is not a URI: %v", i, phys.ArtifactLocation.URI, err)
		}
		if inRepo := !strings.HasPrefix(f.File, "../") && !strings.HasPrefix(f.File, "/") && f.File != "<stdin>"; inRepo {
			if u.IsAbs() || strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "../") || phys.ArtifactLocation.URIBaseID != "%SRCROOT%" {
				t.Errorf("result %d: %q is in the repository but has uri %q, uriBaseId %q", i, f.File, phys.ArtifactLocation.URI, phys.ArtifactLocation.URIBaseID)
			}
			if u.Path != f.File {
				t.Errorf("result %d: uri %q decodes to %q, want %q", i, phys.ArtifactLocation.URI, u.Path, f.File)
			}
		}
		switch {
		case f.Line == 0 && phys.Region != nil:
			t.Errorf("result %d: finding has no line but a region %+v", i, *phys.Region)
		case f.Line > 0 && (phys.Region == nil || phys.Region.StartLine != f.Line || phys.Region.StartColumn != f.Col):
			t.Errorf("result %d: region %+v, want line %d, column %d", i, phys.Region, f.Line, f.Col)
		}
		fp := res.PartialFingerprints[fingerprintKey]
		if fp == "" {
			t.Errorf("result %d has no %s fingerprint", i, fingerprintKey)
		}
		if j, dup := fingerprints[fp]; dup {
			t.Errorf("results %d and %d share the fingerprint %s", j, i, fp)
		}
		fingerprints[fp] = i
	}
	if last := rules[len(rules)-1]; last.ID != "policy.require-team-label" || last.ShortDescription.Text == "" {
		t.Errorf("the rule missing from Rules was added as %+v, want a rule with an ID and a short description", last)
	}
}

func TestSARIFFingerprints(t *testing.T) {
	t.Parallel()
	fingerprints := func(t *testing.T, r *mesh.Report) []string {
		t.Helper()
		var fps []string
		for _, res := range decodeSARIF(t, r).Runs[0].Results {
			fps = append(fps, res.PartialFingerprints[fingerprintKey])
		}
		return fps
	}
	base := fingerprints(t, sampleReport())
	tests := []struct {
		what   string
		change func(r *mesh.Report)
		same   bool
	}{
		{
			what: "lines shift",
			change: func(r *mesh.Report) {
				for i := range r.Findings {
					if r.Findings[i].Line > 0 {
						r.Findings[i].Line += 7
						r.Findings[i].Col += 2
					}
				}
			},
			same: true,
		},
		{what: "messages change", change: func(r *mesh.Report) {
			for i := range r.Findings {
				r.Findings[i].Message += "!"
			}
		}},
		{what: "files move", change: func(r *mesh.Report) {
			for i := range r.Findings {
				r.Findings[i].File = "moved/" + r.Findings[i].File
			}
		}},
		{what: "resources are renamed", change: func(r *mesh.Report) {
			for i := range r.Findings {
				r.Findings[i].Resource += "-2"
			}
		}},
		{what: "rules are renamed", change: func(r *mesh.Report) {
			for i := range r.Findings {
				r.Findings[i].Rule += "-2"
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			r := sampleReport()
			tt.change(r)
			got := fingerprints(t, r)
			if tt.same {
				if diff := cmp.Diff(base, got); diff != "" {
					t.Errorf("fingerprints changed (-before +after):\n%s", diff)
				}
				return
			}
			for i := range got {
				if got[i] == base[i] {
					t.Errorf("result %d kept its fingerprint %s", i, got[i])
				}
			}
		})
	}
}

func TestLocate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what string
		wd   string
		file string
		want sarifArtifactLocation
	}{
		{what: "relative", wd: "/repo", file: "mesh/a.yaml", want: sarifArtifactLocation{URI: "mesh/a.yaml", URIBaseID: "%SRCROOT%"}},
		{what: "cleaned", wd: "/repo", file: "./mesh//x/../a.yaml", want: sarifArtifactLocation{URI: "mesh/a.yaml", URIBaseID: "%SRCROOT%"}},
		{what: "from a subdirectory", wd: "/repo/mesh", file: "a.yaml", want: sarifArtifactLocation{URI: "mesh/a.yaml", URIBaseID: "%SRCROOT%"}},
		{what: "absolute inside", wd: "/elsewhere", file: "/repo/mesh/a.yaml", want: sarifArtifactLocation{URI: "mesh/a.yaml", URIBaseID: "%SRCROOT%"}},
		{what: "relative outside", wd: "/repo", file: "../shared/a.yaml", want: sarifArtifactLocation{URI: "../shared/a.yaml", URIBaseID: "%SRCROOT%"}},
		{what: "relative outside from elsewhere", wd: "/elsewhere", file: "a.yaml", want: sarifArtifactLocation{URI: "../elsewhere/a.yaml", URIBaseID: "%SRCROOT%"}},
		{what: "absolute outside", wd: "/repo", file: "/etc/istio/mesh.yaml", want: sarifArtifactLocation{URI: "file:///etc/istio/mesh.yaml"}},
		{what: "absolute outside with a space", wd: "/repo", file: "/etc/my istio/mesh.yaml", want: sarifArtifactLocation{URI: "file:///etc/my%20istio/mesh.yaml"}},
		{what: "space", wd: "/repo", file: "mesh/my service/vs.yaml", want: sarifArtifactLocation{URI: "mesh/my%20service/vs.yaml", URIBaseID: "%SRCROOT%"}},
		{what: "percent, hash and question mark", wd: "/repo", file: "100%/#1?.yaml", want: sarifArtifactLocation{URI: "100%25/%231%3F.yaml", URIBaseID: "%SRCROOT%"}},
		{what: "colon, which must not read as a scheme", wd: "/repo", file: "c:d.yaml", want: sarifArtifactLocation{URI: "c%3Ad.yaml", URIBaseID: "%SRCROOT%"}},
		{what: "non-ASCII", wd: "/repo", file: "é.yaml", want: sarifArtifactLocation{URI: "%C3%A9.yaml", URIBaseID: "%SRCROOT%"}},
		{what: "stdin", wd: "/repo", file: "<stdin>", want: sarifArtifactLocation{URI: "%3Cstdin%3E"}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			got := locator{root: "/repo", wd: tt.wd}.locate(tt.file)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("locate(%q) from %s differs (-want +got):\n%s", tt.file, tt.wd, diff)
			}
		})
	}
}

func TestDirURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir, want string
	}{
		{"/", "file:///"},
		{"/home/runner/work/shop/shop", "file:///home/runner/work/shop/shop/"},
		{"/home/my repo", "file:///home/my%20repo/"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			if got := dirURI(tt.dir); got != tt.want {
				t.Errorf("dirURI(%q) = %q, want %q", tt.dir, got, tt.want)
			}
		})
	}
}

func TestSARIFUnknownSeverity(t *testing.T) {
	t.Parallel()
	r := &mesh.Report{Findings: []mesh.Finding{{Pos: mesh.Pos{File: "a.yaml", Line: 3}, Rule: "r", Message: "m"}}}
	var buf bytes.Buffer
	err := SARIF(&buf, r, SARIFOptions{})
	if err == nil || !strings.Contains(err.Error(), "a.yaml:3") {
		t.Errorf("SARIF() error = %v, want one naming a.yaml:3", err)
	}
	if buf.Len() > 0 {
		t.Errorf("SARIF() wrote %d bytes before failing, want none", buf.Len())
	}
}
