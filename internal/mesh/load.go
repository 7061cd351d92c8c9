package mesh

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	"istio.io/istio/pkg/config"

	"github.com/promote-dev/promote/internal/rawfile"
	"github.com/promote-dev/promote/internal/yamlnode"
)

// Stdin is the path standing for standard input, as on the command line.
const Stdin = "-"

// StdinFile is the file name of what was read from standard input, in
// findings and everything that prints them.
const StdinFile = "<stdin>"

// Resource is one document of the input: an Istio resource, or a Kubernetes
// resource indexed for the cross-resource analysis.
type Resource struct {
	// ID is the resource's index in Set.Resources.
	ID  int
	Pos Pos // of the document's first key

	APIVersion, Group, Version, Kind string
	Name, Namespace                  string
	Labels, Annotations              map[string]string
	NamePos                          Pos // of metadata.name, or of the document

	// Doc is the document's mapping; Spec its "spec" value, or nil.
	Doc, Spec *yaml.Node
	// Service is the manifest service whose mesh directory holds the file,
	// or "".
	Service string

	// Istio is the Istio kind, nil for Kubernetes kinds.
	Istio *Kind
	// Message is the decoded spec of an Istio resource; nil when the spec
	// does not decode.
	Message proto.Message
	// Pod holds the pod template's labels and annotations of a workload.
	PodLabels, PodAnnotations map[string]string
	// Ignores are the resource's ignore.promote.dev/ annotations.
	Ignores []Ignore

	// decoded is set once the spec was decoded, with what decoding found,
	// so that checking a set again does not decode it again.
	decoded  bool
	problems []Finding
}

// Ref names the resource as "Kind namespace/name".
func (r *Resource) Ref() string { return r.Kind + " " + r.Namespace + "/" + r.Name }

// IsWorkload reports whether the resource runs pods.
func (r *Resource) IsWorkload() bool {
	switch r.Kind {
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
		return r.Group == "apps" || r.Group == "batch"
	}
	return false
}

// indexed lists the Kubernetes kinds kept for the cross-resource analysis,
// by group.
var indexed = map[string][]string{
	"":      {"Service", "ServiceAccount", "Namespace"},
	"apps":  {"Deployment", "StatefulSet", "DaemonSet"},
	"batch": {"Job"},
}

// Set is everything read from the inputs.
type Set struct {
	Resources []*Resource
	Files     int
	// Skipped counts documents of other kinds by apiVersion/Kind.
	Skipped map[string]int
	// Findings holds the problems found while reading (syntax errors,
	// documents that are not resources, top-level fields, duplicate keys).
	Findings []Finding
	// DefaultNamespace is given to resources without one.
	DefaultNamespace string
}

// Owner tells which manifest service owns a file, or "".
type Owner func(file string) string

// LoadOptions configures Load.
type LoadOptions struct {
	// DefaultNamespace is the namespace of resources that name none
	// (default "default", as kubectl and istioctl).
	DefaultNamespace string
	// Owner assigns files to manifest services; nil assigns none.
	Owner Owner
	// Stdin is read for the path "-".
	Stdin io.Reader
}

// Load reads the files and directories in paths (directories recursively,
// their .yaml, .yml and .json files) and "-" for standard input. An error
// means an input could not be read at all; problems inside files are
// findings. Files are read and parsed on every core, and the set holds
// them in the order of paths, as read one by one.
func Load(paths []string, opts LoadOptions) (*Set, error) {
	type input struct {
		name, owner string
		stdin       bool
		data        []byte // standard input's, read at once
	}
	var inputs []input
	for _, p := range paths {
		if p == Stdin {
			if opts.Stdin == nil {
				return nil, errors.New("no standard input to read for \"-\"")
			}
			data, err := io.ReadAll(opts.Stdin)
			if err != nil {
				return nil, fmt.Errorf("read standard input: %w", err)
			}
			inputs = append(inputs, input{name: StdinFile, stdin: true, data: data})
			continue
		}
		files, err := inputFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			owner := ""
			if opts.Owner != nil {
				owner = opts.Owner(f)
			}
			inputs = append(inputs, input{name: f, owner: owner})
		}
	}
	set := NewSet(opts.DefaultNamespace)
	parts := make([]*Set, len(inputs))
	errs := make([]error, len(inputs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(inputs)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(inputs); i = int(next.Add(1)) - 1 {
				in := inputs[i]
				if !in.stdin {
					if in.data, errs[i] = rawfile.Read(in.name); errs[i] != nil {
						return
					}
				}
				parts[i] = NewSet(set.DefaultNamespace)
				parts[i].Add(in.name, in.data, in.owner)
			}
		})
	}
	wg.Wait()
	for i, part := range parts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if part == nil {
			break // not read: a worker stopped at an earlier file's error
		}
		set.merge(part)
	}
	return set, nil
}

// inputFiles expands a path: a file is itself, a directory its YAML and JSON
// files in lexical order, hidden directories left out.
func inputFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%q does not exist; name Istio YAML files or directories, or - for standard input", path)
		}
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			files = append(files, p)
		}
		return nil
	})
	return files, err
}

// NewSet returns an empty set whose resources default to namespace ns
// ("default" when empty).
func NewSet(ns string) *Set {
	if ns == "" {
		ns = "default"
	}
	return &Set{Skipped: map[string]int{}, DefaultNamespace: ns}
}

// Add reads the documents of one file into the set.
func (s *Set) Add(file string, data []byte, owner string) {
	s.Files++
	defer func() {
		// The YAML library has had panics on hostile input; a bad file
		// must never crash Promote.
		if r := recover(); r != nil {
			s.Findings = append(s.Findings, Finding{Pos: Pos{file, 1, 1}, Severity: Error, Rule: RuleSyntax,
				Message: fmt.Sprintf("cannot parse the file: %v", r)})
		}
	}()
	if docs, ok := yamlnode.Fast(data); ok {
		s.documents(file, docs, owner)
		return
	}
	w := &yamlnode.Walker{Budget: yamlnode.Budget(len(data))}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			line, msg := yamlnode.SyntaxError(err)
			s.Findings = append(s.Findings, Finding{Pos: Pos{file, line, 1}, Severity: Error, Rule: RuleSyntax,
				Message: "invalid YAML: " + msg + "; the rest of the file is not checked"})
			return
		}
		s.document(file, &doc, owner, w)
		if w.TooBig() {
			return
		}
	}
}

// documents indexes the documents of a file; a long stream is indexed on
// every core, in chunks whose results are merged in order.
func (s *Set) documents(file string, docs []*yaml.Node, owner string) {
	workers := min(runtime.GOMAXPROCS(0), len(docs)/512+1)
	if workers <= 1 {
		w := &yamlnode.Walker{Budget: specBudget}
		for _, doc := range docs {
			s.document(file, doc, owner, w)
		}
		return
	}
	chunk := (len(docs) + workers - 1) / workers
	parts := make([]*Set, 0, workers)
	var wg sync.WaitGroup
	for from := 0; from < len(docs); from += chunk {
		part := NewSet(s.DefaultNamespace)
		parts = append(parts, part)
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					part.Findings = append(part.Findings, Finding{Pos: Pos{file, 1, 1}, Severity: Error, Rule: RuleSyntax,
						Message: fmt.Sprintf("cannot read the file: %v", r)})
				}
			}()
			w := &yamlnode.Walker{Budget: specBudget}
			for _, doc := range docs[from:min(from+chunk, len(docs))] {
				part.document(file, doc, owner, w)
			}
		})
	}
	wg.Wait()
	for _, part := range parts {
		s.merge(part)
	}
}

// merge appends what part read to the set.
func (s *Set) merge(part *Set) {
	s.Files += part.Files
	for _, r := range part.Resources {
		r.ID = len(s.Resources)
		s.Resources = append(s.Resources, r)
	}
	s.Findings = append(s.Findings, part.Findings...)
	for k, n := range part.Skipped {
		s.Skipped[k] += n
	}
}

// document indexes one parsed document.
func (s *Set) document(file string, doc *yaml.Node, owner string, w *yamlnode.Walker) {
	if len(doc.Content) == 0 {
		return // an empty document, as between two "---"
	}
	root := w.Resolve(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return
	}
	at := func(n *yaml.Node) Pos { return Pos{file, n.Line, n.Column} }
	if root.Kind != yaml.MappingNode {
		s.Findings = append(s.Findings, Finding{Pos: at(root), Severity: Error, Rule: RuleNotResource,
			Message: fmt.Sprintf("expected a Kubernetes resource (a mapping with apiVersion, kind and metadata), got %s", yamlnode.Describe(root))})
		return
	}
	var problems []Finding
	w.Report = func(n *yaml.Node, msg string) {
		problems = append(problems, Finding{Pos: at(n), Severity: Error, Rule: RuleDuplicateKey, Message: msg})
	}
	r := &Resource{Pos: at(root), NamePos: at(root), Doc: root}
	var apiVersion, kind, metadata *yaml.Node
	var top []yamlnode.Pair
	for key, value := range w.All(root) {
		p := yamlnode.Pair{Key: key, Value: value}
		switch p.Key.Value {
		case "apiVersion":
			apiVersion = w.Resolve(p.Value)
		case "kind":
			kind = w.Resolve(p.Value)
		case "metadata":
			metadata = w.Resolve(p.Value)
		case "spec":
			r.Spec = w.Resolve(p.Value)
		}
		top = append(top, p)
	}
	if kind != nil && kind.Kind == yaml.ScalarNode && strings.HasSuffix(kind.Value, "List") && apiVersion != nil {
		s.list(file, root, owner, w)
		return
	}
	if apiVersion == nil || kind == nil || apiVersion.Kind != yaml.ScalarNode || kind.Kind != yaml.ScalarNode || apiVersion.Value == "" || kind.Value == "" {
		s.Findings = append(s.Findings, Finding{Pos: at(root), Severity: Error, Rule: RuleNotResource,
			Message: "expected a Kubernetes resource: the document needs string fields apiVersion and kind"})
		return
	}
	r.APIVersion, r.Kind = apiVersion.Value, kind.Value
	r.Group, r.Version, _ = strings.Cut(r.APIVersion, "/")
	if r.Version == "" {
		r.Group, r.Version = "", r.Group
	}
	gvk := config.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
	if k, ok := kindIndex[gvk]; ok {
		r.Istio = k
	} else if isIstioGroup(r.Group) {
		// The API server refuses what Istio does not serve; istioctl
		// skips it, and the policy it holds would silently be absent.
		if msg, atKind := unservedProblem(gvk); msg != "" {
			n := apiVersion
			if atKind {
				n = kind
			}
			s.Findings = append(s.Findings, Finding{Pos: at(n), Severity: Error, Rule: RuleUnknownKind, Message: msg})
			return
		}
		s.Skipped[r.APIVersion+"/"+r.Kind]++
		return
	} else if !slices.Contains(indexed[r.Group], r.Kind) {
		s.Skipped[r.APIVersion+"/"+r.Kind]++
		return
	}
	if r.Istio != nil {
		for _, p := range top {
			switch p.Key.Value {
			case "apiVersion", "kind", "metadata", "spec", "status":
			default:
				problems = append(problems, Finding{Pos: at(p.Key), Severity: Error, Rule: RuleUnknownField,
					Message: fmt.Sprintf("unknown top-level field %q (expected apiVersion, kind, metadata, spec or status); Istio resources keep their settings under spec", p.Key.Value)})
			}
		}
	}
	r.Service = owner
	problems = append(problems, s.metadata(r, metadata, at, w)...)
	if r.IsWorkload() && r.Spec != nil {
		r.PodLabels, r.PodAnnotations = podTemplate(r, w)
	}
	for i := range problems {
		problems[i].Resource = r.Ref()
	}
	s.Findings = append(s.Findings, problems...)
	r.ID = len(s.Resources)
	s.Resources = append(s.Resources, r)
}

// list indexes the items of a v1 List, as kubectl prints them.
func (s *Set) list(file string, root *yaml.Node, owner string, w *yamlnode.Walker) {
	for key, value := range w.All(root) {
		p := yamlnode.Pair{Key: key, Value: value}
		if p.Key.Value != "items" {
			continue
		}
		items := w.Resolve(p.Value)
		if items.Kind != yaml.SequenceNode {
			s.Findings = append(s.Findings, Finding{Pos: Pos{file, items.Line, items.Column}, Severity: Error, Rule: RuleNotResource,
				Message: fmt.Sprintf("items: expected a list of resources, got %s", yamlnode.Describe(items))})
			return
		}
		for _, item := range items.Content {
			s.document(file, &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{item}}, owner, w)
		}
	}
}

// metadata reads name, namespace, labels and annotations.
func (s *Set) metadata(r *Resource, md *yaml.Node, at func(*yaml.Node) Pos, w *yamlnode.Walker) []Finding {
	var out []Finding
	bad := func(n *yaml.Node, format string, args ...any) {
		out = append(out, Finding{Pos: at(n), Severity: Error, Rule: RuleMetadata, Message: fmt.Sprintf(format, args...)})
	}
	if md == nil || md.Kind != yaml.MappingNode {
		n := r.Doc
		if md != nil {
			n = md
		}
		bad(n, "metadata: expected a mapping with at least a name")
		r.Namespace = s.DefaultNamespace
		return out
	}
	for key, value := range w.All(md) {
		p := yamlnode.Pair{Key: key, Value: value}
		v := w.Resolve(p.Value)
		switch p.Key.Value {
		case "name", "namespace":
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
				bad(v, "metadata.%s: expected a string, got %s", p.Key.Value, yamlnode.Describe(v))
				continue
			}
			if p.Key.Value == "name" {
				r.Name, r.NamePos = v.Value, at(v)
			} else {
				r.Namespace = v.Value
			}
		case "labels", "annotations":
			m := stringMap(v, "metadata."+p.Key.Value, bad, w)
			if p.Key.Value == "labels" {
				r.Labels = m
			} else {
				r.Annotations = m
				r.Ignores = ignores(v, w, at)
			}
		}
	}
	if r.Name == "" {
		bad(md, "metadata.name: missing; every resource needs a name")
	}
	if r.Namespace == "" && r.Kind != "Namespace" {
		r.Namespace = s.DefaultNamespace
	}
	return out
}

// stringMap reads a mapping of strings, such as labels.
func stringMap(n *yaml.Node, what string, bad func(*yaml.Node, string, ...any), w *yamlnode.Walker) map[string]string {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		bad(n, "%s: expected a mapping of strings, got %s", what, yamlnode.Describe(n))
		return nil
	}
	m := make(map[string]string, len(n.Content)/2)
	for key, value := range w.All(n) {
		p := yamlnode.Pair{Key: key, Value: value}
		v := w.Resolve(p.Value)
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
			bad(v, "%s.%s: expected a string, got %s; quote it", what, p.Key.Value, yamlnode.Describe(v))
			continue
		}
		m[p.Key.Value] = v.Value
	}
	return m
}

// podTemplate reads spec.template.metadata of a workload (a Job's template
// too; a CronJob's is one level deeper and CronJobs are not indexed).
func podTemplate(r *Resource, w *yamlnode.Walker) (labels, annotations map[string]string) {
	ignore := func(*yaml.Node, string, ...any) {}
	md := path(r.Spec, w, "template", "metadata")
	if md == nil || md.Kind != yaml.MappingNode {
		return nil, nil
	}
	for key, value := range w.All(md) {
		p := yamlnode.Pair{Key: key, Value: value}
		switch p.Key.Value {
		case "labels":
			labels = stringMap(w.Resolve(p.Value), "", ignore, w)
		case "annotations":
			annotations = stringMap(w.Resolve(p.Value), "", ignore, w)
		}
	}
	return labels, annotations
}

// path follows mapping keys from n, returning nil when one is missing.
func path(n *yaml.Node, w *yamlnode.Walker, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = w.Resolve(n.Content[i+1])
				break
			}
		}
		n = next
	}
	return n
}
