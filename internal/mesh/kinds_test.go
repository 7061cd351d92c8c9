package mesh

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"istio.io/istio/pkg/config/schema/collections"
)

// TestKindsMatchIstio keeps the kind table equal to Istio's own schema
// collection, which istioctl validate uses: the same kinds, API versions,
// proto types and validation functions (EnvoyFilter's excepted, see Kind).
func TestKindsMatchIstio(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range collections.Pilot.All() {
		if !strings.HasSuffix(s.Group(), "istio.io") {
			continue
		}
		name := s.Group() + "/" + s.Kind()
		seen[name] = true
		i := slices.IndexFunc(Kinds, func(k *Kind) bool { return k.Group == s.Group() && k.Name == s.Kind() })
		if i < 0 {
			t.Errorf("Istio validates %s; add it to Kinds", name)
			continue
		}
		k := Kinds[i]
		var want []string
		for _, gvk := range s.GroupVersionAliasKinds() {
			want = append(want, gvk.Version)
		}
		got := slices.Clone(k.Versions)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s versions = %v, Istio has %v", name, got, want)
		}
		if k.Versions[0] != s.Version() {
			t.Errorf("%s stored version = %s, Istio stores %s", name, k.Versions[0], s.Version())
		}
		if got := string(k.new().ProtoReflect().Descriptor().FullName()); got != s.Proto() {
			t.Errorf("%s decodes into %s, Istio into %s", name, got, s.Proto())
		}
		if k.Name == "EnvoyFilter" {
			continue
		}
		// The schema keeps its function unexported; reflect reads it.
		istio := reflect.ValueOf(s).Elem().FieldByName("validateConfig")
		if !istio.IsValid() {
			t.Fatalf("Istio's schema has no field validateConfig any more; update this test")
		}
		if k.validate == nil || reflect.ValueOf(k.validate).Pointer() != istio.Pointer() {
			t.Errorf("%s: the validation function differs from Istio's", name)
		}
	}
	for _, k := range Kinds {
		if !seen[k.Group+"/"+k.Name] {
			t.Errorf("Kinds has %s/%s, which Istio does not validate", k.Group, k.Name)
		}
	}
}
