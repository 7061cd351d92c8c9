package mesh

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"istio.io/istio/operator/pkg/apis"
	"istio.io/istio/pkg/config"
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

// TestIstioOperator keeps the IstioOperator kind, the one Istio kind that
// is skipped rather than refused, equal to Istio's declaration of it.
func TestIstioOperator(t *testing.T) {
	t.Parallel()
	want := apis.IstioOperatorGVK
	if got := istioOperator; got.Group != want.Group || got.Version != want.Version || got.Kind != want.Kind {
		t.Errorf("istioOperator = %v, Istio declares %v", got, want)
	}
}

// TestUnservedKinds checks the messages for documents of Istio's groups
// that Istio does not serve, and that what it serves is not refused.
func TestUnservedKinds(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds {
		for _, v := range k.Versions {
			gvk := config.GroupVersionKind{Group: k.Group, Version: v, Kind: k.Name}
			if _, ok := kindIndex[gvk]; !ok {
				t.Errorf("%v is served but not in the index", gvk)
			}
		}
	}
	for _, tc := range []struct {
		gvk    config.GroupVersionKind
		want   string
		atKind bool
	}{
		{config.GroupVersionKind{Group: "install.istio.io", Version: "v1alpha1", Kind: "IstioOperator"}, "", false},
		{config.GroupVersionKind{Group: "install.istio.io", Version: "v1", Kind: "IstioOperator"}, "istioctl reads IstioOperator only in version v1alpha1, not v1; write apiVersion: install.istio.io/v1alpha1", false},
		{config.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "destinationrule"}, `unknown kind "destinationrule" in networking.istio.io; did you mean "DestinationRule"? (networking.istio.io serves DestinationRule, EnvoyFilter, Gateway, ProxyConfig, ServiceEntry, Sidecar, VirtualService, WorkloadEntry, WorkloadGroup)`, true},
		{config.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "AuthorisationPolicy"}, `unknown kind "AuthorisationPolicy" in networking.istio.io; did you mean "AuthorizationPolicy" (in security.istio.io)? (networking.istio.io serves DestinationRule, EnvoyFilter, Gateway, ProxyConfig, ServiceEntry, Sidecar, VirtualService, WorkloadEntry, WorkloadGroup)`, true},
		{config.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "EnvoyFilter"}, "Istio serves EnvoyFilter in networking.istio.io versions v1alpha3, not v1; write apiVersion: networking.istio.io/v1alpha3", false},
		{config.GroupVersionKind{Group: "telemetry.istio.io", Version: "v1beta1", Kind: "Telemetry"}, "Istio serves Telemetry in telemetry.istio.io versions v1, v1alpha1, not v1beta1; write apiVersion: telemetry.istio.io/v1", false},
		{config.GroupVersionKind{Group: "netwroking.istio.io", Version: "v1", Kind: "Gateway"}, "Gateway is in API group networking.istio.io, not netwroking.istio.io; write apiVersion: networking.istio.io/v1 (versions v1, v1alpha3, v1beta1)", false},
		{config.GroupVersionKind{Group: "netwrking.istio.io", Version: "v1", Kind: "Frobnicator"}, "Istio serves no API group netwrking.istio.io; did you mean networking.istio.io? (its groups are extensions.istio.io, networking.istio.io, security.istio.io, telemetry.istio.io)", false},
		{config.GroupVersionKind{Group: "config.istio.io", Version: "v1alpha2", Kind: "handler"}, "Istio serves no API group config.istio.io (its groups are extensions.istio.io, networking.istio.io, security.istio.io, telemetry.istio.io)", false},
	} {
		msg, atKind := unservedProblem(tc.gvk)
		if msg != tc.want || atKind != tc.atKind {
			t.Errorf("unservedProblem(%v) = %q, %v; want %q, %v", tc.gvk, msg, atKind, tc.want, tc.atKind)
		}
	}
}
