package mesh

// Report is the result of a check: what was read, what was found, and a
// summary per namespace.
type Report struct {
	// Checks are the layers that ran.
	Checks []Layer `json:"checks"`
	// Files is the number of files read, Resources the number of documents
	// that were resources (Istio or indexed Kubernetes kinds).
	Files     int `json:"files"`
	Resources int `json:"resources"`
	// Istio is the number of Istio resources among Resources.
	Istio int `json:"istio"`
	// Skipped counts the documents of kinds Promote neither checks nor
	// indexes, by "apiVersion/Kind".
	Skipped map[string]int `json:"skipped,omitempty"`
	// SkippedRules counts the CEL rules of Istio's CRDs the crd layer did
	// not evaluate, summed over the resources checked: transition rules,
	// which compare a resource with its previous version (oldSelf) and so
	// cannot be judged from files; the API server skips them on create
	// too. Istio's CRDs have none at the version Promote builds with.
	SkippedRules int `json:"skipped_rules,omitempty"`
	// Findings are sorted by file, line, column and rule.
	Findings []Finding `json:"findings"`
	// Ignored are the findings that ignore.promote.dev/ annotations set
	// aside, with their reasons, sorted like Findings. They neither fail
	// a check nor count in the summaries.
	Ignored []Ignored `json:"ignored"`
	// Rules describes every rule that can produce a finding in this run,
	// sorted by ID.
	Rules []Rule `json:"rules"`
	// Namespaces summarises each namespace that holds resources, sorted by
	// name.
	Namespaces []Namespace `json:"namespaces"`
}

// Namespace summarises the mesh configuration of one namespace.
type Namespace struct {
	Name string `json:"name"`
	// Services are the manifest services whose mesh directory holds this
	// namespace's resources, with their compliance modes.
	Services []Service `json:"services,omitempty"`
	// MTLS is the effective namespace-wide mTLS mode: STRICT, PERMISSIVE,
	// DISABLE, or UNSET when neither the namespace nor the mesh sets one.
	// A mode inherited from the root namespace is reported with the suffix
	// " (mesh)".
	MTLS string `json:"mtls"`
	// Workloads counts Deployments, StatefulSets, DaemonSets and Jobs.
	Workloads int `json:"workloads"`
	// Policies counts AuthorizationPolicies by action (ALLOW, DENY, CUSTOM,
	// AUDIT).
	Policies map[string]int `json:"policies,omitempty"`
	Errors   int            `json:"errors"`
	Warnings int            `json:"warnings"`
	Notes    int            `json:"notes"`
}

// Service is a manifest service whose mesh directory was checked.
type Service struct {
	Name       string `json:"name"`
	Compliance string `json:"compliance"`
}

// Counts returns the number of findings of each severity.
func (r *Report) Counts() (errors, warnings, notes int) {
	for _, f := range r.Findings {
		switch f.Severity {
		case Error:
			errors++
		case Warning:
			warnings++
		case Note:
			notes++
		}
	}
	return errors, warnings, notes
}
