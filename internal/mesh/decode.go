package mesh

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/promote-dev/promote/internal/yamlnode"
)

// maxDecodeRounds bounds how often a spec is decoded again after leaving out
// a field protojson refused, to report more than the first problem.
const maxDecodeRounds = 8

// decodeSpec decodes an Istio resource's spec strictly into its proto type:
// every problem is reported at the YAML position of the offending key or
// value. The spec is translated to JSON by a walk that follows the proto
// descriptors, which catches what the Kubernetes API server would refuse
// and protojson accepts (enum numbers, quoted integers) and unknown fields
// with suggestions; protojson then decodes the JSON and remains the judge
// of everything else. The JSON puts every key and value on a line of its
// own, so the line of a protojson error names the YAML node. A spec the
// walk finds clean is first decoded from the YAML directly (decodeDirect),
// which makes the same message faster and leaves to protojson what it is
// not sure of.
func decodeSpec(r *Resource, file string, budget int) (proto.Message, []Finding) {
	msg := r.Istio.new()
	e := encoders.Get().(*encoder)
	defer e.release()
	e.file, e.res = file, r
	e.w.Budget = budget
	e.w.Report = e.duplicate
	spec := r.Spec
	if spec == nil {
		spec = &yaml.Node{Kind: yaml.MappingNode, Line: r.Pos.Line, Column: r.Pos.Col}
	}
	md := msg.ProtoReflect().Descriptor()
	for round := 0; ; round++ {
		e.reset()
		e.value(spec, 0, md, nil)
		if e.w.TooBig() {
			return nil, e.result()
		}
		if round == 0 && !e.failed && decodeDirect(spec, msg.ProtoReflect()) {
			return msg, e.result()
		}
		proto.Reset(msg)
		err := protojson.UnmarshalOptions{}.Unmarshal(e.buf, msg)
		if err == nil {
			if e.failed {
				return nil, e.result()
			}
			return msg, e.result()
		}
		at, n, text := e.locate(err)
		if !e.reported(at) && !e.reported(n) {
			e.finding(cmp.Or(at, spec), RuleType, "%s", text)
		}
		if n == nil || round == maxDecodeRounds || e.skip[n] {
			return nil, e.result()
		}
		if e.skip == nil {
			e.skip = map[*yaml.Node]bool{}
		}
		e.skip[n] = true
	}
}

// encoders keeps encoders and their buffers for reuse.
var encoders = sync.Pool{New: func() any { return new(encoder) }}

// encoder writes a spec as JSON, one key or value per line.
type encoder struct {
	file string
	res  *Resource
	w    yamlnode.Walker
	buf  []byte
	// lines[i] is the node on JSON line i+1, owners[i] the node to leave
	// out when protojson refuses it (the key of its pair, or the list
	// item).
	lines, owners []*yaml.Node
	paths         []fieldPath
	segs          []segment
	skip          map[*yaml.Node]bool
	findings      []Finding
	seen          map[*yaml.Node]bool
	failed        bool
}

func (e *encoder) reset() {
	e.buf, e.lines, e.owners, e.paths = e.buf[:0], e.lines[:0], e.owners[:0], e.paths[:0]
	e.segs = append(e.segs[:0], segment{parent: -1, key: "spec"})
	e.w = yamlnode.Walker{Budget: e.w.Budget, Report: e.w.Report}
}

// result returns the findings, which outlive the encoder.
func (e *encoder) result() []Finding { return slices.Clone(e.findings) }

// release clears what refers to the resource and pools the encoder.
func (e *encoder) release() {
	e.res, e.skip, e.seen, e.findings, e.failed = nil, nil, nil, e.findings[:0], false
	clear(e.lines[:cap(e.lines)])
	clear(e.owners[:cap(e.owners)])
	e.w = yamlnode.Walker{}
	encoders.Put(e)
}

func (e *encoder) duplicate(n *yaml.Node, msg string) { e.finding(n, RuleDuplicateKey, "%s", msg) }

func (e *encoder) finding(n *yaml.Node, rule, format string, args ...any) {
	if e.seen[n] {
		return // the walk runs again after protojson refuses a field
	}
	if e.seen == nil {
		e.seen = map[*yaml.Node]bool{}
	}
	e.seen[n] = true
	e.failed = true
	e.findings = append(e.findings, Finding{Pos: Pos{e.file, n.Line, n.Column}, Severity: Error, Rule: rule, Resource: e.res.Ref(), Message: fmt.Sprintf(format, args...)})
}

func (e *encoder) reported(n *yaml.Node) bool { return n != nil && e.seen[n] }

// line starts a new JSON line for n.
func (e *encoder) line(n, owner *yaml.Node, path fieldPath) {
	e.buf = append(e.buf, '\n')
	e.lines = append(e.lines, n)
	e.owners = append(e.owners, owner)
	e.paths = append(e.paths, path)
}

// fieldPath names a place in the spec, such as spec.rules[0].from, as an
// index into the encoder's segments; the string is built only for messages.
type fieldPath int

type segment struct {
	parent fieldPath
	key    string // "" for a list index
	index  int
}

func (e *encoder) field(parent fieldPath, key string) fieldPath {
	e.segs = append(e.segs, segment{parent: parent, key: key})
	return fieldPath(len(e.segs) - 1)
}

func (e *encoder) index(parent fieldPath, i int) fieldPath {
	e.segs = append(e.segs, segment{parent: parent, index: i})
	return fieldPath(len(e.segs) - 1)
}

// path spells p out.
func (e *encoder) path(p fieldPath) string {
	var parts []segment
	for ; p >= 0; p = e.segs[p].parent {
		parts = append(parts, e.segs[p])
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		switch {
		case parts[i].key == "":
			fmt.Fprintf(&b, "[%d]", parts[i].index)
		case b.Len() > 0:
			b.WriteString("." + parts[i].key)
		default:
			b.WriteString(parts[i].key)
		}
	}
	return b.String()
}

var protoErrLine = regexp.MustCompile(`\(line (\d+):\d+\): (.*)$`)

// locate maps a protojson error to the node it is about, the node to leave
// out to decode the rest (its key, or itself as a list item), and a message
// that names the field path instead of JSON lines.
func (e *encoder) locate(err error) (at, owner *yaml.Node, msg string) {
	m := protoErrLine.FindStringSubmatch(err.Error())
	if m == nil {
		return nil, nil, "spec: " + cleanProtoError(err.Error())
	}
	line, _ := strconv.Atoi(m[1])
	// JSON line 1 is the empty line before the first value.
	i := line - 2
	if i < 0 || i >= len(e.lines) {
		return nil, nil, "spec: " + m[2]
	}
	at, owner = e.lines[i], e.owners[i]
	if owner == nil {
		owner = at
	}
	return at, owner, fmt.Sprintf("%s: %s", e.path(e.paths[i]), m[2])
}

func cleanProtoError(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "proto:"), "\u00a0")
	return strings.TrimSpace(s)
}

// value writes n, expected to hold a value of field fd (or a message of
// descriptor md when fd is nil: the spec itself, list items, map values).
func (e *encoder) value(n *yaml.Node, path fieldPath, md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor) {
	e.valueOwned(n, path, md, fd, nil)
}

func (e *encoder) valueOwned(n *yaml.Node, path fieldPath, md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor, owner *yaml.Node) {
	n = e.w.Resolve(n)
	if e.w.TooBig() {
		return
	}
	if fd != nil && fd.IsList() && n.Kind == yaml.SequenceNode {
		e.line(n, owner, path)
		e.buf = append(e.buf, '[')
		for i, item := range n.Content {
			if e.skip[item] {
				continue
			}
			if e.buf[len(e.buf)-1] != '[' {
				e.buf = append(e.buf, ',')
			}
			e.element(item, e.index(path, i), fd)
		}
		e.buf = append(e.buf, ']')
		return
	}
	if fd != nil && fd.IsMap() && n.Kind == yaml.MappingNode {
		e.mapping(n, path, fd)
		return
	}
	if fd != nil && (fd.IsList() || fd.IsMap()) && !isNull(n) {
		want := "a list"
		if fd.IsMap() {
			want = "a mapping"
		}
		e.finding(n, RuleType, "%s: expected %s, got %s", e.path(path), want, yamlnode.Describe(n))
		e.line(n, owner, path)
		e.buf = append(e.buf, "null"...)
		return
	}
	if fd != nil && !fd.IsList() && !fd.IsMap() {
		e.element(n, path, fd)
		return
	}
	if md != nil && n.Kind == yaml.MappingNode && !isWellKnown(md) {
		e.message(n, path, md, owner)
		return
	}
	e.line(n, owner, path)
	e.scalarOrGeneric(n)
}

// element writes one value of a singular field or one item of a list.
func (e *encoder) element(n *yaml.Node, path fieldPath, fd protoreflect.FieldDescriptor) {
	n = e.w.Resolve(n)
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		md := fd.Message()
		if md.FullName() == durationName {
			e.duration(n, path)
			return
		}
		if n.Kind == yaml.MappingNode && !isWellKnown(md) {
			e.message(n, path, md, nil)
			return
		}
		if !isWellKnown(md) && !isNull(n) {
			e.mismatch(n, path, fmt.Sprintf("a mapping (%s)", md.Name()), "{}")
			return
		}
		if n.Kind == yaml.ScalarNode {
			if inner := wrapped(md); inner != nil {
				e.checkScalar(n, path, inner)
			}
		}
	case protoreflect.EnumKind:
		if n.Kind != yaml.ScalarNode {
			e.mismatch(n, path, "a name", "0")
			return
		}
		e.checkEnum(n, path, fd.Enum())
	default:
		if n.Kind != yaml.ScalarNode {
			e.mismatch(n, path, kindName(fd), zeroJSON(fd))
			return
		}
		e.checkScalar(n, path, fd)
	}
	e.line(n, nil, path)
	e.scalarOrGeneric(n)
}

// mismatch reports a value of the wrong shape (a mapping for a string, a
// string for a message) and writes zero, a value protojson takes even as a
// list item, so that it decodes the rest and every mismatch is reported in
// one walk.
func (e *encoder) mismatch(n *yaml.Node, path fieldPath, want, zero string) {
	e.finding(n, RuleType, "%s: expected %s, got %s", e.path(path), want, yamlnode.Describe(n))
	e.line(n, nil, path)
	e.buf = append(e.buf, zero...)
}

// zeroJSON is the zero value of a scalar field in JSON.
func zeroJSON(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return `""`
	case protoreflect.BoolKind:
		return "false"
	}
	return "0"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// message writes a mapping as a message of descriptor md.
func (e *encoder) message(n *yaml.Node, path fieldPath, md protoreflect.MessageDescriptor, owner *yaml.Node) {
	e.line(n, owner, path)
	e.buf = append(e.buf, '{')
	fields := md.Fields()
	for key, value := range e.w.All(n) {
		p := yamlnode.Pair{Key: key, Value: value}
		if e.skip[p.Key] {
			continue
		}
		fd := fields.ByJSONName(p.Key.Value)
		if fd == nil {
			fd = fields.ByTextName(p.Key.Value)
		}
		sub := e.field(path, p.Key.Value)
		if fd == nil {
			e.unknownField(p.Key, sub, md)
			continue
		}
		if e.buf[len(e.buf)-1] != '{' {
			e.buf = append(e.buf, ',')
		}
		e.line(p.Key, p.Key, sub)
		e.buf = appendJSONString(e.buf, p.Key.Value)
		e.buf = append(e.buf, ':')
		e.valueOwned(p.Value, sub, nil, fd, p.Key)
	}
	e.buf = append(e.buf, '}')
}

// mapping writes a map field; keys stay strings as JSON wants them.
func (e *encoder) mapping(n *yaml.Node, path fieldPath, fd protoreflect.FieldDescriptor) {
	e.line(n, nil, path)
	e.buf = append(e.buf, '{')
	for key, value := range e.w.All(n) {
		p := yamlnode.Pair{Key: key, Value: value}
		if e.skip[p.Key] {
			continue
		}
		sub := e.field(path, p.Key.Value)
		key := p.Key.Value
		if fd.MapKey().Kind() != protoreflect.StringKind {
			key = jsonKey(p.Key)
			if !e.checkKey(p.Key, key, path, fd.MapKey()) {
				continue
			}
		}
		if e.buf[len(e.buf)-1] != '{' {
			e.buf = append(e.buf, ',')
		}
		e.line(p.Key, p.Key, sub)
		e.buf = appendJSONString(e.buf, key)
		e.buf = append(e.buf, ':')
		e.element(p.Value, sub, fd.MapValue())
	}
	e.buf = append(e.buf, '}')
}

// checkKey refuses a map key that is not of the map's key type. Keys are
// JSON object keys, so always strings: a quoted integer key ("8443") is as
// good as a bare one, for istioctl (jsonpb reads the key as a JSON number)
// and for the API server (the CRD declares additionalProperties, and its
// rules read int(key)). Only decimal integers pass all three; key is k as
// a JSON key (see jsonKey).
func (e *encoder) checkKey(k *yaml.Node, key string, path fieldPath, kd protoreflect.FieldDescriptor) bool {
	var err error
	switch kd.Kind() {
	case protoreflect.StringKind:
		return true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		_, err = strconv.ParseInt(key, 10, 32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		_, err = strconv.ParseInt(key, 10, 64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, err = strconv.ParseUint(key, 10, 32)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		_, err = strconv.ParseUint(key, 10, 64)
	case protoreflect.BoolKind:
		if key != "true" && key != "false" {
			e.finding(k, RuleType, "%s: the key %q is not true or false", e.path(path), k.Value)
			return false
		}
		return true
	}
	if err != nil || !jsonInteger.MatchString(key) {
		e.finding(k, RuleType, "%s: the key %q is not %s; the keys of this map are decimal integers%s, such as 8443", e.path(path), k.Value, kindName(kd), keyRange(kd))
		return false
	}
	return true
}

// jsonKey is the JSON object key that kubectl and istioctl make of a YAML
// key (sigs.k8s.io/yaml): a bare number is written in decimal, so 0x50:
// and 80.0: are the key "80".
func jsonKey(k *yaml.Node) string {
	v := strings.ReplaceAll(k.Value, "_", "")
	switch k.ShortTag() {
	case "!!int":
		if i, err := strconv.ParseInt(v, 0, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
	case "!!float":
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return strconv.FormatFloat(f, 'g', -1, 32)
		}
	}
	return k.Value
}

// jsonInteger is an integer as JSON writes it, the only form jsonpb reads
// from a key: no sign but minus, no leading zero.
var jsonInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// keyRange says which integers an integer kind holds, or "" for 64 bits.
func keyRange(kd protoreflect.FieldDescriptor) string {
	switch kd.Kind() {
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return " from 0 to 4294967295"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return " from -2147483648 to 2147483647"
	}
	return ""
}

func (e *encoder) unknownField(k *yaml.Node, path fieldPath, md protoreflect.MessageDescriptor) {
	names := make([]string, 0, md.Fields().Len())
	for i := 0; i < md.Fields().Len(); i++ {
		names = append(names, md.Fields().Get(i).JSONName())
	}
	slices.Sort(names)
	msg := fmt.Sprintf("%s: unknown field %q", e.path(path), k.Value)
	if s := yamlnode.Suggest(k.Value, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	if len(names) == 0 {
		msg += fmt.Sprintf(" (%s has no fields)", md.Name())
	} else {
		msg += fmt.Sprintf(" (%s has %s)", md.Name(), strings.Join(names, ", "))
	}
	e.finding(k, RuleUnknownField, "%s", msg)
}

const durationName = "google.protobuf.Duration"

// durationForms says how to write a duration, in the messages.
const durationForms = "a duration is a number and a unit (ns, us, ms, s, m, h), such as 30ms, 5m or 1h30m"

// duration writes a google.protobuf.Duration in protojson's form ("1.5s").
// Istio decodes durations with the legacy jsonpb decoder, which reads them
// with time.ParseDuration (30ms, 5m, 1h30m), as the Kubernetes API server's
// CEL duration() does; protojson takes only seconds. So the walk judges a
// duration as Istio does, reports every bad one, and writes zero in its
// place so that protojson decodes the rest. Whether a field takes a zero or
// negative duration is for Istio's rules to say.
func (e *encoder) duration(n *yaml.Node, path fieldPath) {
	e.line(n, nil, path)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!null":
			e.buf = append(e.buf, "null"...)
			return
		case "!!str":
			d, err := time.ParseDuration(n.Value)
			if err == nil {
				e.buf = appendDuration(e.buf, d)
				return
			}
			e.finding(n, RuleType, "%s: %q is not a duration; %s", e.path(path), n.Value, durationForms)
		case "!!int", "!!float":
			e.finding(n, RuleType, "%s: expected a duration, got %s without a unit; %s", e.path(path), yamlnode.Describe(n), durationForms)
		default:
			e.finding(n, RuleType, "%s: expected a duration, got %s; %s", e.path(path), yamlnode.Describe(n), durationForms)
		}
	} else {
		e.finding(n, RuleType, "%s: expected a duration, got %s; %s", e.path(path), yamlnode.Describe(n), durationForms)
	}
	e.buf = append(e.buf, `"0s"`...)
}

// appendDuration writes d as protojson reads a duration: seconds with up to
// nine decimals, both parts of one sign, as jsonpb splits it.
func appendDuration(buf []byte, d time.Duration) []byte {
	buf = append(buf, '"')
	if d < 0 {
		buf = append(buf, '-')
	}
	sec, nsec := d/time.Second, d%time.Second
	buf = strconv.AppendUint(buf, uint64(max(sec, -sec)), 10)
	if nsec != 0 {
		frac := strconv.AppendUint(nil, uint64(1e9+max(nsec, -nsec)), 10)
		buf = append(buf, '.')
		buf = append(buf, frac[1:]...)
	}
	return append(buf, `s"`...)
}

// checkEnum refuses enum numbers and unknown names: the CRD schema declares
// enums as strings, so the API server refuses a number that protojson
// accepts.
func (e *encoder) checkEnum(n *yaml.Node, path fieldPath, ed protoreflect.EnumDescriptor) {
	if n.Kind != yaml.ScalarNode || ed.FullName() == "google.protobuf.NullValue" {
		return
	}
	names := make([]string, 0, ed.Values().Len())
	for i := 0; i < ed.Values().Len(); i++ {
		names = append(names, string(ed.Values().Get(i).Name()))
	}
	switch n.ShortTag() {
	case "!!str":
		if ed.Values().ByName(protoreflect.Name(n.Value)) == nil {
			msg := fmt.Sprintf("%s: unknown value %q", e.path(path), n.Value)
			if s := yamlnode.Suggest(n.Value, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			e.finding(n, RuleEnum, "%s (expected one of %s)", msg, strings.Join(names, ", "))
		}
	case "!!int":
		name := ""
		if i, err := strconv.ParseInt(n.Value, 0, 32); err == nil {
			if v := ed.Values().ByNumber(protoreflect.EnumNumber(i)); v != nil {
				name = fmt.Sprintf("; write %s", v.Name())
			}
		}
		e.finding(n, RuleEnum, "%s: expected a name, got the number %s%s (the Kubernetes API server accepts only names: %s)", e.path(path), n.Value, name, strings.Join(names, ", "))
	case "!!null":
	default:
		e.finding(n, RuleEnum, "%s: expected one of %s, got %s", e.path(path), strings.Join(names, ", "), yamlnode.Describe(n))
	}
}

// checkScalar refuses scalars of the wrong YAML type for their field, with
// a hint how to write them, including quoted numbers for integer fields,
// which protojson accepts and the API server does not.
func (e *encoder) checkScalar(n *yaml.Node, path fieldPath, fd protoreflect.FieldDescriptor) {
	tag := n.ShortTag()
	if tag == "!!null" {
		return
	}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if tag == "!!str" {
			if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
				e.finding(n, RuleType, "%s: expected an integer, got the string %q; remove the quotes (the Kubernetes API server refuses quoted integers)", e.path(path), n.Value)
				return
			}
		}
		if tag != "!!int" {
			e.finding(n, RuleType, "%s: expected an integer, got %s", e.path(path), yamlnode.Describe(n))
		} else if ok, lo, hi := inRange(fd, n.Value); !ok {
			e.finding(n, RuleType, "%s: %s is out of range; expected an integer from %s to %s", e.path(path), n.Value, lo, hi)
		}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if tag == "!!str" {
			if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
				e.finding(n, RuleType, "%s: expected a number, got the string %q; remove the quotes (the Kubernetes API server refuses quoted numbers)", e.path(path), n.Value)
				return
			}
		}
		if tag != "!!int" && tag != "!!float" {
			e.finding(n, RuleType, "%s: expected a number, got %s", e.path(path), yamlnode.Describe(n))
		}
	case protoreflect.StringKind:
		if tag != "!!str" {
			e.finding(n, RuleType, "%s: expected a string, got %s; quote it", e.path(path), yamlnode.Describe(n))
		}
	case protoreflect.BoolKind:
		if tag != "!!bool" {
			e.finding(n, RuleType, "%s: expected true or false, got %s", e.path(path), yamlnode.Describe(n))
		}
	}
}

// inRange reports whether the YAML integer v fits the integer field fd;
// otherwise it returns the field's bounds.
func inRange(fd protoreflect.FieldDescriptor, v string) (ok bool, lo, hi string) {
	if strings.Contains(v, "_") {
		v = strings.ReplaceAll(v, "_", "")
	}
	bits, signed := 64, true
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		bits = 32
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		bits, signed = 32, false
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		signed = false
	}
	if signed {
		if _, err := strconv.ParseInt(v, 0, bits); err != nil {
			return false, strconv.FormatInt(-1<<(bits-1), 10), strconv.FormatInt(1<<(bits-1)-1, 10)
		}
		return true, "", ""
	}
	if _, err := strconv.ParseUint(v, 0, bits); err != nil {
		return false, "0", strconv.FormatUint(1<<bits-1, 10)
	}
	return true, "", ""
}

func kindName(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return "a boolean"
	case protoreflect.StringKind:
		return "a string"
	case protoreflect.BytesKind:
		return "base64 bytes"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "a number"
	}
	return "an integer"
}

// isWellKnown reports whether md is one of protobuf's well-known types,
// which have JSON forms of their own (Duration as "5s", Struct as any
// object, wrappers as their value).
func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

// wrapped returns the value field of a wrapper type (UInt32Value, ...).
func wrapped(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	if !isWellKnown(md) || !strings.HasSuffix(string(md.Name()), "Value") || md.Fields().Len() != 1 {
		return nil
	}
	return md.Fields().ByName("value")
}

// scalarOrGeneric writes n as plain JSON: a scalar by its YAML tag, or a
// mapping or list without a schema (google.protobuf.Struct and friends).
func (e *encoder) scalarOrGeneric(n *yaml.Node) {
	n = e.w.Resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		e.buf = append(e.buf, '{')
		for i, p := range e.w.Pairs(n) {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendJSONString(e.buf, p.Key.Value)
			e.buf = append(e.buf, ':')
			e.scalarOrGeneric(p.Value)
		}
		e.buf = append(e.buf, '}')
	case yaml.SequenceNode:
		e.buf = append(e.buf, '[')
		for i, item := range n.Content {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.scalarOrGeneric(item)
		}
		e.buf = append(e.buf, ']')
	default:
		e.buf = appendScalar(e.buf, n)
	}
}

// appendScalar writes a YAML scalar as the JSON value it resolves to.
func appendScalar(buf []byte, n *yaml.Node) []byte {
	switch n.ShortTag() {
	case "!!null":
		return append(buf, "null"...)
	case "!!bool":
		return strconv.AppendBool(buf, strings.EqualFold(n.Value, "true"))
	case "!!int":
		v := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(v, 0, 64); err == nil {
			return strconv.AppendInt(buf, i, 10)
		}
		if u, err := strconv.ParseUint(v, 0, 64); err == nil {
			return strconv.AppendUint(buf, u, 10)
		}
		return appendJSONString(buf, n.Value)
	case "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		switch {
		case err != nil:
			lower := strings.ToLower(n.Value)
			switch {
			case strings.HasSuffix(lower, ".inf"):
				if strings.HasPrefix(lower, "-") {
					return append(buf, `"-Infinity"`...)
				}
				return append(buf, `"Infinity"`...)
			case lower == ".nan":
				return append(buf, `"NaN"`...)
			}
			return appendJSONString(buf, n.Value)
		case math.IsInf(f, 0) || math.IsNaN(f):
			return appendJSONString(buf, n.Value)
		}
		return strconv.AppendFloat(buf, f, 'g', -1, 64)
	}
	return appendJSONString(buf, n.Value)
}

// appendJSONString quotes s as a JSON string (strconv's Go quoting differs
// from JSON for some escapes); invalid UTF-8 becomes U+FFFD.
func appendJSONString(buf []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20:
			buf = append(buf, fmt.Sprintf(`\u%04x`, c)...)
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}
