package jsonenc

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

const hexDigits = "0123456789abcdef"

// plain and plainHTML mark the bytes a JSON string holds as they are:
// printable ASCII but '"' and '\\' (and, with HTML escaping, '<', '>', '&').
var plain, plainHTML = func() (t, h [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
		h[c] = t[c] && c != '<' && c != '>' && c != '&'
	}
	return t, h
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// load8 reads the eight bytes of s at i (i+8 <= len(s)) as a little-endian
// word.
func load8(s string, i int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), i))[:])
}

// has flags the bytes of x equal to c ("has a zero byte" on x^c).
func has(x uint64, c byte) uint64 {
	v := x ^ (lsb * uint64(c))
	return (v - lsb) &^ v
}

// special8 flags the bytes of x (little-endian) that are not plain: control
// characters ("has a byte less than 0x20"), '"', '\\', non-ASCII bytes and,
// with html, '<', '>', '&'. Borrows only carry upwards, so the lowest flag
// is always exact, which is all SkipPlain uses.
func special8(x uint64, html bool) uint64 {
	m := (x-lsb*0x20)&^x | has(x, '"') | has(x, '\\') | x
	if html {
		m |= has(x, '<') | has(x, '>') | has(x, '&')
	}
	return m & msb
}

// SkipPlain returns the index of the first byte of s at or after i that a
// JSON string must escape or decode (a control character, '"', '\\' or a
// non-ASCII byte), or len(s), testing eight bytes at a time. Decoders and
// encoders run it on every string, so the word loop is WordEnd, which
// inlines, rather than a call per word.
func SkipPlain(s string, i int) int {
	from := i
	i, found := WordEnd(s, i)
	if found || i == len(s) {
		return i
	}
	if j := len(s) - 8; j >= from {
		// The last eight bytes, overlapping those WordEnd found plain:
		// one word test instead of a byte loop over the last few.
		return lastWord(j, specials(load8(s, j)))
	}
	for i < len(s) && plain[s[i]] {
		i++
	}
	return i
}

// lastWord is where a scan stops in the last word of a string, at j, whose
// bytes before the scan's position are plain and whose specials are m: the
// lowest flag is exact (flags only go wrong above a special byte), so it
// is the first special byte, or there is none.
func lastWord(j int, m uint64) int {
	if m == 0 {
		return j + 8
	}
	return j + bits.TrailingZeros64(m)>>3
}

// WordEnd is SkipPlain over the whole eight-byte words of s from i: it
// returns where SkipPlain stops and true if that is within them, or the
// index after them and false. A decoder that inlines it rarely needs
// SkipPlain's byte loop: a string inside a document is followed by more of
// the document.
func WordEnd(s string, i int) (int, bool) {
	for ; i+8 <= len(s); i += 8 {
		if m := specials(load8(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3, true
		}
	}
	return i, false
}

// specials is special8 without HTML escaping, small enough to inline. Its
// callers only use the lowest flag, so it is cheaper still: a byte below
// 0x20 borrows and sets its top bit in x-0x20*lsb; a '"' (a '\\') is a zero
// byte of q (bs) and sets it in q-lsb (bs-lsb); one that is 0x80 or more has
// it set in x. Below the lowest special byte nothing borrows, and the
// differences set top bits only where x has them (special8's &^q and &^bs
// clear those), so the lowest flag is the first special byte.
func specials(x uint64) uint64 {
	q, bs := x^('"'*lsb), x^('\\'*lsb)
	return ((x - 0x20*lsb) | x | (q - lsb) | (bs - lsb)) & msb
}

func skipPlain(s string, i int, html bool) int {
	from := i
	for i+8 <= len(s) {
		if m := special8(load8(s, i), html); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	if j := len(s) - 8; i < len(s) && j >= from {
		return lastWord(j, special8(load8(s, j), html))
	}
	t := &plain
	if html {
		t = &plainHTML
	}
	for i < len(s) && t[s[i]] {
		i++
	}
	return i
}

// AppendString appends s as a JSON string exactly as encoding/json writes
// it: invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped, and with html
// '<', '>' and '&' escaped too (json.Marshal's default; an Encoder with
// SetEscapeHTML(false) writes them as they are).
func AppendString(b []byte, s string, html bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = skipPlain(s, i, html); i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendFloat formats f as encoding/json does (ES6 number formatting); ok
// is false for infinities and NaN, which JSON cannot hold.
func AppendFloat(b []byte, f float64) (_ []byte, ok bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}
