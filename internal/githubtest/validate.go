package githubtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// kind is the JSON type a body field must have.
type kind int

const (
	kString kind = iota
	kBool
	kInt
	kStrings
	kInts
	kObject
	kObjectOrString
	kArray
)

// field describes one property of a request body.
type field struct {
	name     string
	kind     kind
	enum     []string // for kString: the allowed values
	nullable bool
}

// bodySchema is the part of an operation's request schema the fake checks.
type bodySchema struct {
	fields   []field
	required []string
	closed   bool // additionalProperties: false
	optional bool // an empty body is accepted
}

// body is a decoded request body: its properties as raw JSON.
type body map[string]json.RawMessage

// readBody decodes and checks a request body against sc. On failure it returns
// the answer GitHub gives: 400 "Problems parsing JSON" for malformed JSON,
// 422 "Invalid request." listing the schema violations otherwise.
func (s *Server) readBody(q *request, sc bodySchema) (body, *reply) {
	data, err := io.ReadAll(http.MaxBytesReader(nil, q.Body, 1<<20))
	if err != nil {
		rep := s.errorReply(q, http.StatusBadRequest, "Problems parsing JSON", nil)
		return nil, &rep
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		if sc.optional {
			return body{}, nil
		}
		data = []byte("{}")
	}
	var b body
	if err := json.Unmarshal(data, &b); err != nil {
		rep := s.errorReply(q, http.StatusBadRequest, "Problems parsing JSON", nil)
		return nil, &rep
	}
	var problems []string
	for _, name := range sc.required {
		if _, ok := b[name]; !ok {
			problems = append(problems, fmt.Sprintf("%q wasn't supplied.", name))
		}
	}
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		i := slices.IndexFunc(sc.fields, func(f field) bool { return f.name == k })
		if i < 0 {
			if sc.closed {
				problems = append(problems, fmt.Sprintf("%q is not a permitted key.", k))
			}
			continue
		}
		if p := checkField(sc.fields[i], b[k]); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		rep := s.invalid(q, problems...)
		return nil, &rep
	}
	return b, nil
}

// checkField returns GitHub's complaint about a property, or "".
func checkField(f field, raw json.RawMessage) string {
	var v any
	_ = json.Unmarshal(raw, &v) // raw came out of a successful Unmarshal
	if v == nil {
		if f.nullable {
			return ""
		}
		return fmt.Sprintf("For 'properties/%s', nil is not %s.", f.name, kindName(f.kind))
	}
	ok := false
	switch f.kind {
	case kString:
		_, ok = v.(string)
	case kBool:
		_, ok = v.(bool)
	case kInt:
		n, isNum := v.(float64)
		ok = isNum && n == float64(int64(n))
	case kStrings, kInts, kArray:
		items, isArr := v.([]any)
		ok = isArr
		for _, it := range items {
			switch f.kind {
			case kStrings:
				_, isStr := it.(string)
				ok = ok && isStr
			case kInts:
				n, isNum := it.(float64)
				ok = ok && isNum && n == float64(int64(n))
			}
		}
	case kObject:
		_, ok = v.(map[string]any)
	case kObjectOrString:
		_, isObj := v.(map[string]any)
		_, isStr := v.(string)
		ok = isObj || isStr
	}
	if !ok {
		return fmt.Sprintf("For 'properties/%s', %s is not %s.", f.name, compact(raw), kindName(f.kind))
	}
	if str, isStr := v.(string); isStr && len(f.enum) > 0 && !slices.Contains(f.enum, str) {
		quoted := make([]string, len(f.enum))
		for i, e := range f.enum {
			quoted[i] = fmt.Sprintf("%q", e)
		}
		return fmt.Sprintf("For 'properties/%s', %q is not a member of [%s].", f.name, str, strings.Join(quoted, ", "))
	}
	return ""
}

func kindName(k kind) string {
	return map[kind]string{
		kString:         "a string",
		kBool:           "a boolean",
		kInt:            "an integer",
		kStrings:        "an array of strings",
		kInts:           "an array of integers",
		kObject:         "an object",
		kObjectOrString: "an object or a string",
		kArray:          "an array",
	}[k]
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// has reports whether the body has a property, null included.
func (b body) has(name string) bool {
	_, ok := b[name]
	return ok
}

// isNull reports whether a property is present and null.
func (b body) isNull(name string) bool {
	raw, ok := b[name]
	return ok && string(bytes.TrimSpace(raw)) == "null"
}

// str returns a string property, or def when absent or null.
func (b body) str(name, def string) string {
	var v string
	if raw, ok := b[name]; ok && json.Unmarshal(raw, &v) == nil && !b.isNull(name) {
		return v
	}
	return def
}

// boolean returns a boolean property, or def when absent or null.
func (b body) boolean(name string, def bool) bool {
	var v bool
	if raw, ok := b[name]; ok && json.Unmarshal(raw, &v) == nil && !b.isNull(name) {
		return v
	}
	return def
}

// integer returns an integer property, or def when absent or null.
func (b body) integer(name string, def int64) int64 {
	var v int64
	if raw, ok := b[name]; ok && json.Unmarshal(raw, &v) == nil && !b.isNull(name) {
		return v
	}
	return def
}

// decode unmarshals a property into v.
func (b body) decode(name string, v any) {
	if raw, ok := b[name]; ok {
		_ = json.Unmarshal(raw, v) // checked by readBody
	}
}
