package jsonenc

import (
	"unicode/utf8"
	"unsafe"
)

// The decoders of the hot paths (the Segment source, the mapping engine,
// the Meta destination, the Graph API emulator) each walk JSON their own
// way, but the grammar of a number and of a string is RFC 8259's for all of
// them: NumberEnd and StringEnd are that grammar, once.

// Syntax says what a scan found wrong, in the words encoding/json uses for
// it; the zero value, OK, is nothing.
type Syntax uint8

const (
	OK                Syntax = iota
	InNumber                 // a number's first digit is missing
	AfterDecimalPoint        // a '.' without a digit after it
	InExponent               // an 'e' or 'E' without a digit after it (and its sign)
	InString                 // a control character in a string, or its end missing
	InEscape                 // a backslash before anything but "\/bfnrtu
	InHexEscape              // \u without four hexadecimal digits
)

// String is the context encoding/json's syntax errors give, as in "invalid
// character 'x' in numeric literal".
func (s Syntax) String() string {
	switch s {
	case OK:
		return ""
	case InNumber:
		return "in numeric literal"
	case AfterDecimalPoint:
		return "after decimal point in numeric literal"
	case InExponent:
		return "in exponent of numeric literal"
	case InString:
		return "in string literal"
	case InEscape:
		return "in string escape code"
	default:
		return `in \u hexadecimal character escape`
	}
}

// Bytes is s as a string without a copy, for reading only while s is not
// modified: how decoders of []byte call NumberEnd and StringEnd.
func Bytes(s []byte) string { return unsafe.String(unsafe.SliceData(s), len(s)) }

// NumberEnd scans the number -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// at s[i:] (s[i] is its first byte) and returns the index after it and OK,
// or the index of the byte that breaks the grammar (len(s) at the end of
// input) and what was expected there.
func NumberEnd(s string, i int) (int, Syntax) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i >= len(s):
		return i, InNumber
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		i = digitsEnd(s, i+1)
	default:
		return i, InNumber
	}
	if i < len(s) && s[i] == '.' {
		if i++; i >= len(s) || !isDigit(s[i]) {
			return i, AfterDecimalPoint
		}
		i = digitsEnd(s, i+1)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		if i++; i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return i, InExponent
		}
		i = digitsEnd(s, i+1)
	}
	return i, OK
}

// ValidNumber reports whether s is exactly one JSON number.
func ValidNumber(s string) bool {
	end, syn := NumberEnd(s, 0)
	return syn == OK && end == len(s)
}

func digitsEnd(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f')
}

// StringForm says how a string's text differs from its value.
type StringForm uint8

const (
	// Escaped: the string holds backslash escapes, so its value must be
	// decoded.
	Escaped StringForm = 1 << iota
	// NonASCII: the string holds bytes of 0x80 and above, which a decoder
	// that replaces invalid UTF-8 (as encoding/json does) must look at.
	NonASCII
)

// StringEnd scans the string at s[i:] (s[i] is its opening quote) and
// returns the index after its closing quote, its form and OK, or the index
// of the byte that breaks the grammar (len(s) at the end of input) and
// what was expected there. Plain runs are skipped eight bytes at a time.
func StringEnd(s string, i int) (int, StringForm, Syntax) {
	var form StringForm
	i++ // the opening quote
	for {
		i, _ = WordEnd(s, i)
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i >= len(s) {
			return i, form, InString
		}
		switch c := s[i]; {
		case c == '"':
			return i + 1, form, OK
		case c == '\\':
			form |= Escaped
			if i++; i >= len(s) {
				return i, form, InEscape
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for range 4 {
					if i >= len(s) || !isHex(s[i]) {
						return i, form, InHexEscape
					}
					i++
				}
			default:
				return i, form, InEscape
			}
		case c >= utf8.RuneSelf:
			form |= NonASCII
			i++
		default: // a control character
			return i, form, InString
		}
	}
}

// SpaceEnd returns the index of the first byte of s at or after i that is
// not JSON whitespace (space, tab, newline, carriage return), or len(s).
// The usual case, compact JSON, inlines.
func SpaceEnd(s string, i int) int {
	if i < len(s) && s[i] > ' ' {
		return i
	}
	return spaceEnd(s, i)
}

func spaceEnd(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Next reads what follows an object member (closer '}') or an array
// element (closer ']') at s[i:], after any whitespace: the index after a
// comma and more, or after closer and not more; else ok is false and the
// index is that of the unexpected byte (len(s) at the end of input).
func Next(s string, i int, closer byte) (end int, more, ok bool) {
	// Small enough to inline into the decoders' member loops.
	if i = SpaceEnd(s, i); i < len(s) && (s[i] == ',' || s[i] == closer) {
		return i + 1, s[i] == ',', true
	}
	return i, false, false
}
