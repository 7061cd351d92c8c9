package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// schemaID is the URL the schema is published at; docs/manifest.md tells
// users to put it in their yaml-language-server modeline.
const schemaID = "https://raw.githubusercontent.com/promote-dev/promote/main/schema/promotion.schema.json"

// metaschemaID is the draft the schema is written in.
const metaschemaID = "https://json-schema.org/draft/2020-12/schema"

// compiled compiles the schema once for all tests: they run in parallel and
// only read it.
var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSON))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	// yaml-language-server checks formats such as uri, so the tests do too.
	c.AssertFormat()
	if err := c.AddResource(schemaID, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaID)
})

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	sch, err := compiled()
	if err != nil {
		t.Fatalf("Compile(%q) error = %v, want nil", schemaID, err)
	}
	return sch
}

// instance converts a YAML manifest to the JSON value the schema validates,
// the way an editor sees it.
func instance(t *testing.T, name string, manifest []byte) any {
	t.Helper()
	j, err := yaml.YAMLToJSON(manifest)
	if err != nil {
		t.Fatalf("YAMLToJSON(%s) error = %v, want nil", name, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatalf("UnmarshalJSON(YAMLToJSON(%s)) error = %v, want nil", name, err)
	}
	return v
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile(%q) error = %v, want nil", path, err)
	}
	return b
}

// docExample returns the YAML block under "## A complete example" in the
// manifest's reference, the example users copy first.
func docExample(t *testing.T) []byte {
	t.Helper()
	doc := readFile(t, "../docs/manifest.md")
	_, rest, ok := bytes.Cut(doc, []byte("\n## A complete example\n"))
	if !ok {
		t.Fatalf(`docs/manifest.md has no "## A complete example" heading`)
	}
	_, rest, ok = bytes.Cut(rest, []byte("```yaml\n"))
	if !ok {
		t.Fatalf(`docs/manifest.md has no "yaml" code block after "## A complete example"`)
	}
	block, _, ok := bytes.Cut(rest, []byte("\n```"))
	if !ok {
		t.Fatalf(`docs/manifest.md: the code block after "## A complete example" is not closed`)
	}
	return block
}

// violation is one failed keyword of a validation: the JSON pointer of the
// value in the manifest and the keyword that rejected it ("false" for a
// false schema).
type violation struct {
	at      string
	keyword string
}

func (v violation) String() string {
	return fmt.Sprintf("%s at %q", v.keyword, v.at)
}

// violations flattens a validation error's tree, so that a test can check
// that a manifest fails for the reason it was written for.
//
// A propertyNames violation is reported at "*/NAME", the rejected key found
// anywhere: jsonschema v6.0.3 keeps a shared slice as its InstanceLocation,
// which later validations overwrite, so its location cannot be trusted.
func violations(err error) []violation {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	escape := strings.NewReplacer("~", "~0", "/", "~1")
	var out []violation
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		keyword := strings.Join(e.ErrorKind.KeywordPath(), "/")
		switch k := e.ErrorKind.(type) {
		case *kind.FalseSchema:
			keyword = "false"
		case *kind.Reference:
			// A $ref only wraps the violations of the schema it names.
			keyword = ""
		case *kind.PropertyNames:
			// Its causes are about the key alone, located at "".
			out = append(out, violation{at: "*/" + escape.Replace(k.Property), keyword: keyword})
			return
		}
		if keyword != "" {
			var at strings.Builder
			for _, tok := range e.InstanceLocation {
				at.WriteString("/" + escape.Replace(tok))
			}
			out = append(out, violation{at: at.String(), keyword: keyword})
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(verr)
	return out
}

func TestSchemaIsValid(t *testing.T) {
	t.Parallel()
	c := jsonschema.NewCompiler()
	meta, err := c.Compile(metaschemaID)
	if err != nil {
		t.Fatalf("Compile(%q) error = %v, want nil", metaschemaID, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSON))
	if err != nil {
		t.Fatalf("UnmarshalJSON(promotion.schema.json) error = %v, want nil", err)
	}
	if err := meta.Validate(doc); err != nil {
		t.Errorf("metaschema Validate(promotion.schema.json) = %v, want nil", err)
	}
	// Compiling also checks what the metaschema cannot: $refs resolve and
	// patterns are regular expressions.
	compileSchema(t)
}

func TestSchemaIdentity(t *testing.T) {
	t.Parallel()
	var got struct {
		Schema string `json:"$schema"`
		ID     string `json:"$id"`
		Title  string `json:"title"`
	}
	if err := json.Unmarshal(JSON, &got); err != nil {
		t.Fatalf("json.Unmarshal(promotion.schema.json) error = %v, want nil", err)
	}
	if got.Schema != metaschemaID {
		t.Errorf("$schema = %q, want %q", got.Schema, metaschemaID)
	}
	if got.ID != schemaID {
		t.Errorf("$id = %q, want %q", got.ID, schemaID)
	}
	if got.Title == "" {
		t.Error(`title = "", want a title`)
	}

	modeline := regexp.MustCompile(`# yaml-language-server: \$schema=(\S+)`)

	// The URL users paste from the docs must be the one the schema claims.
	m := modeline.FindSubmatch(readFile(t, "../docs/manifest.md"))
	if m == nil {
		t.Fatal("docs/manifest.md has no yaml-language-server modeline")
	}
	if got := string(m[1]); got != schemaID {
		t.Errorf("docs/manifest.md modeline $schema = %q, want %q", got, schemaID)
	}

	// The example's relative modeline must reach this file.
	m = modeline.FindSubmatch(readFile(t, "../examples/promotion.yaml"))
	if m == nil {
		t.Fatal("examples/promotion.yaml has no yaml-language-server modeline")
	}
	resolved, err := filepath.Abs(filepath.Join("../examples", string(m[1])))
	if err != nil {
		t.Fatalf("Abs(examples/promotion.yaml modeline) error = %v, want nil", err)
	}
	self, err := filepath.Abs("promotion.schema.json")
	if err != nil {
		t.Fatalf("Abs(%q) error = %v, want nil", "promotion.schema.json", err)
	}
	if resolved != self {
		t.Errorf("examples/promotion.yaml modeline $schema %q resolves to %q, want %q", m[1], resolved, self)
	}
}

// TestSchemaConventions checks the habits editors depend on: hovers show
// descriptions with the allowed values and defaults, unknown keys are
// flagged, and empty lists are errors.
func TestSchemaConventions(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(JSON, &doc); err != nil {
		t.Fatalf("json.Unmarshal(promotion.schema.json) error = %v, want nil", err)
	}

	defs, _ := doc["$defs"].(map[string]any)
	for _, name := range []string{"duration", "name", "deploy"} {
		if _, ok := defs[name]; !ok {
			t.Errorf("$defs has no %q, want the reusable pieces in $defs", name)
		}
	}

	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s/%d", at, i), e)
			}
		case map[string]any:
			checkConventions(t, at, v)
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if k == "if" {
					continue // a condition, not a definition
				}
				walk(at+"/"+k, v[k])
			}
		}
	}
	walk("", doc)
}

// checkConventions checks one schema object. Schemas without a type are
// overlays (then, else, prefixItems, oneOf branches) that refine a full
// definition.
func checkConventions(t *testing.T, at string, s map[string]any) {
	t.Helper()
	desc, _ := s["description"].(string)
	switch s["type"] {
	case "object":
		if _, ok := s["additionalProperties"]; !ok {
			t.Errorf("%s: object without additionalProperties, want false or a schema for map values", at)
		}
		props, _ := s["properties"].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(props)) {
			if props[name] == false {
				continue // a key the schema forbids
			}
			if p, _ := props[name].(map[string]any); p["description"] == nil {
				t.Errorf("%s/properties/%s: no description, want one from docs/manifest.md", at, name)
			}
		}
	case "array":
		if got := s["minItems"]; got != 1.0 {
			t.Errorf("%s: minItems = %v, want 1 (empty lists are errors)", at, got)
		}
	}
	if enum, ok := s["enum"].([]any); ok && s["type"] != nil {
		for _, e := range enum {
			if !strings.Contains(desc, fmt.Sprint(e)) {
				t.Errorf("%s: description %q does not list %q, want every allowed value", at, desc, e)
			}
		}
	}
	if d, ok := s["default"]; ok && !strings.Contains(desc, "Default: "+fmt.Sprint(d)) {
		t.Errorf("%s: description %q does not say %q, want the default in the hover", at, desc, "Default: "+fmt.Sprint(d))
	}
}

func TestValidManifests(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)

	type manifest struct {
		name     string
		manifest []byte
	}
	tests := []manifest{
		{name: "../examples/promotion.yaml", manifest: readFile(t, "../examples/promotion.yaml")},
		{name: "docs/manifest.md#a-complete-example", manifest: docExample(t)},
	}
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("Glob(testdata/valid/*.yaml) = %v, %v, want files", files, err)
	}
	for _, f := range files {
		tests = append(tests, manifest{name: f, manifest: readFile(t, f)})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := sch.Validate(instance(t, tt.name, tt.manifest)); err != nil {
				t.Errorf("Validate(%s) = %v, want nil", tt.name, err)
			}
		})
	}
}

// brokenExamples are the manifests in examples/broken, each showing one
// kind of problem that Promote's parser reports. The schema catches only
// some kinds; the other files must be schema-valid, so that they show
// nothing but their own kind of problem.
var brokenExamples = []brokenExample{
	{file: "unknown-key.yaml", schemaRejects: true},
	{file: "wrong-type.yaml", schemaRejects: true},
	{file: "empty-list.yaml", schemaRejects: true},
	{file: "duplicate-key.yaml", duplicateKeys: true},
	// Semantic checks that only Promote's parser does.
	{file: "unknown-dependency.yaml"},
	{file: "self-dependency.yaml"},
	{file: "invalid-glob.yaml"},
	{file: "cycle.yaml"},
}

type brokenExample struct {
	file string
	// schemaRejects is whether an editor flags the file through the schema.
	schemaRejects bool
	// duplicateKeys is whether the file repeats a key. YAMLToJSON does not
	// fail on that (the last value wins) and so the schema never sees the
	// duplicate, while YAMLToJSONStrict and yaml-language-server report it.
	duplicateKeys bool
}

func TestBrokenExamples(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	for _, tt := range brokenExamples {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("../examples/broken", tt.file)
			manifest := readFile(t, path)

			_, err := yaml.YAMLToJSONStrict(manifest)
			var dup *yamlv2.TypeError
			if got := errors.As(err, &dup); got != tt.duplicateKeys {
				t.Errorf("YAMLToJSONStrict(%s) error = %v, want a duplicate key error: %t", path, err, tt.duplicateKeys)
			}

			err = sch.Validate(instance(t, path, manifest))
			if got := err != nil; got != tt.schemaRejects {
				t.Errorf("Validate(%s) = %v, want rejected: %t", path, err, tt.schemaRejects)
			}
		})
	}
}

func TestBrokenExamplesAreListed(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../examples/broken/*.yaml")
	if err != nil {
		t.Fatalf("Glob(../examples/broken/*.yaml) error = %v, want nil", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if !slices.ContainsFunc(brokenExamples, func(b brokenExample) bool { return b.file == name }) {
			t.Errorf("%s is not in brokenExamples, want each broken example to say whether the schema catches it", f)
		}
	}
}

// TestYAMLToJSONDuplicateKeys pins what sigs.k8s.io/yaml does with a
// repeated key, because it decides what the schema tests can see.
func TestYAMLToJSONDuplicateKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what     string
		manifest string
		want     string
	}{
		{
			what:     "top-level key",
			manifest: "version: 1\nversion: 2\n",
			want:     `{"version":2}`,
		},
		{
			what:     "service key, values not merged",
			manifest: "services:\n  api: {paths: [a]}\n  api: {mesh: m}\n",
			want:     `{"services":{"api":{"mesh":"m"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			got, err := yaml.YAMLToJSON([]byte(tt.manifest))
			if err != nil || string(got) != tt.want {
				t.Errorf("YAMLToJSON(%q) = %s, %v, want %s, nil", tt.manifest, got, err, tt.want)
			}
			_, err = yaml.YAMLToJSONStrict([]byte(tt.manifest))
			var dup *yamlv2.TypeError
			if !errors.As(err, &dup) {
				t.Errorf("YAMLToJSONStrict(%q) error = %v, want a *yaml.TypeError", tt.manifest, err)
			}
		})
	}
}

// inputs returns a flow mapping of n workflow inputs.
func inputs(n int) string {
	kv := make([]string, n)
	for i := range kv {
		kv[i] = fmt.Sprintf("in%d: v", i)
	}
	return "{" + strings.Join(kv, ", ") + "}"
}

func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)

	// Each manifest is minimal.yaml with one mistake.
	tests := []struct {
		what     string
		manifest string
		want     violation
	}{
		{
			what: "missing version",
			manifest: `
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "", keyword: "required"},
		},
		{
			what: "version 2",
			manifest: `
version: 2
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "/version", keyword: "const"},
		},
		{
			what: "version as a string",
			manifest: `
version: "1"
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "/version", keyword: "type"},
		},
		{
			what: "unknown top-level key",
			manifest: `
version: 1
environment: [{name: dev}]
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "", keyword: "additionalProperties"},
		},
		{
			what: "bad duration 10 minutes",
			manifest: `
version: 1
defaults: {timeout: 10 minutes}
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "/defaults/timeout", keyword: "pattern"},
		},
		{
			what: "duration as a number",
			manifest: `
version: 1
environments: [{name: dev}, {name: prod, gate: {soak: 600}}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "/environments/1/gate/soak", keyword: "type"},
		},
		{
			what: "service name with @",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api@dev: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "*/api@dev", keyword: "propertyNames"},
		},
		{
			what: "environment name with @",
			manifest: `
version: 1
environments: [{name: dev@eu}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "/environments/0/name", keyword: "pattern"},
		},
		{
			what: "environment name of 64 characters",
			manifest: fmt.Sprintf(`
version: 1
environments: [{name: %s}]
services: {api: {paths: [a], deploy: {command: ./d}}}`, strings.Repeat("e", 64)),
			want: violation{at: "/environments/0/name", keyword: "pattern"},
		},
		{
			what: "dependency name with @",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], depends_on: [db@dev], deploy: {command: ./d}}}`,
			want: violation{at: "/services/api/depends_on/0", keyword: "pattern"},
		},
		{
			what: "empty environments",
			manifest: `
version: 1
environments: []
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "/environments", keyword: "minItems"},
		},
		{
			what: "empty services",
			manifest: `
version: 1
environments: [{name: dev}]
services: {}`,
			want: violation{at: "/services", keyword: "minProperties"},
		},
		{
			what: "service without paths",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {deploy: {command: ./d}}}`,
			want: violation{at: "/services/api", keyword: "required"},
		},
		{
			what: "duplicate depends_on",
			manifest: `
version: 1
environments: [{name: dev}]
services:
  db: {paths: [db], deploy: {command: ./d}}
  api: {paths: [a], depends_on: [db, db], deploy: {command: ./d}}`,
			want: violation{at: "/services/api/depends_on", keyword: "uniqueItems"},
		},
		{
			what: "deploy with both workflow and command",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {workflow: deploy.yml, command: ./d}}}`,
			want: violation{at: "/services/api/deploy", keyword: "oneOf"},
		},
		{
			what: "deploy with neither workflow nor command",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {ref: main}}}`,
			want: violation{at: "/services/api/deploy", keyword: "oneOf"},
		},
		{
			what: "no deploy and no defaults.deploy",
			manifest: `
version: 1
defaults: {retries: 1}
environments: [{name: dev}]
services: {api: {paths: [a]}}`,
			want: violation{at: "/services/api", keyword: "required"},
		},
		{
			what: "non-string input value",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {workflow: deploy.yml, inputs: {replicas: 3}}}}`,
			want: violation{at: "/services/api/deploy/inputs/replicas", keyword: "type"},
		},
		{
			what: "input that Promote sends itself",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {workflow: deploy.yml, inputs: {ref: main}}}}`,
			want: violation{at: "/services/api/deploy/inputs/ref", keyword: "false"},
		},
		{
			what: "22 inputs",
			manifest: fmt.Sprintf(`
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {workflow: deploy.yml, inputs: %s}}}`, inputs(22)),
			want: violation{at: "/services/api/deploy/inputs", keyword: "maxProperties"},
		},
		{
			what: "signer with both local and vault",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}
evidence: {signer: {local: {}, vault: {key: k, auth: token}}}`,
			want: violation{at: "/evidence/signer", keyword: "oneOf"},
		},
		{
			what: "vault without key",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}
evidence: {signer: {vault: {role: promote}}}`,
			want: violation{at: "/evidence/signer/vault", keyword: "required"},
		},
		{
			what: "vault jwt auth without role",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}
evidence: {signer: {vault: {key: k}}}`,
			want: violation{at: "/evidence/signer/vault", keyword: "required"},
		},
		{
			what: "vault address not a URL",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}
evidence: {signer: {vault: {key: k, address: "vault.acme.example:8200"}}}`,
			want: violation{at: "/evidence/signer/vault/address", keyword: "pattern"},
		},
		{
			what: "compliance prod",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], compliance: prod, deploy: {command: ./d}}}`,
			want: violation{at: "/services/api/compliance", keyword: "enum"},
		},
		{
			what: "on_failure stop",
			manifest: `
version: 1
defaults: {on_failure: stop}
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "/defaults/on_failure", keyword: "enum"},
		},
		{
			what: "max_parallel 0",
			manifest: `
version: 1
defaults: {max_parallel: 0}
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "/defaults/max_parallel", keyword: "minimum"},
		},
		{
			what: "retries 11",
			manifest: `
version: 1
defaults: {retries: 11}
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "/defaults/retries", keyword: "maximum"},
		},
		{
			what: "soak on the first environment",
			manifest: `
version: 1
environments: [{name: dev, gate: {soak: 10m}}, {name: prod}]
services: {api: {paths: [a], deploy: {command: ./d}}}`,
			want: violation{at: "/environments/0/gate/soak", keyword: "false"},
		},
		{
			what: "github_environment of 256 characters",
			manifest: fmt.Sprintf(`
version: 1
environments: [{name: dev, github_environment: %s}]
services: {api: {paths: [a], deploy: {command: ./d}}}`, strings.Repeat("g", 256)),
			want: violation{at: "/environments/0/github_environment", keyword: "maxLength"},
		},
		{
			what: "retention_days 0",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}
evidence: {retention_days: 0}`,
			want: violation{at: "/evidence/retention_days", keyword: "minimum"},
		},
		{
			what: "store neither file nor s3",
			manifest: `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}
evidence: {store: "gs://bucket"}`,
			want: violation{at: "/evidence/store", keyword: "pattern"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			err := sch.Validate(instance(t, tt.what, []byte(tt.manifest)))
			if err == nil {
				t.Fatalf("Validate(%s) = nil, want %v", tt.what, tt.want)
			}
			if got := violations(err); !slices.Contains(got, tt.want) {
				t.Errorf("Validate(%s) = %v, want %v among them; error:\n%v", tt.what, got, tt.want, err)
			}
		})
	}
}

// TestSchemaRejectsBaseIsValid guards TestSchemaRejects: its manifests fail
// because of their one mistake, not because the base is wrong.
func TestSchemaRejectsBaseIsValid(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	const base = `
version: 1
environments: [{name: dev}]
services: {api: {paths: [a], deploy: {command: ./d}}}`
	if err := sch.Validate(instance(t, "base", []byte(base))); err != nil {
		t.Errorf("Validate(base) = %v, want nil", err)
	}
	got := violations(sch.Validate(instance(t, "base", []byte(base+"\ndefaults: {retries: 11}"))))
	want := []violation{{at: "/defaults/retries", keyword: "maximum"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(violation{})); diff != "" {
		t.Errorf("violations(Validate(base with retries 11)) mismatch (-want +got):\n%s", diff)
	}
}
