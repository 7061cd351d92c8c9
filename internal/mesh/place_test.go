package mesh

import (
	"context"
	"os"
	"testing"
)

// BenchmarkPlaceIstio measures what placing Istio's messages costs: Istio's
// validation of one AuthorizationPolicy with three messages, then the same
// with the three placed.
func BenchmarkPlaceIstio(b *testing.B) {
	data, err := os.ReadFile("testdata/istio-messages.yaml")
	if err != nil {
		b.Fatal(err)
	}
	set := NewSet("")
	set.Add("istio.yaml", data, "")
	r := set.Resources[1] // the policy with three messages
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
			if err := placeIstio(context.Background(), []*Resource{r}, found); err != nil {
				b.Fatal(err)
			}
		}
	})
}
