package mesh

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/promote-dev/promote/internal/yamlnode"
)

// decodeDirect sets the fields of m from a spec the encoder's walk found no
// problem in, straight from the YAML nodes, to the same message protojson
// makes of the encoder's JSON: for clean specs, the JSON round trip cost
// more than everything else the check does. It covers what Istio's
// resources are written with (messages, lists, maps with string keys,
// strings, booleans, integers, doubles, enum names, wrappers, durations in
// protojson's "1.5s" form, Struct) and reports false at anything else, or
// anything protojson might refuse, so that protojson decides it: m is then
// partly set and must be reset. TestDirectLikeProtojson and FuzzDirect
// check that both make equal messages.
func decodeDirect(n *yaml.Node, m protoreflect.Message) bool {
	d := direct{}
	return d.message(n, m)
}

// direct walks a spec already walked (and charged to the expansion budget)
// by the encoder, so its walker needs no budget.
type direct struct {
	w yamlnode.Walker
}

func (d *direct) message(n *yaml.Node, m protoreflect.Message) bool {
	n = d.w.Resolve(n)
	if n.Kind != yaml.MappingNode {
		return false
	}
	fields := m.Descriptor().Fields()
	var seen []protoreflect.FieldNumber
	var oneofs []protoreflect.OneofDescriptor
	for key, value := range d.w.All(n) {
		fd := fields.ByJSONName(key.Value)
		if fd == nil {
			fd = fields.ByTextName(key.Value)
		}
		if fd == nil {
			return false
		}
		for _, s := range seen {
			if s == fd.Number() {
				return false // protojson refuses a field given twice
			}
		}
		seen = append(seen, fd.Number())
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			for _, s := range oneofs {
				if s == o {
					return false // protojson refuses two fields of a oneof
				}
			}
			oneofs = append(oneofs, o)
		}
		if !d.field(value, m, fd) {
			return false
		}
	}
	return true
}

func (d *direct) field(n *yaml.Node, m protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	n = d.w.Resolve(n)
	switch {
	case fd.IsList():
		if n.Kind != yaml.SequenceNode {
			return false
		}
		list := m.Mutable(fd).List()
		for _, item := range n.Content {
			item = d.w.Resolve(item)
			if fd.Kind() == protoreflect.MessageKind {
				v := list.NewElement()
				if !d.messageValue(item, v.Message()) {
					return false
				}
				list.Append(v)
				continue
			}
			v, ok := d.scalar(item, fd)
			if !ok {
				return false
			}
			list.Append(v)
		}
		return true
	case fd.IsMap():
		if n.Kind != yaml.MappingNode || fd.MapKey().Kind() != protoreflect.StringKind {
			return false
		}
		mp := m.Mutable(fd).Map()
		vd := fd.MapValue()
		for key, value := range d.w.All(n) {
			if !utf8.ValidString(key.Value) {
				return false
			}
			k := protoreflect.ValueOfString(key.Value).MapKey()
			if mp.Has(k) {
				return false
			}
			value = d.w.Resolve(value)
			if vd.Kind() == protoreflect.MessageKind {
				v := mp.NewValue()
				if !d.messageValue(value, v.Message()) {
					return false
				}
				mp.Set(k, v)
				continue
			}
			v, ok := d.scalar(value, vd)
			if !ok {
				return false
			}
			mp.Set(k, v)
		}
		return true
	case fd.Kind() == protoreflect.MessageKind:
		return d.messageValue(n, m.Mutable(fd).Message())
	}
	v, ok := d.scalar(n, fd)
	if ok {
		m.Set(fd, v)
	}
	return ok
}

// messageValue decodes n, resolved, into a message: a mapping, or the JSON
// form of a well-known type.
func (d *direct) messageValue(n *yaml.Node, m protoreflect.Message) bool {
	md := m.Descriptor()
	if !isWellKnown(md) {
		return d.message(n, m)
	}
	if inner := wrapped(md); inner != nil {
		v, ok := d.scalar(n, inner)
		if ok {
			m.Set(inner, v)
		}
		return ok
	}
	switch md.FullName() {
	case "google.protobuf.Duration":
		secs, nanos, ok := duration(n)
		if ok {
			m.Set(md.Fields().ByNumber(1), protoreflect.ValueOfInt64(secs))
			m.Set(md.Fields().ByNumber(2), protoreflect.ValueOfInt32(nanos))
		}
		return ok
	case "google.protobuf.Struct":
		s, ok := m.Interface().(*structpb.Struct)
		if !ok || n.Kind != yaml.MappingNode {
			return false
		}
		s.Fields = make(map[string]*structpb.Value, len(n.Content)/2)
		return d.structFields(n, s.Fields)
	}
	return false
}

func (d *direct) structFields(n *yaml.Node, fields map[string]*structpb.Value) bool {
	for key, value := range d.w.All(n) {
		if !utf8.ValidString(key.Value) {
			return false
		}
		if _, dup := fields[key.Value]; dup {
			return false
		}
		v, ok := d.value(value)
		if !ok {
			return false
		}
		fields[key.Value] = v
	}
	return true
}

// value decodes n as a google.protobuf.Value, as protojson decodes the JSON
// the encoder writes for it.
func (d *direct) value(n *yaml.Node) (*structpb.Value, bool) {
	n = d.w.Resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		fields := make(map[string]*structpb.Value, len(n.Content)/2)
		if !d.structFields(n, fields) {
			return nil, false
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields}), true
	case yaml.SequenceNode:
		values := make([]*structpb.Value, 0, len(n.Content))
		for _, item := range n.Content {
			v, ok := d.value(item)
			if !ok {
				return nil, false
			}
			values = append(values, v)
		}
		return structpb.NewListValue(&structpb.ListValue{Values: values}), true
	case yaml.ScalarNode:
	default:
		return nil, false
	}
	switch n.ShortTag() {
	case "!!null":
		return structpb.NewNullValue(), true
	case "!!bool":
		return structpb.NewBoolValue(strings.EqualFold(n.Value, "true")), true
	case "!!int", "!!float":
		f, ok := number(n)
		if !ok {
			return nil, false
		}
		return structpb.NewNumberValue(f), true
	}
	if !utf8.ValidString(n.Value) {
		return nil, false
	}
	return structpb.NewStringValue(n.Value), true
}

// number returns the double protojson reads from the JSON number the
// encoder writes for an integer or a float scalar; false when the encoder
// writes a string instead (NaN, infinities, integers beyond 64 bits).
func number(n *yaml.Node) (float64, bool) {
	text := appendScalar(nil, n)
	if len(text) == 0 || text[0] == '"' {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(text), 64)
	return f, err == nil && !math.IsInf(f, 0)
}

// scalar decodes a resolved scalar node as a value of fd's kind, accepting
// only the YAML types the encoder passes without a finding and protojson
// decodes without question.
func (d *direct) scalar(n *yaml.Node, fd protoreflect.FieldDescriptor) (protoreflect.Value, bool) {
	var none protoreflect.Value
	if n.Kind != yaml.ScalarNode {
		return none, false
	}
	tag := n.ShortTag()
	switch fd.Kind() {
	case protoreflect.StringKind:
		if tag != "!!str" || !utf8.ValidString(n.Value) {
			return none, false
		}
		return protoreflect.ValueOfString(n.Value), true
	case protoreflect.BoolKind:
		if tag != "!!bool" {
			return none, false
		}
		return protoreflect.ValueOfBool(strings.EqualFold(n.Value, "true")), true
	case protoreflect.EnumKind:
		if tag != "!!str" || fd.Enum().FullName() == "google.protobuf.NullValue" {
			return none, false
		}
		v := fd.Enum().Values().ByName(protoreflect.Name(n.Value))
		if v == nil {
			return none, false
		}
		return protoreflect.ValueOfEnum(v.Number()), true
	case protoreflect.DoubleKind:
		if tag != "!!int" && tag != "!!float" {
			return none, false
		}
		f, ok := number(n)
		return protoreflect.ValueOfFloat64(f), ok
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if tag != "!!int" {
			return none, false
		}
		return integer(n.Value, fd.Kind())
	}
	return none, false // bytes, float: left to protojson
}

// integer parses an integer scalar as the encoder writes it (underscores
// removed, any base) and checks it fits the field as protojson does.
func integer(s string, kind protoreflect.Kind) (protoreflect.Value, bool) {
	var none protoreflect.Value
	i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	if err != nil {
		return none, false // beyond int64: left to protojson
	}
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if i < math.MinInt32 || i > math.MaxInt32 {
			return none, false
		}
		return protoreflect.ValueOfInt32(int32(i)), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(i), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if i < 0 || i > math.MaxUint32 {
			return none, false
		}
		return protoreflect.ValueOfUint32(uint32(i)), true
	}
	if i < 0 {
		return none, false
	}
	return protoreflect.ValueOfUint64(uint64(i)), true
}

// maxDurationSeconds is the range protojson allows a Duration (10,000
// years).
const maxDurationSeconds = 315_576_000_000

// duration parses a Duration written as protojson writes it ("5s", "0.25s";
// no sign, at most nine decimals); anything else is left to protojson and
// what the encoder made of it.
func duration(n *yaml.Node) (secs int64, nanos int32, ok bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return 0, 0, false
	}
	s, found := strings.CutSuffix(n.Value, "s")
	if !found {
		return 0, 0, false
	}
	whole, frac, dot := strings.Cut(s, ".")
	if !digits(whole) || len(whole) > 12 || dot && (!digits(frac) || len(frac) > 9) {
		return 0, 0, false
	}
	secs, _ = strconv.ParseInt(whole, 10, 64)
	if secs > maxDurationSeconds {
		return 0, 0, false
	}
	if dot {
		f, _ := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 32)
		nanos = int32(f)
	}
	return secs, nanos, true
}

// digits reports whether s is one or more ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
