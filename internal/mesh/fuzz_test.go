package mesh_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"github.com/promote-dev/promote/internal/mesh"
)

// FuzzLoad feeds arbitrary files through the loader, the strict decoder and
// the Istio, CRD and analysis layers: no input may crash them, every finding
// must point into the file, and the CRD layer's pruned schemas must agree
// with the whole ones.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"../../examples/services/*/mesh/*.yaml", "../../examples/broken/mesh/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: x}\nspec: {mtls: {mode: 3}, portLevelMtls: {\"80\": {mode: STRICT}}}\n"))
	// Documents that the CRD layer refuses: its positions come from the
	// API server's field paths, which must land in the file.
	f.Add([]byte("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: j}\nspec:\n  jwtRules:\n  - issuer: a\n    jwks: x\n    jwksUri: https://a/b\n    outputClaimToHeaders: [{header: 'a b', claim: c}]\n"))
	f.Add([]byte("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s}\nspec:\n  hosts: []\n  ports: [{number: 1, name: a}, {number: 1, name: b}]\n"))
	f.Add([]byte("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec:\n  selector: {matchLabels: {a.b/c: x}}\n  portLevelMtls: {0x50: {mode: STRICT}, \"a.b\": {}}\n"))
	opts := mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema, mesh.LayerIstio, mesh.LayerCRD, mesh.LayerAnalysis}}
	f.Fuzz(func(t *testing.T, data []byte) {
		set := mesh.NewSet("")
		set.Add("fuzz.yaml", data, "")
		rep, err := mesh.Check(context.Background(), set, opts)
		if err != nil {
			t.Fatal(err)
		}
		// The CRD layer validates against schemas pruned to their limits:
		// on any input they must report what the whole schemas report.
		for _, r := range set.Resources {
			if extra, missing, ok := mesh.CRDPruneDiff(r); ok && len(extra)+len(missing) > 0 {
				t.Fatalf("%s: the pruned CRD schema reports %q besides the whole one, misses %q", r.Ref(), extra, missing)
			}
		}
		lines := lineBreaks(data) + 1
		for _, f := range rep.Findings {
			if f.File != "fuzz.yaml" || f.Line < 1 || f.Line > lines || f.Col < 0 {
				t.Fatalf("finding outside the file (%d lines): %v", lines, f)
			}
			if f.Message == "" || f.Rule == "" {
				t.Fatalf("finding without message or rule: %#v", f)
			}
		}
	})
}

// lineBreaks counts line breaks as the YAML library does: CRLF, CR and LF,
// and also NEL, LS and PS, which it takes from YAML 1.1, in UTF-16 too when
// a byte order mark says so.
func lineBreaks(data []byte) int {
	if len(data) >= 2 && (data[0] == 0xFE && data[1] == 0xFF || data[0] == 0xFF && data[1] == 0xFE) {
		units := make([]uint16, 0, len(data)/2)
		for i := 2; i+1 < len(data); i += 2 {
			if data[0] == 0xFE {
				units = append(units, uint16(data[i])<<8|uint16(data[i+1]))
			} else {
				units = append(units, uint16(data[i+1])<<8|uint16(data[i]))
			}
		}
		data = []byte(string(utf16.Decode(units)))
	}
	n := 0
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			n++
		case data[i] == '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			n++
		case data[i] == 0xC2 && i+1 < len(data) && data[i+1] == 0x85:
			n++
		case data[i] == 0xE2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9):
			n++
		}
	}
	return n
}
