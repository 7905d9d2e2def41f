package segment

import (
	"strconv"

	"github.com/switchboard-cdp/switchboard/internal/jsonenc"
)

// The hot path never builds a tree of the client's JSON. A scanner walks
// the body once, validating it exactly as encoding/json would (RFC 8259
// grammar; the body is made valid UTF-8 beforehand), and hands out spans:
// the top-level keys of each event are decoded, every other value is kept
// as the bytes the client sent and copied into the stored event unchanged.
// Numbers therefore keep every digit without any decoding at all.

// maxDepth bounds nesting. It is far below encoding/json's 10,000 so that a
// stored event (one level deeper than the values in it) always decodes.
const maxDepth = 1000

// span is a [start, end) range of the body; the zero span is "absent".
type span struct{ start, end int }

func (s span) ok() bool { return s.end > s.start }

// syntaxError is a JSON grammar violation at a byte offset of the body.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return "invalid JSON at offset " + strconv.Itoa(e.off) + ": " + e.msg
}

// scanner reads JSON from b at i.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) fail(msg string) *syntaxError { return &syntaxError{off: s.i, msg: msg} }

func (s *scanner) unexpected(context string) *syntaxError {
	if s.i >= len(s.b) {
		return s.fail("unexpected end of input")
	}
	return s.fail("invalid character " + quoteChar(s.b[s.i]) + " " + context)
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	if c < 0x20 || c >= 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "'" + string(rune(c)) + "'"
}

// ws skips insignificant whitespace.
func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it (0 at EOF).
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// value validates and skips one value starting at the next non-space byte,
// returning its span.
func (s *scanner) value(depth int) (span, error) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		return span{}, s.fail("unexpected end of input")
	}
	var err error
	switch c := s.b[s.i]; {
	case c == '{':
		err = s.skipObject(depth + 1)
	case c == '[':
		err = s.skipArray(depth + 1)
	case c == '"':
		_, err = s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		err = s.number()
	case c == 't':
		err = s.literal("true")
	case c == 'f':
		err = s.literal("false")
	case c == 'n':
		err = s.literal("null")
	default:
		err = s.unexpected("looking for beginning of value")
	}
	if err != nil {
		return span{}, err
	}
	return span{start, s.i}, nil
}

func (s *scanner) literal(lit string) error {
	for j := 0; j < len(lit); j++ {
		if s.i >= len(s.b) {
			return s.fail("unexpected end of input")
		}
		if s.b[s.i] != lit[j] {
			return s.unexpected("in literal " + lit)
		}
		s.i++
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number validates the number at s.i.
func (s *scanner) number() error {
	end, syn := jsonenc.NumberEnd(jsonenc.Bytes(s.b), s.i)
	s.i = end
	return s.syntax(syn)
}

// str validates the string at s.i (which must be '"') and reports whether
// it holds escapes. The body is valid UTF-8 (see above), so other bytes
// are taken as they are.
func (s *scanner) str() (escaped bool, err error) {
	end, form, syn := jsonenc.StringEnd(jsonenc.Bytes(s.b), s.i)
	s.i = end
	return form&jsonenc.Escaped != 0, s.syntax(syn)
}

// syntax is the error for what a jsonenc scan found wrong at s.i, nil for
// jsonenc.OK.
func (s *scanner) syntax(syn jsonenc.Syntax) error {
	switch {
	case syn == jsonenc.OK:
		return nil
	case s.i >= len(s.b):
		return s.fail("unexpected end of input " + syn.String())
	default:
		return s.unexpected(syn.String())
	}
}

// beginObject consumes '{' (already peeked) and reports whether the object
// is empty (its '}' consumed too).
func (s *scanner) beginObject() bool {
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	return false
}

// key reads a member's key and the ':' after it. keySpan covers the quoted
// key token.
func (s *scanner) key() (keySpan span, escaped bool, err error) {
	if s.peek() != '"' {
		return span{}, false, s.unexpected("looking for beginning of object key string")
	}
	start := s.i
	if escaped, err = s.str(); err != nil {
		return span{}, false, err
	}
	keySpan = span{start, s.i}
	if s.peek() != ':' {
		return span{}, false, s.unexpected("after object key")
	}
	s.i++
	return keySpan, escaped, nil
}

// nextMember consumes the ',' or '}' after a member value and reports
// whether another member follows.
func (s *scanner) nextMember() (bool, error) {
	switch s.peek() {
	case ',':
		s.i++
		return true, nil
	case '}':
		s.i++
		return false, nil
	}
	return false, s.unexpected("after object key:value pair")
}

// nextElement is nextMember for arrays.
func (s *scanner) nextElement() (bool, error) {
	switch s.peek() {
	case ',':
		s.i++
		return true, nil
	case ']':
		s.i++
		return false, nil
	}
	return false, s.unexpected("after array element")
}

func (s *scanner) skipObject(depth int) error {
	if depth > maxDepth {
		return s.fail("exceeded max depth")
	}
	if s.beginObject() {
		return nil
	}
	for {
		if _, _, err := s.key(); err != nil {
			return err
		}
		if _, err := s.value(depth); err != nil {
			return err
		}
		more, err := s.nextMember()
		if err != nil || !more {
			return err
		}
	}
}

func (s *scanner) skipArray(depth int) error {
	if depth > maxDepth {
		return s.fail("exceeded max depth")
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if _, err := s.value(depth); err != nil {
			return err
		}
		more, err := s.nextElement()
		if err != nil || !more {
			return err
		}
	}
}

// end checks that only whitespace follows the top-level value.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.unexpected("after top-level value")
	}
	return nil
}
