package mesh_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/promote-dev/promote/internal/mesh"
)

var record = flag.Bool("record", false, "run istioctl ($ISTIOCTL, else istioctl on PATH) on the Istio corpus and rewrite "+verdictsFile)

// verdictsFile holds istioctl validate's verdict on every document of the
// corpus, recorded with -record.
const verdictsFile = "testdata/istio-verdicts.txt"

// istioDoc is one Istio document of the corpus.
type istioDoc struct {
	Source string // where it comes from: a path and its document number, "path#3"
	Data   []byte
}

// digest identifies a document's bytes, so that a verdict recorded for
// other bytes (a newer Istio, an edited case) is noticed.
func (d istioDoc) digest() string {
	sum := sha256.Sum256(d.Data)
	return hex.EncodeToString(sum[:8])
}

// The corpus is the real Istio YAML on this machine, in the istio.io/istio
// module Promote builds with, plus cases written here:
//
//   - samples/: Istio's samples (helm templates left out);
//   - pkg/config/validation/testdata/crds/: the valid and invalid cases of
//     Istio's own validation tests, whose "_err" key (the expected CRD
//     error) is removed, as Istio's test removes it;
//   - tests/testdata/config/: the configurations of Istio's pilot tests;
//   - testdata/corpus/ here: durations and integer map keys in every form,
//     where istioctl's decoder and protojson differ, and kinds Istio does
//     not serve.
//
// Only documents of an *.istio.io group are kept: the other kinds are not
// Istio's to judge. With the Istio of go.mod that is 530 documents, 277 of
// them valid by istioctl: 70 samples (all valid), 111 validation cases (40
// valid), 75 pilot test configurations (73 valid) and 274 cases of ours
// (94 valid).
var corpusSources = []struct {
	module bool // in Istio's module, else in this package
	dir    string
	skip   func(path string, data []byte) bool
}{
	{true, "samples", func(path string, data []byte) bool {
		return bytes.Contains(data, []byte("{{")) || slices.Contains(strings.Split(path, "/"), "templates")
	}},
	{true, "pkg/config/validation/testdata/crds", nil},
	{true, "tests/testdata/config", nil},
	{false, "testdata/corpus", nil},
}

// istioModule returns the directory of the istio.io/istio module in the
// module cache.
func istioModule(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio").Output()
	if err != nil {
		t.Fatalf("go list -m istio.io/istio: %v", err)
	}
	return strings.TrimSpace(string(out))
}

var docSeparator = regexp.MustCompile(`^---\s*(#.*)?$`)

// istioCorpus reads the corpus's Istio documents.
func istioCorpus(t *testing.T) []istioDoc {
	t.Helper()
	module := istioModule(t)
	var docs []istioDoc
	for _, src := range corpusSources {
		root, prefix := src.dir, "promote/internal/mesh/"
		if src.module {
			root, prefix = filepath.Join(module, src.dir), ""
		}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			rel = prefix + filepath.ToSlash(filepath.Join(src.dir, rel))
			if src.skip != nil && src.skip(rel, data) {
				return nil
			}
			for i, doc := range splitDocuments(data) {
				if doc = withoutExpectation(doc); isIstio(doc) {
					docs = append(docs, istioDoc{Source: fmt.Sprintf("%s#%d", rel, i+1), Data: doc})
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return docs
}

// splitDocuments splits a YAML stream where Kubernetes' YAML reader (which
// istioctl uses) splits it: at lines "---", optionally with a comment.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if docSeparator.Match(sc.Bytes()) {
			docs, cur = append(docs, cur), nil
			continue
		}
		cur = append(append(cur, sc.Bytes()...), '\n')
	}
	return append(docs, cur)
}

// withoutExpectation removes the "_err" line of Istio's validation cases.
func withoutExpectation(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(line, []byte("_err:")) {
			out = append(out, line...)
		}
	}
	return out
}

// isIstio reports whether doc is a resource of an *.istio.io group.
func isIstio(doc []byte) bool {
	var head struct {
		APIVersion string `yaml:"apiVersion"`
	}
	if yaml.Unmarshal(doc, &head) != nil {
		return false
	}
	group, _, ok := strings.Cut(head.APIVersion, "/")
	return ok && strings.HasSuffix(group, ".istio.io")
}

// promoteValid is Promote's verdict with the layers istioctl validate
// has: no error.
func promoteValid(t *testing.T, d istioDoc) (bool, []mesh.Finding) {
	t.Helper()
	set := mesh.NewSet("")
	set.Add(d.Source, d.Data, "")
	rep, err := mesh.Check(context.Background(), set, mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema, mesh.LayerIstio}})
	if err != nil {
		t.Fatal(err)
	}
	errs, _, _ := rep.Counts()
	return errs == 0, rep.Findings
}

const unknownKind = "istioctl skips a kind or version Istio does not serve; the API server refuses it"

// divergences are the documents on which Promote's verdict differs from
// istioctl's on purpose, with the reason.
var divergences = map[string]string{
	"pkg/config/validation/testdata/crds/envoyfilter-invalid.yaml#1": "Promote does not run Istio's EnvoyFilter rules, which link Envoy's whole API (see Kind)",
	"promote/internal/mesh/testdata/corpus/unknown-kinds.yaml#1":     unknownKind,
	"promote/internal/mesh/testdata/corpus/unknown-kinds.yaml#2":     unknownKind,
	"promote/internal/mesh/testdata/corpus/unknown-kinds.yaml#3":     unknownKind,
	"promote/internal/mesh/testdata/corpus/unknown-kinds.yaml#4":     unknownKind,
	"promote/internal/mesh/testdata/corpus/map-keys.yaml#14":         `the key " 80": jsonpb reads it as a JSON number, the API server's CRD rule int(key) refuses it`,
	"promote/internal/mesh/testdata/corpus/map-keys.yaml#15":         `the key "80 ": jsonpb reads it as a JSON number, the API server's CRD rule int(key) refuses it`,
}

// TestIstioCorpus checks that Promote's --checks schema,istio accepts every
// document of the corpus that istioctl validate accepts, and refuses every
// one it refuses. The verdicts were recorded with istioctl built from the
// same Istio commit (go test -run TestIstioCorpus -record, with ISTIOCTL
// naming it), so the test runs without it.
func TestIstioCorpus(t *testing.T) {
	t.Parallel()
	docs := istioCorpus(t)
	if *record {
		recordVerdicts(t, docs)
	}
	recorded := readVerdicts(t)
	counts := map[bool]int{}
	for _, d := range docs {
		v, ok := recorded[d.Source]
		if !ok {
			t.Errorf("%s: no verdict recorded; run go test -run TestIstioCorpus -record with ISTIOCTL set", d.Source)
			continue
		}
		delete(recorded, d.Source)
		if v.digest != d.digest() {
			t.Errorf("%s: the document changed since its verdict was recorded; record again", d.Source)
			continue
		}
		counts[v.valid]++
		got, findings := promoteValid(t, d)
		reason, diverges := divergences[d.Source]
		switch {
		case diverges && got == v.valid:
			t.Errorf("%s: listed as a divergence (%s), but Promote now agrees with istioctl; remove it from the list", d.Source, reason)
		case !diverges && got != v.valid:
			t.Errorf("%s: istioctl says valid=%v, Promote says valid=%v; findings: %v\n%s", d.Source, v.valid, got, findings, d.Data)
		}
	}
	for source := range recorded {
		t.Errorf("%s: a verdict is recorded for a document the corpus no longer has; record again", source)
	}
	t.Logf("%d documents: %d valid, %d invalid by istioctl", len(docs), counts[true], counts[false])
	if counts[true] < 250 || counts[false] < 200 {
		t.Errorf("the corpus has %d valid and %d invalid documents; expected at least 250 and 200 (is the module cache complete?)", counts[true], counts[false])
	}
}

type verdict struct {
	valid  bool
	digest string
}

func readVerdicts(t *testing.T) map[string]verdict {
	t.Helper()
	data, err := os.ReadFile(verdictsFile)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]verdict{}
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || (f[0] != "valid" && f[0] != "invalid") {
			t.Fatalf("%s:%d: expected \"valid|invalid DIGEST SOURCE\", got %q", verdictsFile, i+1, line)
		}
		out[f[2]] = verdict{valid: f[0] == "valid", digest: f[1]}
	}
	return out
}

// recordVerdicts runs istioctl validate on each document and writes the
// verdicts.
func recordVerdicts(t *testing.T, docs []istioDoc) {
	t.Helper()
	istioctl := os.Getenv("ISTIOCTL")
	if istioctl == "" {
		var err error
		if istioctl, err = exec.LookPath("istioctl"); err != nil {
			t.Fatal("-record needs istioctl: set ISTIOCTL or put it on PATH")
		}
	}
	// istioctl built with go install does not know its version; the
	// Makefile builds it from the istio.io/istio of go.mod.
	version, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "istio.io/istio").Output()
	if err != nil {
		t.Fatalf("go list -m istio.io/istio: %v", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# istioctl validate's verdict on each Istio document of the corpus (see\n")
	fmt.Fprintf(&b, "# corpus_test.go): valid|invalid, the first 8 bytes of the document's\n")
	fmt.Fprintf(&b, "# SHA-256, its source. Recorded by\n")
	fmt.Fprintf(&b, "#   ISTIOCTL=... go test ./internal/mesh -run TestIstioCorpus -record\n")
	fmt.Fprintf(&b, "# with istioctl built from istio.io/istio %s (make .tools/bin/istioctl).\n", strings.TrimSpace(string(version)))
	dir := t.TempDir()
	for i, d := range docs {
		file := filepath.Join(dir, fmt.Sprintf("doc%d.yaml", i))
		if err := os.WriteFile(file, d.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(istioctl, "validate", "-f", file).CombinedOutput()
		v := "valid"
		if err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("%s validate: %v", istioctl, err)
			}
			v = "invalid"
			t.Logf("%s: %s", d.Source, bytes.TrimSpace(out))
		}
		fmt.Fprintf(&b, "%s %s %s\n", v, d.digest(), d.Source)
	}
	if err := os.WriteFile(verdictsFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
