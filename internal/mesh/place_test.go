package mesh

import (
	"context"
	"testing"
)

// BenchmarkPlaceIstio measures what placing Istio's messages costs: Istio's
// validation of one AuthorizationPolicy with three messages, then the same
// with the three placed.
func BenchmarkPlaceIstio(b *testing.B) {
	const doc = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: conditions, namespace: payments}
spec:
  rules:
    - from:
        - source:
            principals: ["cluster.local/ns/a/sa/b"]
      to:
        - operation:
            paths: ["/ok", "/{**}/x/{*}"]
      when:
        - key: request.headers[x]
          values: ["a"]
        - key: bogus.key
          values: ["a"]
`
	set := NewSet("")
	set.Add("policy.yaml", []byte(doc), "")
	r := set.Resources[0]
	r.Message, r.problems = decodeSpec(r, r.Pos.File, specBudget)
	if len(validateIstio(r)) != 3 {
		b.Fatalf("Istio's messages: %v, want 3", validateIstio(r))
	}
	b.Run("validate", func(b *testing.B) {
		for b.Loop() {
			validateIstio(r)
		}
	})
	b.Run("validate+place", func(b *testing.B) {
		for b.Loop() {
			found := [][]Finding{validateIstio(r)}
			if err := placeIstio(context.Background(), set.Resources, found); err != nil {
				b.Fatal(err)
			}
		}
	})
}
