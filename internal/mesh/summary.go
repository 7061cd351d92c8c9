package mesh

import (
	"cmp"
	"slices"
	"strings"

	security "istio.io/api/security/v1beta1"

	"github.com/promote-dev/promote/internal/evidence"
)

// Summary returns what a check found for one manifest service, in figures,
// as its mesh-check evidence record carries them: the findings in the
// service's files counted by rule and severity, the findings an ignore
// annotation set aside, the mutual TLS mode of each namespace the service
// has resources in (workload "") and of each of its workloads whose own
// PeerAuthentication sets one, and the AuthorizationPolicies it ships
// ("namespace/name"). root is Istio's root namespace, "" for istio-system.
func Summary(set *Set, rep *Report, root, service string) *evidence.MeshSummary {
	root = cmp.Or(root, "istio-system")
	serviceOf, fileService := map[string]string{}, map[string]string{}
	for _, r := range set.Resources {
		serviceOf[r.Ref()] = r.Service
		fileService[r.Pos.File] = r.Service
	}
	owner := func(f Finding) string { return cmp.Or(serviceOf[f.Resource], fileService[f.File]) }

	s := &evidence.MeshSummary{Findings: []evidence.MeshFindingCount{}, MTLS: []evidence.MeshMTLS{}, Policies: []string{}}
	type key struct{ rule, severity string }
	counts := map[key]int{}
	for _, f := range rep.Findings {
		if owner(f) == service {
			counts[key{f.Rule, f.Severity.String()}]++
		}
	}
	for k, n := range counts {
		s.Findings = append(s.Findings, evidence.MeshFindingCount{Rule: k.rule, Severity: k.severity, Count: n})
	}
	slices.SortFunc(s.Findings, func(a, b evidence.MeshFindingCount) int {
		return cmp.Or(cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Severity, b.Severity))
	})
	for _, ig := range rep.Ignored {
		if owner(ig.Finding) == service {
			s.Ignored++
		}
	}
	for _, ns := range rep.Namespaces {
		if slices.ContainsFunc(ns.Services, func(sv Service) bool { return sv.Name == service }) {
			s.MTLS = append(s.MTLS, evidence.MeshMTLS{Namespace: ns.Name, Mode: strings.TrimSuffix(ns.MTLS, " (mesh)")})
		}
	}
	ix := newIndex(set, root)
	for _, r := range set.Resources {
		if r.Service != service {
			continue
		}
		switch {
		case r.IsWorkload():
			mode, pa := ix.peerMode(r, 0)
			if pa != nil && pa.Namespace == r.Namespace && pa.Message != nil && len(peerSelector(pa)) > 0 {
				s.MTLS = append(s.MTLS, evidence.MeshMTLS{Namespace: r.Namespace, Workload: r.Name, Mode: mode.String()})
			}
		case r.Kind == "AuthorizationPolicy":
			s.Policies = append(s.Policies, r.Namespace+"/"+r.Name)
		}
	}
	slices.SortFunc(s.MTLS, func(a, b evidence.MeshMTLS) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Workload, b.Workload))
	})
	s.MTLS = slices.Compact(s.MTLS)
	slices.Sort(s.Policies)
	s.Policies = slices.Compact(s.Policies)
	return s
}

// peerSelector returns a PeerAuthentication's workload selector.
func peerSelector(pa *Resource) map[string]string {
	m, _ := pa.Message.(*security.PeerAuthentication)
	return m.GetSelector().GetMatchLabels()
}
