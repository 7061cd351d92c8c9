package mesh

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	extensions "istio.io/api/extensions/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	networkingbeta "istio.io/api/networking/v1beta1"
	security "istio.io/api/security/v1beta1"
	telemetry "istio.io/api/telemetry/v1alpha1"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/validation"

	"github.com/promote-dev/promote/internal/yamlnode"
)

// Kind is an Istio kind: its API versions, its proto type and Istio's
// validation of it.
//
// The table mirrors Istio's own schema collection (what istioctl validate
// looks kinds up in; TestKindsMatchIstio keeps them equal) without linking
// it: the collection brings every Kubernetes and Gateway API type along and
// would more than double the binary.
type Kind struct {
	Group    string
	Name     string
	Versions []string // the first is the one Istio stores
	new      func() proto.Message
	// validate is Istio's validation; nil for EnvoyFilter, whose rules
	// live in a package that links Envoy's entire API (46 MB).
	validate validation.ValidateFunc
}

// GroupVersionKind returns the kind at the version Istio stores.
func (k *Kind) GroupVersionKind() config.GroupVersionKind {
	return config.GroupVersionKind{Group: k.Group, Version: k.Versions[0], Kind: k.Name}
}

var (
	securityVersions   = []string{"v1", "v1beta1"}
	networkingVersions = []string{"v1", "v1alpha3", "v1beta1"}
)

// Kinds lists the Istio kinds Promote checks.
var Kinds = []*Kind{
	{"security.istio.io", "AuthorizationPolicy", securityVersions, func() proto.Message { return new(security.AuthorizationPolicy) }, validation.ValidateAuthorizationPolicy},
	{"security.istio.io", "PeerAuthentication", securityVersions, func() proto.Message { return new(security.PeerAuthentication) }, validation.ValidatePeerAuthentication},
	{"security.istio.io", "RequestAuthentication", securityVersions, func() proto.Message { return new(security.RequestAuthentication) }, validation.ValidateRequestAuthentication},
	{"networking.istio.io", "DestinationRule", networkingVersions, func() proto.Message { return new(networking.DestinationRule) }, validation.ValidateDestinationRule},
	{"networking.istio.io", "Gateway", networkingVersions, func() proto.Message { return new(networking.Gateway) }, validation.ValidateGateway},
	{"networking.istio.io", "ServiceEntry", networkingVersions, func() proto.Message { return new(networking.ServiceEntry) }, validation.ValidateServiceEntry},
	{"networking.istio.io", "Sidecar", networkingVersions, func() proto.Message { return new(networking.Sidecar) }, validation.ValidateSidecar},
	{"networking.istio.io", "VirtualService", networkingVersions, func() proto.Message { return new(networking.VirtualService) }, validation.ValidateVirtualService},
	{"networking.istio.io", "WorkloadEntry", networkingVersions, func() proto.Message { return new(networking.WorkloadEntry) }, validation.ValidateWorkloadEntry},
	{"networking.istio.io", "WorkloadGroup", networkingVersions, func() proto.Message { return new(networking.WorkloadGroup) }, validation.ValidateWorkloadGroup},
	{"networking.istio.io", "EnvoyFilter", []string{"v1alpha3"}, func() proto.Message { return new(networking.EnvoyFilter) }, nil},
	{"networking.istio.io", "ProxyConfig", []string{"v1beta1"}, func() proto.Message { return new(networkingbeta.ProxyConfig) }, validation.ValidateProxyConfig},
	{"telemetry.istio.io", "Telemetry", []string{"v1", "v1alpha1"}, func() proto.Message { return new(telemetry.Telemetry) }, validation.ValidateTelemetry},
	{"extensions.istio.io", "WasmPlugin", []string{"v1alpha1"}, func() proto.Message { return new(extensions.WasmPlugin) }, validation.ValidateWasmPlugin},
	{"extensions.istio.io", "TrafficExtension", []string{"v1alpha1"}, func() proto.Message { return new(extensions.TrafficExtension) }, validation.ValidateTrafficExtension},
}

// kindIndex finds a kind by group, version and name.
var kindIndex = func() map[config.GroupVersionKind]*Kind {
	m := map[config.GroupVersionKind]*Kind{}
	for _, k := range Kinds {
		for _, v := range k.Versions {
			m[config.GroupVersionKind{Group: k.Group, Version: v, Kind: k.Name}] = k
		}
	}
	return m
}()

// istioOperator is the one kind of an *.istio.io group that is not in
// Kinds: istioctl install reads it, and istioctl validate checks it with
// the installer's rules, which Promote does not have. Istio declares it as
// IstioOperatorGVK in istio.io/istio/operator/pkg/apis (TestIstioOperator
// keeps them equal), a package that would link Kubernetes' core API.
var istioOperator = config.GroupVersionKind{Group: "install.istio.io", Version: "v1alpha1", Kind: "IstioOperator"}

// isIstioGroup reports whether an API group is Istio's.
func isIstioGroup(group string) bool { return strings.HasSuffix(group, ".istio.io") }

// unservedProblem explains why Istio serves no resource of group, version
// and kind (a group of Istio's), and whether the problem is the kind (else
// the apiVersion). It returns "" for the IstioOperator, which is skipped.
func unservedProblem(gvk config.GroupVersionKind) (msg string, atKind bool) {
	switch {
	case gvk == istioOperator:
		return "", false
	case gvk.Group == istioOperator.Group && gvk.Kind == istioOperator.Kind:
		return fmt.Sprintf("istioctl reads %s only in version %s, not %s; write apiVersion: %s", gvk.Kind, istioOperator.Version, gvk.Version, istioOperator.GroupVersion()), false
	case gvk.Group == istioOperator.Group:
		return fmt.Sprintf("unknown kind %q in %s, which has only %s", gvk.Kind, gvk.Group, istioOperator.Kind), true
	}
	var groups, names, inGroup []string
	for _, k := range Kinds {
		if !slices.Contains(groups, k.Group) {
			groups = append(groups, k.Group)
		}
		names = append(names, k.Name)
		if k.Group == gvk.Group {
			inGroup = append(inGroup, k.Name)
		}
	}
	slices.Sort(groups)
	slices.Sort(inGroup)
	i := slices.IndexFunc(Kinds, func(k *Kind) bool { return k.Name == gvk.Kind })
	switch {
	case i >= 0 && Kinds[i].Group == gvk.Group:
		k := Kinds[i]
		return fmt.Sprintf("Istio serves %s in %s versions %s, not %s; write apiVersion: %s", k.Name, k.Group, strings.Join(k.Versions, ", "), gvk.Version, k.GroupVersionKind().GroupVersion()), false
	case i >= 0:
		k := Kinds[i]
		return fmt.Sprintf("%s is in API group %s, not %s; write apiVersion: %s (versions %s)", k.Name, k.Group, gvk.Group, k.GroupVersionKind().GroupVersion(), strings.Join(k.Versions, ", ")), false
	case len(inGroup) == 0:
		msg = fmt.Sprintf("Istio serves no API group %s", gvk.Group)
		// Compare what precedes ".istio.io", which every group shares.
		names := make([]string, len(groups))
		for i, g := range groups {
			names[i] = strings.TrimSuffix(g, ".istio.io")
		}
		if s := yamlnode.Suggest(strings.TrimSuffix(gvk.Group, ".istio.io"), names); s != "" {
			msg += fmt.Sprintf("; did you mean %s.istio.io?", s)
		}
		return msg + fmt.Sprintf(" (its groups are %s)", strings.Join(groups, ", ")), false
	}
	msg = fmt.Sprintf("unknown kind %q in %s", gvk.Kind, gvk.Group)
	if s := yamlnode.Suggest(gvk.Kind, names); s != "" {
		k := Kinds[slices.IndexFunc(Kinds, func(k *Kind) bool { return k.Name == s })]
		if k.Group == gvk.Group {
			msg += fmt.Sprintf("; did you mean %q?", s)
		} else {
			msg += fmt.Sprintf("; did you mean %q (in %s)?", s, k.Group)
		}
	}
	return msg + fmt.Sprintf(" (%s serves %s)", gvk.Group, strings.Join(inGroup, ", ")), true
}
