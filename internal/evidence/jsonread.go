package evidence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonReader reads the two JSON documents Verify parses for every record,
// the DSSE envelope and the in-toto Statement in it. It exists for speed:
// encoding/json and protojson take 15 and 30 µs a document, a large share of
// the budget for verifying a long chain. It is strict: it accepts only valid
// JSON (RFC 8259) without duplicate object keys, so the documents it accepts
// decode to the same values with encoding/json and protojson, and tests
// check that it agrees with them.
type jsonReader struct {
	b []byte
	i int
}

var errJSONEnd = errors.New("unexpected end of JSON")

func (r *jsonReader) errorf(format string, args ...any) error {
	if r.i >= len(r.b) {
		return errJSONEnd
	}
	return fmt.Errorf("invalid JSON at byte %d: %s", r.i, fmt.Sprintf(format, args...))
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *jsonReader) consume(c byte) bool {
	if r.peek() == c {
		r.i++
		return true
	}
	return false
}

func (r *jsonReader) expect(c byte) error {
	if !r.consume(c) {
		return r.errorf("want %q", c)
	}
	return nil
}

// end checks that only white space follows the document.
func (r *jsonReader) end() error {
	r.ws()
	if r.i != len(r.b) {
		return fmt.Errorf("invalid JSON at byte %d: data after the document", r.i)
	}
	return nil
}

// fields reads an object whose keys are all among names, each at most
// once, calling member with the index of each key's name and the reader at
// its value; member must read the value. It returns the set of names read,
// as bits. Duplicate keys are refused: JSON decoders disagree about which
// one wins.
func (r *jsonReader) fields(what string, names []string, member func(i int) error) (uint64, error) {
	var seen uint64
	err := r.object(func(key []byte) error {
		i := slices.Index(names, string(key))
		switch {
		case i < 0:
			return fmt.Errorf("unknown %s field %q", what, key)
		case seen&(1<<i) != 0:
			return fmt.Errorf("invalid JSON: duplicate key %q", key)
		}
		seen |= 1 << i
		return member(i)
	})
	return seen, err
}

// object reads an object, calling member with each key (which may alias the
// document) and the reader at its value; member must read the value and
// refuse duplicate keys.
func (r *jsonReader) object(member func(key []byte) error) error {
	if err := r.expect('{'); err != nil {
		return err
	}
	if r.consume('}') {
		return nil
	}
	for {
		key, err := r.rawStr()
		if err != nil {
			return err
		}
		if err := r.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		if r.consume(',') {
			continue
		}
		return r.expect('}')
	}
}

// array reads an array, calling elem with the reader at each element.
func (r *jsonReader) array(elem func() error) error {
	if err := r.expect('['); err != nil {
		return err
	}
	if r.consume(']') {
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if r.consume(',') {
			continue
		}
		return r.expect(']')
	}
}

// str reads a string.
func (r *jsonReader) str() (string, error) {
	b, err := r.rawStr()
	return string(b), err
}

// rawStr reads a string and returns its bytes. Without escapes, they alias
// the document.
func (r *jsonReader) rawStr() ([]byte, error) {
	if err := r.expect('"'); err != nil {
		return nil, err
	}
	start := r.i
	n := bytes.IndexByte(r.b[start:], '"')
	if n < 0 {
		return nil, errJSONEnd
	}
	s := r.b[start : start+n]
	if bytes.IndexByte(s, '\\') >= 0 {
		return r.escaped(start)
	}
	if !printableASCII(s) {
		for i, c := range s {
			if c < 0x20 {
				r.i = start + i
				return nil, r.errorf("control character in string")
			}
		}
		if !utf8.Valid(s) {
			return nil, fmt.Errorf("invalid JSON at byte %d: string is not UTF-8", start)
		}
	}
	r.i = start + n + 1
	return s, nil
}

// printableASCII reports whether every byte of s is from 0x20 to 0x7f, eight
// bytes at a time: subtracting 0x20 from each byte sets the top bit of any
// byte below 0x20 (borrows only ever make a later byte look bad too, which
// errs on the safe side), and bytes from 0x80 have it set already.
func printableASCII(s []byte) bool {
	const low, high = 0x2020202020202020, 0x8080808080808080
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		if (x|(x-low))&high != 0 {
			return false
		}
		s = s[8:]
	}
	for _, c := range s {
		if c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// escaped reads a string that has escapes, from its start.
func (r *jsonReader) escaped(start int) ([]byte, error) {
	r.i = start
	var out []byte
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if !utf8.Valid(out) {
				return nil, fmt.Errorf("invalid JSON at byte %d: string is not UTF-8", start)
			}
			return out, nil
		case c < 0x20:
			return nil, r.errorf("control character in string")
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		r.i++
		if r.i >= len(r.b) {
			return nil, errJSONEnd
		}
		e := r.b[r.i]
		r.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				return nil, r.errorf(`invalid \u escape`)
			}
			ch := rune(c1)
			if utf16.IsSurrogate(ch) {
				// A lone surrogate becomes U+FFFD, as in
				// encoding/json.
				ch = utf8.RuneError
				if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					if c2, ok := r.hex4(); ok {
						if d := utf16.DecodeRune(rune(c1), rune(c2)); d != utf8.RuneError {
							ch = d
						} else {
							r.i = save
						}
					} else {
						return nil, r.errorf(`invalid \u escape`)
					}
				}
			}
			out = utf8.AppendRune(out, ch)
		default:
			return nil, r.errorf("invalid escape %q", e)
		}
	}
	return nil, errJSONEnd
}

func (r *jsonReader) hex4() (uint16, bool) {
	if r.i+4 > len(r.b) {
		return 0, false
	}
	var v uint16
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	r.i += 4
	return v, true
}

// number reads a number and returns its text.
func (r *jsonReader) number() (string, error) {
	r.ws()
	start := r.i
	digits := func() bool {
		n := r.i
		for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
			r.i++
		}
		return r.i > n
	}
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case !digits():
		return "", r.errorf("want a number")
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if !digits() {
			return "", r.errorf("want digits after the decimal point")
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if !digits() {
			return "", r.errorf("want digits in the exponent")
		}
	}
	return string(r.b[start:r.i]), nil
}

// integer reads a whole number from 0 to limit, written in plain digits as
// protojson writes the integral float64s of a Struct below 1e21.
func (r *jsonReader) integer(limit uint64) (uint64, error) {
	s, err := r.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > limit {
		return 0, fmt.Errorf("number %s: want a whole number from 0 to %d in plain digits", s, limit)
	}
	return n, nil
}

// strings reads an array of strings.
func (r *jsonReader) strings() ([]string, error) {
	list := []string{}
	err := r.array(func() error {
		s, err := r.str()
		list = append(list, s)
		return err
	})
	return list, err
}
