package mesh

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"

	"github.com/promote-dev/promote/internal/yamlnode"
)

// index holds what the cross-resource analysis looks up: workloads,
// services and identities by namespace.
type index struct {
	root       string
	workloads  map[string][]*Resource // by namespace
	services   map[string]*service    // by namespace/name
	namespaces map[string]bool        // every namespace a resource lives in or that is defined
	accounts   map[[2]string]bool     // {namespace, service account} defined or used by a workload
	// namespace-wide and workload PeerAuthentications by namespace
	peers map[string][]*Resource
}

type service struct {
	r        *Resource
	selector map[string]string
	// ports maps a service port to the workload port it targets (the same
	// number when targetPort is absent or named).
	ports map[uint32]uint32
}

func newIndex(set *Set, root string) *index {
	ix := &index{root: root, workloads: map[string][]*Resource{}, services: map[string]*service{},
		namespaces: map[string]bool{}, accounts: map[[2]string]bool{}, peers: map[string][]*Resource{}}
	w := &yamlnode.Walker{}
	last := ""
	for _, r := range set.Resources {
		if r.Namespace != last {
			// Resources come grouped by namespace: hash each group once.
			ix.namespaces[r.Namespace], last = true, r.Namespace
		}
		switch {
		case r.IsWorkload():
			ix.workloads[r.Namespace] = append(ix.workloads[r.Namespace], r)
			sa := "default"
			if n := path(r.Spec, w, "template", "spec", "serviceAccountName"); n != nil && n.Kind == yaml.ScalarNode && n.Value != "" {
				sa = n.Value
			}
			ix.accounts[[2]string{r.Namespace, sa}] = true
		case r.Group == "" && r.Kind == "ServiceAccount":
			ix.accounts[[2]string{r.Namespace, r.Name}] = true
		case r.Group == "" && r.Kind == "Namespace":
			ix.namespaces[r.Name] = true
		case r.Group == "" && r.Kind == "Service":
			ix.services[r.Namespace+"/"+r.Name] = readService(r, w)
		case r.Kind == "PeerAuthentication" && r.Message != nil:
			ix.peers[r.Namespace] = append(ix.peers[r.Namespace], r)
		}
	}
	return ix
}

func readService(r *Resource, w *yamlnode.Walker) *service {
	s := &service{r: r, ports: map[uint32]uint32{}}
	ignore := func(*yaml.Node, string, ...any) {}
	if n := path(r.Spec, w, "selector"); n != nil {
		s.selector = stringMap(n, "", ignore, w)
	}
	if ports := path(r.Spec, w, "ports"); ports != nil && ports.Kind == yaml.SequenceNode {
		for _, p := range ports.Content {
			port := uintValue(path(w.Resolve(p), w, "port"))
			if port == 0 {
				continue
			}
			target := uintValue(path(w.Resolve(p), w, "targetPort"))
			if target == 0 {
				target = port
			}
			s.ports[port] = target
		}
	}
	return s
}

func uintValue(n *yaml.Node) uint32 {
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return 0
	}
	v, err := strconv.ParseUint(n.Value, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}

// matches reports whether every label of selector is among labels.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// analyze runs the cross-resource checks.
// The index is built once and only read after, so resources are checked
// on every core.
func analyze(ctx context.Context, set *Set, root string) ([]Finding, error) {
	ix := newIndex(set, root)
	found, err := forEach(ctx, len(set.Resources), func(i int) []Finding {
		r := set.Resources[i]
		w := &yamlnode.Walker{}
		switch m := r.Message.(type) {
		case *security.AuthorizationPolicy:
			return append(ix.selector(r, m.GetSelector().GetMatchLabels(), w, "selector", "matchLabels"), ix.authorization(r, m, w)...)
		case *security.PeerAuthentication:
			return ix.selector(r, m.GetSelector().GetMatchLabels(), w, "selector", "matchLabels")
		case *security.RequestAuthentication:
			return ix.selector(r, m.GetSelector().GetMatchLabels(), w, "selector", "matchLabels")
		case *networking.Sidecar:
			return ix.selector(r, m.GetWorkloadSelector().GetLabels(), w, "workloadSelector", "labels")
		case *networking.DestinationRule:
			return ix.mtlsConflicts(r, m, w)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(duplicates(set), found...), nil
}

// duplicates reports resources of one kind, namespace and name.
func duplicates(set *Set) []Finding {
	// An Istio kind is one kind in all its versions; the indexed Kubernetes
	// kinds have names of their own.
	type key struct {
		istio           *Kind
		kind, namespace string
		name            string
	}
	var out []Finding
	first := make(map[key]*Resource, len(set.Resources))
	for _, r := range set.Resources {
		k := key{r.Istio, r.Kind, r.Namespace, r.Name}
		if r.Istio != nil {
			k.kind = ""
		}
		if f, ok := first[k]; ok {
			out = append(out, Finding{Pos: r.NamePos, Severity: Error, Rule: RuleDuplicate, Resource: r.Ref(),
				Message: fmt.Sprintf("%s is defined twice; the first is at %s", r.Ref(), f.NamePos)})
			continue
		}
		first[k] = r
	}
	return out
}

// selector reports a workload selector that matches no pod template.
func (ix *index) selector(r *Resource, labels map[string]string, w *yamlnode.Walker, keys ...string) []Finding {
	if len(labels) == 0 {
		return nil
	}
	var candidates []*Resource
	if r.Namespace == ix.root {
		if len(ix.workloads) == 0 {
			return nil
		}
		for _, ws := range ix.workloads {
			candidates = append(candidates, ws...)
		}
	} else {
		candidates = ix.workloads[r.Namespace]
		if len(candidates) == 0 {
			return nil // the namespace's workloads are not among the files
		}
	}
	for _, wl := range candidates {
		if matches(labels, wl.PodLabels) {
			return nil
		}
	}
	at := r.NamePos
	if n := path(r.Spec, w, keys...); n != nil {
		at = Pos{r.Pos.File, n.Line, n.Column}
	}
	names := make([]string, 0, len(candidates))
	for _, wl := range candidates {
		names = append(names, wl.Kind+" "+wl.Name)
	}
	slices.Sort(names)
	if len(names) > 5 {
		names = append(names[:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	where := "namespace " + r.Namespace
	if r.Namespace == ix.root {
		where = "any namespace"
	}
	return []Finding{{Pos: at, Severity: Warning, Rule: RuleNoWorkload, Resource: r.Ref(),
		Message: fmt.Sprintf("%s selects %s, which matches the pod template labels of no workload in %s (checked %s); it applies to nothing",
			r.Kind, formatLabels(labels), where, strings.Join(names, ", "))}}
}

func formatLabels(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// authorization checks an AuthorizationPolicy's rules: allow-all rules and
// identities that name nothing.
func (ix *index) authorization(r *Resource, ap *security.AuthorizationPolicy, w *yamlnode.Walker) []Finding {
	var out []Finding
	rules := path(r.Spec, w, "rules")
	ruleNode := func(i int) *yaml.Node {
		if rules != nil && rules.Kind == yaml.SequenceNode && i < len(rules.Content) {
			return w.Resolve(rules.Content[i])
		}
		return nil
	}
	at := func(n *yaml.Node) Pos {
		if n == nil {
			return r.NamePos
		}
		return Pos{r.Pos.File, n.Line, n.Column}
	}
	for i, rule := range ap.GetRules() {
		rn := ruleNode(i)
		if ap.GetAction() == security.AuthorizationPolicy_ALLOW && len(rule.GetFrom()) == 0 && len(rule.GetTo()) == 0 && len(rule.GetWhen()) == 0 {
			out = append(out, Finding{Pos: at(rn), Severity: Warning, Rule: RuleAllowAllRule, Resource: r.Ref(),
				Message: fmt.Sprintf("rules[%d] is empty, so this ALLOW policy allows every request to what it selects", i)})
		}
		fromNode := path(rn, w, "from")
		for j, from := range rule.GetFrom() {
			src := from.GetSource()
			var srcNode *yaml.Node
			if fromNode != nil && fromNode.Kind == yaml.SequenceNode && j < len(fromNode.Content) {
				srcNode = path(w.Resolve(fromNode.Content[j]), w, "source")
			}
			check := func(field string, values []string, f func(string) string) {
				if len(values) == 0 {
					return
				}
				list := path(srcNode, w, field)
				for k, v := range values {
					msg := f(v)
					if msg == "" {
						continue
					}
					n := list
					if list != nil && list.Kind == yaml.SequenceNode && k < len(list.Content) {
						n = list.Content[k]
					}
					out = append(out, Finding{Pos: at(cmp.Or(n, rn)), Severity: Warning, Rule: RuleUnknownIdentity, Resource: r.Ref(),
						Message: fmt.Sprintf("rules[%d].from[%d].source.%s: %s", i, j, field, msg)})
				}
			}
			check("principals", src.GetPrincipals(), ix.principal)
			check("notPrincipals", src.GetNotPrincipals(), ix.principal)
			check("namespaces", src.GetNamespaces(), ix.namespace)
			check("notNamespaces", src.GetNotNamespaces(), ix.namespace)
		}
	}
	return out
}

// principal returns why a principal names nothing in the files, or "".
func (ix *index) principal(p string) string {
	if strings.Contains(p, "*") {
		return ""
	}
	parts := strings.Split(p, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" {
		return ""
	}
	ns, sa := parts[2], parts[4]
	if !ix.namespaces[ns] {
		return fmt.Sprintf("principal %q names namespace %q, which no checked file defines or uses (it may live elsewhere)", p, ns)
	}
	if !ix.accounts[[2]string{ns, sa}] {
		return fmt.Sprintf("principal %q names service account %q in namespace %q, which no ServiceAccount or workload among the checked files defines or uses", p, sa, ns)
	}
	return ""
}

// namespace returns why a namespace names nothing in the files, or "".
func (ix *index) namespace(ns string) string {
	if strings.Contains(ns, "*") || ix.namespaces[ns] {
		return ""
	}
	return fmt.Sprintf("namespace %q is not defined or used by any checked file (it may live elsewhere)", ns)
}

// mtlsConflicts checks a DestinationRule's client TLS against the
// PeerAuthentication of the workloads behind its host: the rule's own
// traffic policy against every workload, and each subset's against the
// workloads that carry the subset's labels.
func (ix *index) mtlsConflicts(r *Resource, dr *networking.DestinationRule, w *yamlnode.Walker) []Finding {
	type setting struct {
		port   uint32 // 0: every port
		tls    *networking.ClientTLSSettings
		node   *yaml.Node
		subset *networking.Subset // nil: the rule's own traffic policy
	}
	var settings []setting
	// add collects the TLS settings of a traffic policy at node.
	add := func(tp *networking.TrafficPolicy, node *yaml.Node, subset *networking.Subset) {
		if tp.GetTls() != nil {
			settings = append(settings, setting{0, tp.GetTls(), path(node, w, "tls"), subset})
		}
		pls := path(node, w, "portLevelSettings")
		for i, pl := range tp.GetPortLevelSettings() {
			if pl.GetTls() == nil {
				continue
			}
			var n *yaml.Node
			if pls != nil && pls.Kind == yaml.SequenceNode && i < len(pls.Content) {
				n = path(w.Resolve(pls.Content[i]), w, "tls")
			}
			settings = append(settings, setting{pl.GetPort().GetNumber(), pl.GetTls(), n, subset})
		}
	}
	add(dr.GetTrafficPolicy(), path(r.Spec, w, "trafficPolicy"), nil)
	subsets := path(r.Spec, w, "subsets")
	for i, ss := range dr.GetSubsets() {
		var n *yaml.Node
		if subsets != nil && subsets.Kind == yaml.SequenceNode && i < len(subsets.Content) {
			n = path(w.Resolve(subsets.Content[i]), w, "trafficPolicy")
		}
		add(ss.GetTrafficPolicy(), n, ss)
	}
	if len(settings) == 0 {
		return nil
	}
	var out []Finding
	for _, svc := range ix.hostServices(dr.GetHost(), r.Namespace) {
		for _, wl := range ix.workloads[svc.r.Namespace] {
			if len(svc.selector) == 0 || !matches(svc.selector, wl.PodLabels) {
				continue
			}
			for _, s := range settings {
				if s.subset != nil && !matches(s.subset.GetLabels(), wl.PodLabels) {
					continue
				}
				ports := []uint32{0}
				if s.port != 0 {
					ports = []uint32{svc.ports[s.port]}
					if ports[0] == 0 {
						ports[0] = s.port
					}
				} else if len(svc.ports) > 0 {
					ports = ports[:0]
					for _, target := range svc.ports {
						ports = append(ports, target)
					}
					slices.Sort(ports)
				}
				for _, port := range ports {
					mode, pa := ix.peerMode(wl, port)
					if msg := conflict(s.tls.GetMode(), mode); msg != "" {
						at := r.NamePos
						if s.node != nil {
							at = Pos{r.Pos.File, s.node.Line, s.node.Column}
							if m := path(s.node, w, "mode"); m != nil {
								at = Pos{r.Pos.File, m.Line, m.Column}
							}
						}
						where := "every port"
						if port != 0 {
							where = "port " + strconv.Itoa(int(port))
						}
						host := fmt.Sprintf("host %q", dr.GetHost())
						if s.subset != nil {
							host = fmt.Sprintf("subset %q of %s", s.subset.GetName(), host)
						}
						out = append(out, Finding{Pos: at, Severity: Error, Rule: RuleMTLSConflict, Resource: r.Ref(),
							Message: fmt.Sprintf("tls.mode %s for %s conflicts with %s's mTLS mode %s on %s (%s at %s): %s",
								s.tls.GetMode(), host, wl.Kind+" "+wl.Namespace+"/"+wl.Name, mode, where, pa.Ref(), pa.NamePos, msg)})
						break
					}
				}
			}
		}
	}
	return out
}

func conflict(client networking.ClientTLSSettings_TLSmode, server security.PeerAuthentication_MutualTLS_Mode) string {
	switch {
	case server == security.PeerAuthentication_MutualTLS_STRICT && client == networking.ClientTLSSettings_DISABLE:
		return "the workload accepts only mutual TLS and clients would send plain text; drop the DestinationRule's tls or set ISTIO_MUTUAL"
	case server == security.PeerAuthentication_MutualTLS_STRICT && client == networking.ClientTLSSettings_SIMPLE:
		return "the workload accepts only Istio mutual TLS and clients would present no client certificate; drop the DestinationRule's tls or set ISTIO_MUTUAL"
	case server == security.PeerAuthentication_MutualTLS_DISABLE && client == networking.ClientTLSSettings_ISTIO_MUTUAL:
		return "clients would send Istio mutual TLS to a workload that does not accept it; set the PeerAuthentication to PERMISSIVE or STRICT, or drop the DestinationRule's tls"
	}
	return ""
}

// hostServices resolves a DestinationRule host to the Services it names:
// a short name in the rule's namespace, name.namespace, the cluster FQDN,
// or *.namespace.svc.<domain> for all of a namespace.
func (ix *index) hostServices(host, ns string) []*service {
	parts := strings.Split(host, ".")
	var name, namespace string
	switch {
	case len(parts) == 1:
		name, namespace = parts[0], ns
	case len(parts) == 2 || (len(parts) >= 3 && parts[2] == "svc"):
		name, namespace = parts[0], parts[1]
	default:
		return nil
	}
	if name == "*" {
		var out []*service
		for key, s := range ix.services {
			if strings.HasPrefix(key, namespace+"/") {
				out = append(out, s)
			}
		}
		slices.SortFunc(out, func(a, b *service) int { return strings.Compare(a.r.Name, b.r.Name) })
		return out
	}
	if s, ok := ix.services[namespace+"/"+name]; ok {
		return []*service{s}
	}
	return nil
}

// peerMode returns the mTLS mode in effect for a workload on a port (0: the
// workload's default) and the PeerAuthentication that sets it: the
// workload's own, else its namespace's, else the mesh's; UNSET modes
// inherit from the next level.
func (ix *index) peerMode(wl *Resource, port uint32) (security.PeerAuthentication_MutualTLS_Mode, *Resource) {
	var own, nsWide, mesh []*Resource
	for _, pa := range ix.peers[wl.Namespace] {
		m := pa.Message.(*security.PeerAuthentication)
		if sel := m.GetSelector().GetMatchLabels(); len(sel) > 0 {
			if matches(sel, wl.PodLabels) {
				own = append(own, pa)
			}
		} else {
			nsWide = append(nsWide, pa)
		}
	}
	if wl.Namespace != ix.root {
		for _, pa := range ix.peers[ix.root] {
			if len(pa.Message.(*security.PeerAuthentication).GetSelector().GetMatchLabels()) == 0 {
				mesh = append(mesh, pa)
			}
		}
	}
	for _, level := range [][]*Resource{own, nsWide, mesh} {
		for _, pa := range level {
			m := pa.Message.(*security.PeerAuthentication)
			if port != 0 {
				if pl, ok := m.GetPortLevelMtls()[port]; ok && pl.GetMode() != security.PeerAuthentication_MutualTLS_UNSET {
					return pl.GetMode(), pa
				}
			}
			if mode := m.GetMtls().GetMode(); mode != security.PeerAuthentication_MutualTLS_UNSET {
				return mode, pa
			}
		}
	}
	return security.PeerAuthentication_MutualTLS_UNSET, nil
}
