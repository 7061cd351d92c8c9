package mesh

import (
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/promote-dev/promote/internal/yamlnode"
)

// locateBudget bounds how many times locating one message runs Istio's
// validation again.
const locateBudget = 256

// locator finds which part of a spec a message of Istio's validation is
// about. Istio's messages carry no position, so it asks Istio: it sets one
// part of a copy of the spec aside at a time (a field cleared, a list item
// emptied or removed, a map entry removed), validates the copy again, and
// descends into the part whose absence makes the message go away, as far as
// the message follows. It then maps that part back to its YAML node.
type locator struct {
	r        *Resource
	messages func(proto.Message) []string // Istio's messages for a spec
	current  string                       // the message being located
	budget   int
}

// step is one move from a message into a field, list item or map entry.
type step struct {
	fd    protoreflect.FieldDescriptor
	index int                 // a list item, or -1
	key   protoreflect.MapKey // a map entry, when isKey
	isKey bool
}

// locate returns the YAML node of the spec that msg is about, or nil when
// no part of the spec could be singled out.
func (l *locator) locate(msg string) *yaml.Node {
	l.current, l.budget = msg, locateBudget
	var path []step
	for {
		next, ok := l.culprit(path)
		if !ok {
			break
		}
		path = next
	}
	if len(path) == 0 {
		return nil
	}
	return l.node(path)
}

// culprit returns path extended by the part of the message at path whose
// absence makes the current message go away. A list or map is descended
// into when one of several items is the culprit; with a single item, only
// when something inside the item is, so that a message about the whole
// list points at the list.
func (l *locator) culprit(path []step) ([]step, bool) {
	root := proto.Clone(l.r.Message)
	m := resolve(root.ProtoReflect(), path)
	if m == nil {
		return nil, false
	}
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	slices.SortFunc(fields, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number() - b.Number()) })
	// The fields whose absence makes the message go away. When several do,
	// the message is about how they combine (a CUSTOM action without a
	// provider); the one it names wins, else a scalar such as the action,
	// else the first.
	var culprits []protoreflect.FieldDescriptor
	for _, fd := range fields {
		if l.goneWithout(append(slices.Clone(path), step{fd: fd, index: -1}), func(m protoreflect.Message) { m.Clear(fd) }) {
			culprits = append(culprits, fd)
		}
	}
	if len(culprits) == 0 {
		return nil, false
	}
	fd := culprits[0]
	named := func(fd protoreflect.FieldDescriptor) bool {
		return strings.Contains(l.current, fd.JSONName()) || strings.Contains(l.current, string(fd.Name()))
	}
	scalar := func(fd protoreflect.FieldDescriptor) bool {
		return !fd.IsList() && !fd.IsMap() && fd.Kind() != protoreflect.MessageKind
	}
	if i := slices.IndexFunc(culprits, named); i >= 0 {
		fd = culprits[i]
	} else if i := slices.IndexFunc(culprits, scalar); i >= 0 {
		fd = culprits[i]
	}
	here := append(slices.Clone(path), step{fd: fd, index: -1})
	switch {
	case fd.IsList():
		n := m.Get(fd).List().Len()
		// An item is first emptied, which keeps the others' indexes (Istio
		// names rules by index). An empty item can fail the same way (a
		// subset without a name), so items of messages are then also
		// removed, one at a time; that shifts the indexes after it, so
		// only a single item whose removal makes the message go away
		// counts.
		items := l.goneItems(here, n, func(list protoreflect.List, i int) { list.Set(i, emptyItem(fd, list)) })
		if len(items) == 0 && fd.Kind() == protoreflect.MessageKind {
			if items = l.goneItems(here, n, removeItem); len(items) > 1 {
				items = nil
			}
		}
		if len(items) > 0 {
			item := append(slices.Clone(here), step{fd: fd, index: items[0]})
			if n > 1 || fd.Kind() == protoreflect.MessageKind && l.hasCulprit(item) {
				return item, true
			}
		}
	case fd.IsMap():
		var keys []protoreflect.MapKey
		m.Get(fd).Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			entry := append(slices.Clone(here), step{fd: fd, index: -1, key: k, isKey: true})
			gone := l.goneWithout(here, func(m protoreflect.Message) { m.Mutable(fd).Map().Clear(k) })
			if gone && (len(keys) > 1 || fd.MapValue().Kind() == protoreflect.MessageKind && l.hasCulprit(entry)) {
				return entry, true
			}
		}
	}
	return here, true
}

// goneItems returns the items of the list at here (of n items) whose change
// makes the current message go away.
func (l *locator) goneItems(here []step, n int, change func(protoreflect.List, int)) []int {
	fd := here[len(here)-1].fd
	var out []int
	for i := range n {
		if l.goneWithout(here, func(m protoreflect.Message) { change(m.Mutable(fd).List(), i) }) {
			out = append(out, i)
		}
	}
	return out
}

// removeItem removes item i of list, moving the later items up.
func removeItem(list protoreflect.List, i int) {
	for j := i; j < list.Len()-1; j++ {
		list.Set(j, list.Get(j+1))
	}
	list.Truncate(list.Len() - 1)
}

// hasCulprit reports whether something inside the message at path is a
// culprit of the current message.
func (l *locator) hasCulprit(path []step) bool {
	_, ok := l.culprit(path)
	return ok
}

// goneWithout reports whether the current message goes away when change is
// applied, in a copy of the spec, to the message that holds the last step
// of path.
func (l *locator) goneWithout(path []step, change func(protoreflect.Message)) bool {
	if l.budget <= 0 {
		return false
	}
	l.budget--
	root := proto.Clone(l.r.Message)
	m := resolve(root.ProtoReflect(), path[:len(path)-1])
	if m == nil {
		return false
	}
	change(m)
	return !slices.Contains(l.messages(root), l.current)
}

// resolve follows path from m to a message, or returns nil when path ends
// elsewhere.
func resolve(m protoreflect.Message, path []step) protoreflect.Message {
	for i := 0; i < len(path); i++ {
		s := path[i]
		if !m.Has(s.fd) {
			return nil
		}
		switch {
		case s.fd.IsList():
			if i+1 >= len(path) || path[i+1].index < 0 {
				return nil
			}
			i++
			list := m.Mutable(s.fd).List()
			if path[i].index >= list.Len() || s.fd.Kind() != protoreflect.MessageKind {
				return nil
			}
			m = list.Get(path[i].index).Message()
		case s.fd.IsMap():
			if i+1 >= len(path) || !path[i+1].isKey {
				return nil
			}
			i++
			v := m.Mutable(s.fd).Map().Get(path[i].key)
			if !v.IsValid() || s.fd.MapValue().Kind() != protoreflect.MessageKind {
				return nil
			}
			m = v.Message()
		case s.fd.Kind() == protoreflect.MessageKind:
			m = m.Mutable(s.fd).Message()
		default:
			return nil
		}
	}
	return m
}

// emptyItem is what culprit puts in place of a list item: an empty message
// or a zero scalar, so that the other items keep their indexes.
func emptyItem(fd protoreflect.FieldDescriptor, list protoreflect.List) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return list.NewElement()
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("")
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(nil)
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(false)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(0)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(0)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(0)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(0)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(0)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(0)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(0)
	}
	return list.NewElement()
}

// node maps path to the YAML node it names: a field's key (its value for a
// scalar), a list item, or a map entry's value. Where the YAML and the path
// differ (which cannot happen for a spec that decoded), it returns the last
// node it reached.
func (l *locator) node(path []step) *yaml.Node {
	w := &yamlnode.Walker{Budget: specBudget}
	n := w.Resolve(l.r.Spec)
	var at *yaml.Node
	for i := 0; i < len(path); i++ {
		s := path[i]
		key, value := field(w, n, s.fd)
		if key == nil {
			return at
		}
		at, n = key, w.Resolve(value)
		last := i == len(path)-1
		switch {
		case s.fd.IsList() && !last:
			i++
			if n.Kind != yaml.SequenceNode || path[i].index >= len(n.Content) {
				return at
			}
			n = w.Resolve(n.Content[path[i].index])
			at = n
		case s.fd.IsMap() && !last:
			i++
			var found *yaml.Node
			for k, v := range w.All(n) {
				if k.Value == path[i].key.String() {
					found = v
				}
			}
			if found == nil {
				return at
			}
			n = w.Resolve(found)
			at = n
		case last && !s.fd.IsList() && !s.fd.IsMap() && s.fd.Kind() != protoreflect.MessageKind:
			at = n // a scalar: its value
		}
	}
	return at
}

// field returns the key and value of fd in the mapping n, by its JSON or
// its proto name as protojson reads them.
func field(w *yamlnode.Walker, n *yaml.Node, fd protoreflect.FieldDescriptor) (key, value *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for k, v := range w.All(n) {
		if k.Value == fd.JSONName() || k.Value == string(fd.Name()) {
			key, value = k, v
		}
	}
	return key, value
}
