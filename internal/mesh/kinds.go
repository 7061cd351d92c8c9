package mesh

import (
	"google.golang.org/protobuf/proto"
	extensions "istio.io/api/extensions/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	networkingbeta "istio.io/api/networking/v1beta1"
	security "istio.io/api/security/v1beta1"
	telemetry "istio.io/api/telemetry/v1alpha1"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/validation"
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
