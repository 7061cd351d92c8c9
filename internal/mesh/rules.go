package mesh

// The rules of the built-in layers. Policy rules are "policy." followed by
// the rule a policy returns.
const (
	RuleSyntax       = "schema.syntax"
	RuleNotResource  = "schema.not-resource"
	RuleUnknownKind  = "schema.unknown-kind"
	RuleDuplicateKey = "schema.duplicate-key"
	RuleUnknownField = "schema.unknown-field"
	RuleMetadata     = "schema.metadata"
	RuleType         = "schema.type"
	RuleEnum         = "schema.enum"
	RuleIgnore       = "schema.ignore-annotation"

	RuleIstio        = "istio.invalid"
	RuleIstioWarning = "istio.warning"

	RuleCRDSchema   = "crd.schema"
	RuleCRDCEL      = "crd.cel"
	RuleCRDInternal = "crd.internal"

	RuleMTLSConflict    = "analysis.mtls-conflict"
	RuleNoWorkload      = "analysis.selector-matches-nothing"
	RuleUnknownIdentity = "analysis.unknown-identity"
	RuleAllowAllRule    = "analysis.allow-all-rule"
	RuleDuplicate       = "analysis.duplicate-resource"
)

// builtinRules describes the rules of the schema, istio, crd and analysis
// layers.
var builtinRules = []Rule{
	{RuleSyntax, LayerSchema, Error, "The file is not valid YAML or JSON.",
		"The YAML parser stopped at this line; nothing after it in the file was checked. Fix the syntax (indentation, an unclosed quote or bracket, a tab used for indentation)."},
	{RuleNotResource, LayerSchema, Error, "A document is not a Kubernetes resource.",
		"Every YAML document must be a mapping with string fields `apiVersion` and `kind`. Remove stray documents or add the missing fields."},
	{RuleUnknownKind, LayerSchema, Error, "A document names a kind or API version Istio does not serve.",
		"The document's `apiVersion` is in an Istio API group (`*.istio.io`), but Istio serves no such kind at that version, so the API server would refuse it and the policy it holds would not exist; `istioctl validate` skips it silently. The message names the closest kind and the served versions: fix the spelling of `kind` (it is case-sensitive) or the `apiVersion`."},
	{RuleDuplicateKey, LayerSchema, Error, "A mapping has the same key twice.",
		"YAML parsers disagree about duplicate keys: some keep the first value, Kubernetes keeps the last. Remove one of them."},
	{RuleUnknownField, LayerSchema, Error, "A field is not part of the Istio API.",
		"Istio's API has no field of this name at this place, so the setting would be ignored (the admission webhook drops unknown fields) or refused by the API server. Check the spelling (the message suggests the closest field) and the nesting, and the Istio reference for the kind."},
	{RuleMetadata, LayerSchema, Error, "The resource's metadata is missing or malformed.",
		"`metadata.name` is required; `name` and `namespace` are strings; `labels` and `annotations` map strings to strings (quote values such as `\"true\"` or `\"8080\"`)."},
	{RuleType, LayerSchema, Error, "A value has the wrong type for its field.",
		"The value does not decode into the field's type in Istio's API (for example a string where a list is expected, a quoted number for an integer, an integer out of range, a duration that is not a number and a unit such as `30ms`, `5m` or `1h30m`, a map key that is not an integer where the keys are port numbers). The Kubernetes API server would refuse the resource."},
	{RuleEnum, LayerSchema, Error, "An enumerated field has an unknown value or a number.",
		"Enumerations take one of the names the message lists. Numbers are accepted by protobuf's JSON decoder but refused by the Kubernetes API server, whose CRD schema declares strings."},
	{RuleIgnore, LayerSchema, Warning, "An ignore annotation gives no reason or names no rule.",
		"`ignore.promote.dev/RULE: \"REASON\"` in a resource's `metadata.annotations` sets aside that resource's findings of RULE, which then neither fail the check nor count in the summary; the reports still list them with the reason. An annotation without a reason is not applied. RULE must be one of the rules in this list, such as `analysis.unknown-identity` or `policy.strict-mtls`."},
	{RuleIstio, LayerIstio, Error, "Istio's validation refuses the resource.",
		"This is the verdict of Istio's own validation (`istio.io/istio/pkg/config/validation`, what the admission webhook and `istioctl validate` run). The resource would be rejected by the cluster. The message is Istio's."},
	{RuleIstioWarning, LayerIstio, Warning, "Istio's validation warns about the resource.",
		"Istio accepts the resource but warns about it, usually because a setting is deprecated or has no effect. The message is Istio's."},
	{RuleCRDSchema, LayerCRD, Error, "A value breaks a limit of Istio's CRD schema.",
		"The Kubernetes API server checks every Istio resource against the structural schema of Istio's CustomResourceDefinition before it stores it, and refuses values that break its limits: `minItems`, `maxItems`, `minLength`, `maxLength`, `pattern`, `minimum`, `maximum`, `required` fields, `minProperties`, `maxProperties`, keys of `x-kubernetes-list-type: map` lists. `istioctl validate` does not check them, so `kubectl apply` would fail after the change merged. The message names the field, the value and the limit: shorten the list or the string, fix the value, add the missing field."},
	{RuleCRDCEL, LayerCRD, Error, "A CEL rule of Istio's CRD refuses the resource.",
		"Istio's CRDs carry rules in CEL (`x-kubernetes-validations`) that the Kubernetes API server evaluates on every apply: mutually exclusive fields, durations of at least 1ms, URL forms, list sizes. `istioctl validate` does not run them. The message is the rule's own, followed by the rule: change the resource so that the rule holds."},
	{RuleCRDInternal, LayerCRD, Error, "A rule of Istio's CRD could not be evaluated.",
		"A CEL rule of Istio's CRD failed to evaluate on this resource (for example a function given a value it does not take). The API server refuses the resource with the same error; the message names the rule. If the resource looks right, please report it with the resource."},
	{RuleMTLSConflict, LayerAnalysis, Error, "mTLS settings of a PeerAuthentication and a DestinationRule conflict.",
		"A PeerAuthentication makes a workload accept only mutual TLS (STRICT), but a DestinationRule for the same host and port makes clients send plain text (`tls.mode: DISABLE`) or TLS without Istio's certificates (`SIMPLE`): every request fails. Or the reverse: the DestinationRule asks for `ISTIO_MUTUAL` while the workload DISABLEs mTLS. Make the two agree: usually drop the DestinationRule's `tls` or set `ISTIO_MUTUAL`."},
	{RuleNoWorkload, LayerAnalysis, Warning, "A selector matches no workload in the checked files.",
		"The `selector.matchLabels` (or `workloadSelector.labels`) matches the pod template labels of no Deployment, StatefulSet, DaemonSet or Job in its namespace among the checked files, so the resource applies to nothing. Check the labels against the workload's `spec.template.metadata.labels`, or include the workload's manifests in the check."},
	{RuleUnknownIdentity, LayerAnalysis, Warning, "A principal or namespace names nothing in the checked files.",
		"The policy names a namespace or a service account (principal `TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT`) that no checked file defines or uses. It may live in another repository; if not, it is a typo and the rule never matches."},
	{RuleAllowAllRule, LayerAnalysis, Warning, "An ALLOW policy has a rule that allows every request.",
		"A rule `{}` (no from, to or when) matches every request, so the policy allows everything for the workloads it selects, whatever its other rules say. Remove it, or give it sources and operations."},
	{RuleDuplicate, LayerAnalysis, Error, "Two resources have the same kind, namespace and name.",
		"Applying both keeps only the last one. Rename one, or remove the copy."},
}
