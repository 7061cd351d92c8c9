package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"istio.io/istio/manifests"
	"istio.io/istio/pkg/config"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	apiservercel "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"

	"github.com/promote-dev/promote/internal/mesh/crdgen/gen"
	"github.com/promote-dev/promote/internal/yamlnode"
)

// checkYAML checks one YAML stream with the given layers and returns every
// finding as "line:col: severity: message [rule]".
func checkYAML(t *testing.T, doc string, layers ...Layer) []string {
	t.Helper()
	set := NewSet("")
	set.Add("x.yaml", []byte(doc), "")
	rep, err := Check(context.Background(), set, Options{Checks: layers})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range rep.Findings {
		out = append(out, strings.TrimPrefix(f.String(), "x.yaml:"))
	}
	return out
}

// TestCRDSchemasCurrent keeps crds.json equal to what crdgen writes from
// the Istio module of go.mod: run go generate ./internal/mesh after
// updating Istio.
func TestCRDSchemasCurrent(t *testing.T) {
	want, err := gen.Compact()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(crdsJSON, want) {
		t.Fatal("crds.json differs from Istio's CRDs in the module cache; run go generate ./internal/mesh")
	}
}

// TestCRDRulesCompile compiles every CEL rule of Istio's CRD file, in
// every served version, with the API server's environment for new
// expressions (what creating the CRD checks, the stricter) and for stored
// ones (what the validator uses): every function a rule calls (duration,
// url, isURL, matches, ...) must be there.
func TestCRDRulesCompile(t *testing.T) {
	crds, err := gen.Read(manifests.FS)
	if err != nil {
		t.Fatal(err)
	}
	inFile := 0
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if v.Served && v.Schema != nil {
				b, _ := json.Marshal(v.Schema.OpenAPIV3Schema)
				inFile += bytes.Count(b, []byte(`"rule":`))
			}
		}
	}
	var raw []crdEntry
	if err := json.Unmarshal(crdsJSON, &raw); err != nil {
		t.Fatal(err)
	}
	envSet := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
	total, transition := 0, 0
	for _, r := range raw {
		s, err := buildCRDSchema(r.Schema)
		if err != nil {
			t.Fatalf("%s/%s %s: %v", r.Group, r.Version, r.Kind, err)
		}
		total += s.rules
		transition += s.transition
		compiled := 0
		walkStructural(s.structural, "", func(path string, node *structuralschema.Structural) {
			if len(node.XValidations) == 0 {
				return
			}
			for _, loader := range []apiservercel.EnvLoader{apiservercel.NewExpressionsEnvLoader(), apiservercel.StoredExpressionsEnvLoader()} {
				results, err := apiservercel.Compile(node, model.SchemaDeclType(node, path == ""), celconfig.PerCallLimit, envSet, loader)
				if err != nil {
					t.Fatalf("%s %s%s: %v", r.Kind, r.Version, path, err)
				}
				for i, res := range results {
					if res.Error != nil {
						t.Errorf("%s %s%s: rule %q does not compile: %v", r.Kind, r.Version, path, node.XValidations[i].Rule, res.Error)
					}
					if res.UsesOldSelf != strings.Contains(node.XValidations[i].Rule, "oldSelf") {
						t.Errorf("%s %s%s: rule %q: countRules disagrees with the compiler on oldSelf", r.Kind, r.Version, path, node.XValidations[i].Rule)
					}
				}
			}
			compiled += len(node.XValidations)
		})
		if compiled != s.rules {
			t.Errorf("%s %s: compiled %d rules, counted %d", r.Kind, r.Version, compiled, s.rules)
		}
	}
	t.Logf("%d CEL rules in %d served schemas compile; %d read oldSelf (skipped)", total, len(raw), transition)
	if total != inFile || total < 390 {
		t.Errorf("compiled %d rules; Istio's CRD file has %d in its served versions", total, inFile)
	}
}

// TestCRDSamples breaks one rule of each kind: the finding is at the line
// of the object the rule sits on (CEL) or of the field (the structural
// schema), with the rule's message and the limit; the fixed document
// passes. The CRD layer runs with the schema layer only, so that no rule
// of Istio's own hides it.
func TestCRDSamples(t *testing.T) {
	for _, tc := range []struct {
		name, broken string
		fix          [2]string // the broken document's text to replace and its fix
		want         string    // line:col: severity: message [rule], as a prefix or substring; one a line
	}{{
		name: "mutual exclusion (CEL)",
		broken: `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  jwtRules:
  - issuer: https://example.com
    jwks: '{"keys":[]}'
    jwksUri: https://example.com/jwks
`,
		fix:  [2]string{"    jwks: '{\"keys\":[]}'\n", ""},
		want: `6:5: error: spec.jwtRules[0]: only one of jwks or jwksUri can be set (rule: (has(self.jwksUri) ? 1 : 0) + (has(self.jwks_uri) ? 1 : 0) + (has(self.jwks) ? 1 : 0) <= 1) [crd.cel]`,
	}, {
		name: "duration bound (CEL)",
		broken: `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp:
        tcpKeepalive:
          time: 500us
`,
		fix:  [2]string{"          time: 500us\n", "          time: 2h\n"},
		want: `10:17: error: spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.time: must be a valid duration greater than 1ms (rule: duration(self) >= duration('1ms')) [crd.cel]`,
	}, {
		name: "URL (CEL with url() and isURL())",
		broken: `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: w}
spec:
  url: ftp://example.com/filter.wasm
`,
		fix:  [2]string{"  url: ftp://example.com/filter.wasm\n", "  url: oci://ghcr.io/example/filter:1.0\n"},
		want: `5:8: error: spec.url: url must have schema one of [http, https, file, oci] (rule: isURL(self)`,
	}, {
		name: "list (CEL over a list: duplicate port numbers)",
		broken: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: [api.example.com]
  ports:
  - {number: 443, name: https, protocol: HTTPS}
  - {number: 443, name: tls, protocol: TLS}
  resolution: DNS
`,
		fix:  [2]string{"  - {number: 443, name: tls, protocol: TLS}\n", "  - {number: 8443, name: tls, protocol: TLS}\n"},
		want: `6:3: error: spec.ports: port number cannot be duplicated (rule: self.all(l1, self.exists_one(l2, l1.number == l2.number))) [crd.cel]`,
	}, {
		name: "pattern (CEL matches())",
		broken: `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: we}
spec:
  address: 10.0.0.1
  ports:
    http_port: 8080
`,
		fix:  [2]string{"    http_port: 8080\n", "    http-port: 8080\n"},
		want: `6:3: error: spec.ports: port name must be valid (rule: self.all(key, size(key) < 63 && key.matches(`,
	}, {
		name: "maxItems",
		broken: `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls:
      mode: SIMPLE
      credentialNames: [a, b, c]
`,
		fix:  [2]string{"      credentialNames: [a, b, c]\n", "      credentialNames: [a, b]\n"},
		want: `10:7: error: spec.servers[0].tls.credentialNames: 3 items, more than the limit of 2 (maxItems) [crd.schema]`,
	}, {
		name: "minItems",
		broken: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: []
`,
		fix:  [2]string{"  hosts: []\n", "  hosts: [api.example.com]\n"},
		want: `5:3: error: spec.hosts: 0 items, fewer than the minimum of 1 (minItems) [crd.schema]`,
	}, {
		name: "maxLength",
		broken: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap}
spec:
  selector:
    matchLabels:
      app: payments-api-with-a-name-much-longer-than-any-label-value-may-be
`,
		fix:  [2]string{"      app: payments-api-with-a-name-much-longer-than-any-label-value-may-be\n", "      app: payments-api\n"},
		want: `7:12: error: spec.selector.matchLabels.app: 64 characters, longer than the limit of 63 (maxLength) [crd.schema]`,
	}, {
		name: "pattern",
		broken: `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ra}
spec:
  jwtRules:
  - issuer: https://example.com
    outputClaimToHeaders:
    - header: x jwt sub
      claim: sub
`,
		fix:  [2]string{"    - header: x jwt sub\n", "    - header: x-jwt-sub\n"},
		want: `8:15: error: spec.jwtRules[0].outputClaimToHeaders[0].header: "x jwt sub" does not match the pattern ^[-_A-Za-z0-9]+$ (pattern) [crd.schema]`,
	}, {
		name: "minimum",
		broken: `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: reviews
  trafficPolicy:
    outlierDetection:
      outlierDetectionHttpErrorCodes: [99]
`,
		fix:  [2]string{"      outlierDetectionHttpErrorCodes: [99]\n", "      outlierDetectionHttpErrorCodes: [503]\n"},
		want: `8:40: error: spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes[0]: 99 should be greater than or equal to 100 (minimum) [crd.schema]`,
	}, {
		name: "maximum",
		broken: `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: t}
spec:
  tracing:
  - randomSamplingPercentage: 101
`,
		fix:  [2]string{"  - randomSamplingPercentage: 101\n", "  - randomSamplingPercentage: 10\n"},
		want: `6:31: error: spec.tracing[0].randomSamplingPercentage: 101 should be less than or equal to 100 (maximum) [crd.schema]`,
	}, {
		name: "required",
		broken: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap}
spec:
  rules:
  - when:
    - values: [GET]
`,
		fix: [2]string{"    - values: [GET]\n", `    - key: request.method
      values: [GET]
`},
		want: `7:7: error: spec.rules[0].when[0]: the required field "key" is missing (required) [crd.schema]`,
	}, {
		name: "required spec",
		broken: `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se}
`,
		fix: [2]string{"metadata: {name: se}\n", `metadata: {name: se}
spec:
  hosts: [api.example.com]
`},
		want: `1:1: error: the required field "spec" is missing (required) [crd.schema]`,
	}, {
		name: "keys of a list-type map",
		broken: `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: w}
spec:
  url: oci://ghcr.io/example/filter:1.0
  vmConfig:
    env:
    - {name: MODE, value: a}
    - {name: MODE, value: b}
`,
		fix:  [2]string{"    - {name: MODE, value: b}\n", "    - {name: LEVEL, value: b}\n"},
		want: `9:7: error: spec.vmConfig.env[1]: duplicate {"name":"MODE"}: the items of this list must differ in their keys (x-kubernetes-list-type) [crd.schema]`,
	}, {
		name: "two rules of one value (CEL), both reported",
		broken: `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: we}
spec:
  address: unix://run/app/
`,
		fix: [2]string{"unix://run/app/", "unix:///run/app.sock"},
		want: "5:12: error: spec.address: UDS may not be a dir (rule: \n" +
			"5:12: error: spec.address: UDS must be an absolute path or abstract socket (rule: ",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkYAML(t, tc.broken, LayerSchema, LayerCRD)
			want := strings.Split(tc.want, "\n")
			ok := len(got) == len(want)
			for i := 0; ok && i < len(want); i++ {
				ok = strings.HasPrefix(got[i], want[i]) || strings.Contains(got[i], want[i])
			}
			if !ok {
				t.Errorf("broken: got %q, want %q", got, want)
			}
			fixed := strings.Replace(tc.broken, tc.fix[0], tc.fix[1], 1)
			if fixed == tc.broken {
				t.Fatalf("the fix %q changes nothing", tc.fix)
			}
			if got := checkYAML(t, fixed, LayerSchema, LayerCRD); len(got) != 0 {
				t.Errorf("fixed: got %q, want none", got)
			}
		})
	}
}

// TestCRDEvaluationError gives a rule a value it cannot evaluate (a
// duration() of a string that is not one, behind a field whose type the
// schema leaves open, as x-kubernetes-preserve-unknown-fields and
// int-or-string do): an internal finding that names the rule, never a
// crash, and the words celFailed looks for are the validator's.
func TestCRDEvaluationError(t *testing.T) {
	s, err := buildCRDSchema([]byte(`{"type": "object", "properties": {"spec": {"type": "object", "properties": {
		"mtls": {"type": "object", "properties": {"mode": {"x-kubernetes-int-or-string": true,
			"x-kubernetes-validations": [{"rule": "duration(self) >= duration('1ms')", "message": "the mode is a duration"}]}}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet("")
	set.Add("x.yaml", []byte("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa}\nspec:\n  mtls:\n    mode: STRICT\n"), "")
	got := checkCRDSchema(context.Background(), set.Resources[0], s, nil)
	if len(got) != 1 {
		t.Fatalf("got %v, want one finding", got)
	}
	f := got[0].Finding
	t.Log(f)
	if f.Rule != RuleCRDInternal || f.Line != 6 || f.Col != 11 || !strings.Contains(f.Message, "the mode is a duration") || !strings.Contains(f.Message, "duration(self) >= duration('1ms')") {
		t.Errorf("got %v, want an internal finding at 6:11 naming the rule and its message", f)
	}
}

// BenchmarkCRDReadCompact and BenchmarkCRDReadYAML compare the two ways to
// get Istio's CRD schemas at start-up: decoding crds.json, generated at
// build time, or reading the CRD file from Istio's module (embedded) as
// the API server would. Both end with every served schema decoded.
func BenchmarkCRDReadCompact(b *testing.B) {
	for b.Loop() {
		var raw []crdEntry
		if err := json.Unmarshal(crdsJSON, &raw); err != nil {
			b.Fatal(err)
		}
		for _, r := range raw {
			var v1 apiextensionsv1.JSONSchemaProps
			if err := json.Unmarshal(r.Schema, &v1); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCRDReadYAML(b *testing.B) {
	for b.Loop() {
		if _, err := gen.Read(manifests.FS); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCRDBuild builds what checks one kind: the structural schema,
// the OpenAPI validator and the CEL validator with its rules compiled (a
// VirtualService v1, with 49 rules), as a process does once for each kind
// and version it meets.
func BenchmarkCRDBuild(b *testing.B) {
	var raw []crdEntry
	if err := json.Unmarshal(crdsJSON, &raw); err != nil {
		b.Fatal(err)
	}
	i := slices.IndexFunc(raw, func(r crdEntry) bool {
		return r.Kind == "VirtualService" && r.Version == "v1"
	})
	for b.Loop() {
		s, err := buildCRDSchema(raw[i].Schema)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(s.rules), "rules")
	}
}

// wholeValidators are OpenAPI validators of the whole schemas, for
// pruneDiff.
var wholeValidators = sync.OnceValue(func() map[string]*validate.SchemaValidator {
	var raw []crdEntry
	if err := json.Unmarshal(crdsJSON, &raw); err != nil {
		panic(err)
	}
	whole := map[string]*validate.SchemaValidator{}
	for _, r := range raw {
		var v1 apiextensionsv1.JSONSchemaProps
		var internal apiextensions.JSONSchemaProps
		if err := json.Unmarshal(r.Schema, &v1); err != nil {
			panic(err)
		}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&v1, &internal, nil); err != nil {
			panic(err)
		}
		_, s, err := apiservervalidation.NewSchemaValidator(&internal)
		if err != nil {
			panic(err)
		}
		whole[r.Group+"/"+r.Version+"/"+r.Kind] = validate.NewSchemaValidator(s, nil, "", strfmt.Default)
	}
	return whole
})

// typeOnly matches what the whole schema reports and the pruned one leaves
// to the schema layer: types, enums, the ranges of integer types, and the
// fields of a proto oneof (oneOf, anyOf, not).
var typeOnly = regexp.MustCompile(`must be of type|should be one of|equal to (0|4294967295|2147483647|-2147483648)$|one and only one schema \(oneOf\)|must not validate the schema \(not\)|at least one schema \(anyOf\)`)

// pruneDiff validates r against the pruned schema the CRD layer uses
// (pruneToLimits) and the whole one, and returns what the pruned one
// reports and the whole one does not (extra), and what the whole one
// reports and the pruned one does not, but for types, enums and the ranges
// of integer types (missing); ok is false when Istio's CRDs have no schema
// for r.
func pruneDiff(r *Resource) (extra, missing []string, ok bool) {
	v := wholeValidators()[r.Group+"/"+r.Version+"/"+r.Kind]
	if v == nil {
		return nil, nil, false
	}
	s, err := crdSchemaFor(config.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind})
	if err != nil {
		panic(err)
	}
	w := &yamlnode.Walker{Budget: specBudget}
	obj := map[string]any{"apiVersion": r.APIVersion, "kind": r.Kind}
	for k, n := range w.All(r.Doc) {
		if k.Value == "metadata" || k.Value == "spec" {
			obj[k.Value] = value(n, w)
		}
	}
	var whole, pruned []string
	for _, e := range v.Validate(obj).Errors {
		whole = append(whole, e.Error())
	}
	for _, e := range s.openapi.Validate(obj).Errors {
		pruned = append(pruned, e.Error())
	}
	for _, e := range pruned {
		if !slices.Contains(whole, e) {
			extra = append(extra, e)
		}
	}
	for _, e := range whole {
		if !slices.Contains(pruned, e) && !typeOnly.MatchString(e) {
			missing = append(missing, e)
		}
	}
	return extra, missing, true
}

// TestCRDPruneAgrees holds the pruned schema to the whole one on the
// examples and the cases here; TestCRDCorpus does on the corpus.
func TestCRDPruneAgrees(t *testing.T) {
	var files []string
	for _, glob := range []string{"testdata/corpus/*.yaml", "testdata/*.yaml", "../../examples/*/*/mesh/*.yaml", "../../examples/broken/mesh/*.yaml"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	set, err := Load(files, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range set.Resources {
		extra, missing, ok := pruneDiff(r)
		if !ok {
			continue
		}
		if len(extra)+len(missing) > 0 {
			t.Errorf("%s %s: the pruned schema reports %q besides the whole one, misses %q", r.Pos, r.Ref(), extra, missing)
		}
		checked++
	}
	t.Logf("%d resources agree", checked)
	if checked < 300 {
		t.Errorf("checked %d resources, expected at least 300", checked)
	}
}

// TestCRDTransitionRules: a rule that reads oldSelf cannot be judged from
// files; it is skipped, as the API server skips it on create, and counted.
func TestCRDTransitionRules(t *testing.T) {
	s, err := buildCRDSchema([]byte(`{"type": "object", "properties": {"spec": {"type": "object",
		"properties": {"mtls": {"type": "object", "properties": {"mode": {"type": "string"}}}},
		"x-kubernetes-validations": [
			{"rule": "self == oldSelf", "message": "spec is immutable"},
			{"rule": "has(self.mtls)", "message": "mtls is required"}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.rules != 2 || s.transition != 1 {
		t.Errorf("counted %d rules, %d transition; want 2 and 1", s.rules, s.transition)
	}
	set := NewSet("")
	set.Add("x.yaml", []byte("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa}\nspec:\n  selector: {}\n"), "")
	got := checkCRDSchema(context.Background(), set.Resources[0], s, nil)
	if len(got) != 1 || got[0].Rule != RuleCRDCEL || !strings.Contains(got[0].Message, "mtls is required") {
		t.Errorf("got %v, want only the finding of the rule without oldSelf", got)
	}
}
