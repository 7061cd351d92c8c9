package yamlnode

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Fast parses the block-style YAML that Kubernetes manifests are written in
// (what kubectl, Helm and kustomize print) several times faster than the
// YAML library, into the same yaml.Node trees the library would build, with
// the same positions. It handles block mappings and sequences, single-line
// plain and quoted scalars and single-line flow collections; on anything
// else (anchors, tags, block scalars, multi-line scalars, tabs, directives,
// and every syntax error) it returns ok false, and the caller parses the
// whole stream with the YAML library. It never accepts input the library
// refuses (FuzzFast checks this against the library).
//
// It returns one DocumentNode per non-empty document.
func Fast(data []byte) (docs []*yaml.Node, ok bool) {
	if !printable(data) {
		return nil, false
	}
	p := &fast{}
	p.split(data)
	if p.bad {
		return nil, false
	}
	// The documents' line ranges; each parses on its own.
	type span struct{ start, end int }
	var spans []span
	start := 0
	for i, l := range p.lines {
		if l.sep {
			if i > start {
				spans = append(spans, span{start, i})
			}
			start = i + 1
		}
	}
	if len(p.lines) > start {
		spans = append(spans, span{start, len(p.lines)})
	}
	docs = make([]*yaml.Node, len(spans))
	parse := func(q *fast, from, to int) bool {
		if from < to {
			q.want = 2*(spans[to-1].end-spans[from].start) + 8
		}
		for i := from; i < to; i++ {
			q.i, q.end = spans[i].start, spans[i].end
			root := q.block(-1)
			if root == nil || q.i != q.end {
				return false
			}
			docs[i] = &yaml.Node{Kind: yaml.DocumentNode, Line: root.Line, Column: 1, Content: []*yaml.Node{root}}
		}
		return true
	}
	// A long stream (a rendered chart, a kustomize build) parses on every
	// core, in chunks of documents.
	workers := min(runtime.GOMAXPROCS(0), len(data)/parallelBytes+1)
	if workers <= 1 {
		return docs, parse(p, 0, len(spans))
	}
	chunk := (len(spans) + workers - 1) / workers
	var wg sync.WaitGroup
	var failed atomic.Bool
	for from := 0; from < len(spans); from += chunk {
		wg.Go(func() {
			if !parse(&fast{lines: p.lines}, from, min(from+chunk, len(spans))) {
				failed.Store(true)
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		return nil, false
	}
	return docs, true
}

// parallelBytes is how much of a stream each extra core takes on.
const parallelBytes = 256 << 10

type fastLine struct {
	num    int    // 1-based
	indent int    // leading spaces
	text   string // without the indentation
	ascii  bool
	sep    bool // a "---" document separator
}

type fast struct {
	lines  []fastLine // significant lines only: no blank or comment lines
	i, end int
	bad    bool
	slab   []yaml.Node
	// want estimates how many nodes are still to be made: most lines
	// make a key and a value.
	want int
}

// maxSlab keeps a block of nodes under the 32 KB above which the runtime
// allocates (and clears) large objects one by one.
const maxSlab = 200

// node allocates nodes in blocks (a document has dozens of them) and
// fills them in place. A block is sized to what the input still needs, so
// that a small file does not pay for a large block.
func (p *fast) node(kind yaml.Kind, tag string, style yaml.Style, value string, line, column int) *yaml.Node {
	if len(p.slab) == cap(p.slab) {
		size := min(max(p.want, 16), maxSlab)
		p.want -= size
		p.slab = make([]yaml.Node, 0, size)
	}
	p.slab = p.slab[:len(p.slab)+1]
	n := &p.slab[len(p.slab)-1]
	n.Kind, n.Tag, n.Style, n.Value, n.Line, n.Column = kind, tag, style, value, line, column
	return n
}

func (p *fast) split(data []byte) {
	all := string(data) // one copy; every text slices it
	p.lines = make([]fastLine, 0, bytes.Count(data, []byte{'\n'})+1)
	num := 0
	for len(all) > 0 {
		num++
		var line string
		if i := strings.IndexByte(all, '\n'); i >= 0 {
			line, all = all[:i], all[i+1:]
		} else {
			line, all = all, ""
		}
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		text := strings.TrimRight(line[indent:], " ")
		if text == "" || text[0] == '#' {
			continue
		}
		l := fastLine{num: num, indent: indent, text: text, ascii: isASCII(text)}
		if indent == 0 {
			switch {
			case text == "---" || strings.HasPrefix(text, "--- #"):
				l.sep = true
			case strings.HasPrefix(text, "---"), strings.HasPrefix(text, "..."), text[0] == '%':
				p.bad = true
			}
		}
		p.lines = append(p.lines, l)
	}
}

// printable reports whether data holds only what YAML calls printable,
// without tabs, carriage returns, byte order marks, and NEL, LS and PS,
// which the library takes as line breaks (Fast leaves all of them to the
// library).
func printable(data []byte) bool {
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == 0xFEFF,
			r < 0xA0, r == 0x2028 || r == 0x2029, r >= 0xD800 && r < 0xE000, r == 0xFFFE || r == 0xFFFF:
			return false
		}
		i += size
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// col returns the 1-based column, in characters as the library counts them,
// of byte offset off in line l's text.
func col(l *fastLine, off int) int {
	if l.ascii {
		return l.indent + off + 1
	}
	return l.indent + utf8.RuneCountInString(l.text[:off]) + 1
}

// block parses the block starting at the current line, which must be more
// indented than parent.
func (p *fast) block(parent int) *yaml.Node {
	if p.i >= p.end {
		return nil
	}
	l := &p.lines[p.i]
	if l.indent <= parent {
		return nil
	}
	if isSeqItem(l.text) {
		return p.sequence(l.indent)
	}
	return p.mapping(l.indent, 0)
}

func isSeqItem(s string) bool { return s == "-" || strings.HasPrefix(s, "- ") }

// sequence parses a block sequence whose dashes are at indent.
func (p *fast) sequence(indent int) *yaml.Node {
	first := &p.lines[p.i]
	n := p.node(yaml.SequenceNode, "!!seq", 0, "", first.num, indent+1)
	for p.i < p.end {
		l := &p.lines[p.i]
		if l.indent != indent || !isSeqItem(l.text) {
			break
		}
		off := 1
		for off < len(l.text) && l.text[off] == ' ' {
			off++
		}
		if off >= len(l.text) || l.text[off] == '#' {
			return nil // an item on the following lines, or an empty one
		}
		rest := l.text[off:]
		if isSeqItem(rest) {
			return nil // a compact nested sequence
		}
		var item *yaml.Node
		if k := keyEnd(rest); k > 0 {
			item = p.mapping(indent+off, off)
		} else {
			item = p.inline(l, off)
			p.i++
			if item != nil && p.i < p.end && p.lines[p.i].indent > indent {
				return nil // a continuation line
			}
		}
		if item == nil {
			return nil
		}
		n.Content = append(n.Content, item)
	}
	return n
}

// maxKey is less than the 1024 characters YAML allows an implicit key; Fast
// leaves longer keys to the library.
const maxKey = 1000

// keyEnd returns the length of the plain or quoted key at the start of s
// when s is "key: ..." or "key:", else 0.
func keyEnd(s string) int {
	if s == "" {
		return 0
	}
	switch s[0] {
	case '"', '\'':
		_, n, ok := quoted(s)
		if !ok || n >= len(s) || n > maxKey || s[n] != ':' || (n+1 < len(s) && s[n+1] != ' ') {
			return 0
		}
		return n
	}
	if !plainStart(s) {
		return 0
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ':':
			if i+1 == len(s) || s[i+1] == ' ' {
				if s[i-1] == ' ' || i > maxKey {
					return 0 // "key :", or longer than YAML allows
				}
				return i
			}
		case '#':
			if i > 0 && s[i-1] == ' ' {
				return 0
			}
		}
	}
	return 0
}

// plainStart reports whether s may start a plain scalar in block context.
func plainStart(s string) bool {
	switch s[0] {
	case '-', '?', ':':
		return len(s) > 1 && s[1] != ' '
	case ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	}
	return true
}

// mapping parses a block mapping whose keys are at indent. When first > 0,
// its first key starts at byte first of the current line (the rest of a
// sequence item's line).
func (p *fast) mapping(indent, first int) *yaml.Node {
	l := &p.lines[p.i]
	n := p.node(yaml.MappingNode, "!!map", 0, "", l.num, col(l, first))
	for p.i < p.end {
		l := &p.lines[p.i]
		off := 0
		if len(n.Content) == 0 {
			off = first
		} else if l.indent != indent {
			break
		}
		text := l.text[off:]
		if isSeqItem(text) {
			if len(n.Content) == 0 {
				return nil
			}
			break
		}
		k := keyEnd(text)
		if k == 0 {
			return nil
		}
		key := p.scalar(l, off, k)
		if key == nil {
			return nil
		}
		vo := off + k + 1
		for vo < len(l.text) && l.text[vo] == ' ' {
			vo++
		}
		var value *yaml.Node
		if vo >= len(l.text) || l.text[vo] == '#' {
			p.i++
			if p.i >= p.end {
				return nil // an empty value
			}
			next := &p.lines[p.i]
			switch {
			case next.indent > indent:
				value = p.block(indent)
			case next.indent == indent && isSeqItem(next.text):
				value = p.sequence(indent)
			default:
				return nil // an empty value
			}
		} else {
			value = p.inline(l, vo)
			p.i++
			if value != nil && p.i < p.end && p.lines[p.i].indent > indent {
				return nil // a continuation line or bad indentation
			}
		}
		if value == nil {
			return nil
		}
		n.Content = append(n.Content, key, value)
	}
	if p.i < p.end && p.lines[p.i].indent > indent {
		return nil
	}
	return n
}

// scalar returns the key scalar of length k at off in l.
func (p *fast) scalar(l *fastLine, off, k int) *yaml.Node {
	s := l.text[off : off+k]
	n := p.node(yaml.ScalarNode, "", 0, "", l.num, col(l, off))
	switch s[0] {
	case '"', '\'':
		v, _, ok := quoted(s)
		if !ok {
			return nil
		}
		n.Value = v
		n.Style = yaml.DoubleQuotedStyle
		if s[0] == '\'' {
			n.Style = yaml.SingleQuotedStyle
		}
	default:
		n.Value = s
	}
	n.Tag = tagOf(n)
	return n
}

// inline parses the value at byte off of l: a scalar or a flow collection
// that ends on this line, optionally followed by a comment.
func (p *fast) inline(l *fastLine, off int) *yaml.Node {
	s := l.text[off:]
	var n *yaml.Node
	var used int
	switch s[0] {
	case '[', '{':
		n, used = p.flow(l, off)
		if n == nil {
			return nil
		}
	case '"', '\'':
		v, end, ok := quoted(s)
		if !ok {
			return nil
		}
		n = p.node(yaml.ScalarNode, "", yaml.DoubleQuotedStyle, v, l.num, col(l, off))
		if s[0] == '\'' {
			n.Style = yaml.SingleQuotedStyle
		}
		n.Tag = tagOf(n)
		used = end
	default:
		if !plainStart(s) {
			return nil
		}
		end := len(s)
		for i := 1; i < len(s); i++ {
			if s[i] == '#' && s[i-1] == ' ' {
				end = i
				break
			}
			if s[i] == ':' && (i+1 == len(s) || s[i+1] == ' ') {
				return nil // a mapping where a scalar belongs
			}
		}
		v := strings.TrimRight(s[:end], " ")
		n = p.node(yaml.ScalarNode, "", 0, v, l.num, col(l, off))
		n.Tag = tagOf(n)
		return n
	}
	rest := strings.TrimLeft(s[used:], " ")
	if rest != "" && (rest[0] != '#' || used == len(s)-len(rest)) {
		return nil // text after the value, or a comment not after a space
	}
	return n
}

// flow parses a flow collection that ends on line l, returning the bytes
// it used.
func (p *fast) flow(l *fastLine, off int) (*yaml.Node, int) {
	s := l.text[off:]
	pos := 0
	var parse func(depth int) *yaml.Node
	skip := func() {
		for pos < len(s) && s[pos] == ' ' {
			pos++
		}
	}
	item := func(depth int) *yaml.Node {
		skip()
		if pos >= len(s) {
			return nil
		}
		switch s[pos] {
		case '[', '{':
			return parse(depth + 1)
		case '"', '\'':
			v, n, ok := quoted(s[pos:])
			if !ok {
				return nil
			}
			node := p.node(yaml.ScalarNode, "", yaml.DoubleQuotedStyle, v, l.num, col(l, off+pos))
			if s[pos] == '\'' {
				node.Style = yaml.SingleQuotedStyle
			}
			node.Tag = tagOf(node)
			pos += n
			return node
		}
		// The library ends a plain scalar in a flow collection at '?' too.
		start := pos
		for pos < len(s) && !strings.ContainsRune(",[]{}:#'\"?", rune(s[pos])) {
			pos++
		}
		v := strings.TrimRight(s[start:pos], " ")
		if v == "" || !plainStart(v) || strings.ContainsAny(v[:1], "-?") {
			return nil
		}
		node := p.node(yaml.ScalarNode, "", 0, v, l.num, col(l, off+start))
		node.Tag = tagOf(node)
		return node
	}
	parse = func(depth int) *yaml.Node {
		if depth > 16 {
			return nil
		}
		open := s[pos]
		n := p.node(yaml.SequenceNode, "!!seq", yaml.FlowStyle, "", l.num, col(l, off+pos))
		closer := byte(']')
		if open == '{' {
			n.Kind, n.Tag, closer = yaml.MappingNode, "!!map", '}'
		}
		pos++
		skip()
		if pos < len(s) && s[pos] == closer {
			pos++
			return n
		}
		for {
			k := item(depth)
			if k == nil {
				return nil
			}
			n.Content = append(n.Content, k)
			skip()
			if open == '{' {
				if k.Kind != yaml.ScalarNode || len(k.Value) > maxKey || pos+1 >= len(s) || s[pos] != ':' || s[pos+1] != ' ' {
					return nil
				}
				pos++
				v := item(depth)
				if v == nil {
					return nil
				}
				n.Content = append(n.Content, v)
				skip()
			}
			if pos >= len(s) {
				return nil
			}
			switch s[pos] {
			case ',':
				pos++
				skip()
				if pos < len(s) && (s[pos] == ']' || s[pos] == '}') {
					return nil // a trailing comma
				}
			case closer:
				pos++
				return n
			default:
				return nil
			}
		}
	}
	n := parse(0)
	if n == nil {
		return nil, 0
	}
	return n, pos
}

// tagOf resolves a scalar's tag as the YAML library does. A quoted scalar
// is a string; so is a plain one whose first character cannot start
// anything else (the library's own hint table: signs, digits, the first
// letters of booleans and null, "<" of the merge key, "." of floats), which
// spares the library's resolver for most values. FuzzFast checks the tags
// against the library's.
func tagOf(n *yaml.Node) string {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return "!!str"
	}
	if v := n.Value; v != "" && !strings.ContainsRune("+-0123456789yYnNtTfFoO~<.", rune(v[0])) {
		return "!!str"
	}
	return n.ShortTag()
}

// quoted decodes the single- or double-quoted scalar at the start of s,
// returning its value and length. Escapes other than the common ones make
// it give up.
func quoted(s string) (string, int, bool) {
	q := s[0]
	if i := strings.IndexByte(s[1:], q) + 1; i > 0 && !strings.Contains(s[1:i], "\\") && (q == '"' || i+1 >= len(s) || s[i+1] != '\'') {
		return s[1:i], i + 1, true // no escapes: the value is a slice of the line
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q && q == '\'':
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			return b.String(), i + 1, true
		case c == q:
			return b.String(), i + 1, true
		case c == '\\' && q == '"':
			if i+1 >= len(s) {
				return "", 0, false
			}
			i++
			switch s[i] {
			case '"', '\\': // not '/': YAML 1.2 has it, the library refuses it
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if i+4 >= len(s) {
					return "", 0, false
				}
				r, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
				if err != nil || (r >= 0xD800 && r < 0xE000) {
					return "", 0, false
				}
				b.WriteRune(rune(r))
				i += 4
			default:
				return "", 0, false
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false // not closed on this line
}
