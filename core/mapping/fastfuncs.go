package mapping

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/expr-lang/expr/ast"

	"github.com/switchboard-cdp/switchboard/internal/jsonenc"
)

// fastFuncs are forms of functions of one argument for the fast path that
// give exactly what the registered ones give, but box new strings and
// numbers in the evaluation's boxes (box.go) rather than one allocation
// each. For arguments they do not expect they call the registered
// function. ok is false where the function fails.
var fastFuncs = map[string]func(b *boxes, a any) (any, bool){
	"sha256":    fastSHA256,
	"lower":     fastCase(false),
	"upper":     fastCase(true),
	"trim":      ofString("trim", strFuncs["trim"]),
	"digits":    ofString("digits", strFuncs["digits"]),
	"unix":      fastUnix("unix", time.Time.Unix),
	"unixMilli": fastUnix("unixMilli", time.Time.UnixMilli),
}

// strFuncs are the functions of fastFuncs that give a string for every
// string, as functions of strings: a chain of them, such as
// sha256(lower(trim(s))), runs on the string itself and boxes only what
// the chain gives (fastCompiler.chain). The result is the argument itself
// when the function leaves it as it is. ok is false where the function
// fails.
var strFuncs = map[string]func(b *boxes, s string) (string, bool){
	"lower":  strCase(false),
	"upper":  strCase(true),
	"trim":   strTrim,
	"digits": strDigits,
}

// ofString makes the fastFuncs form of a function of strFuncs.
func ofString(name string, fn func(b *boxes, s string) (string, bool)) func(b *boxes, a any) (any, bool) {
	return func(b *boxes, a any) (any, bool) {
		s, ok := a.(string)
		if !ok {
			return call1(name, a)
		}
		out, ok := fn(b, s)
		if !ok {
			return nil, false
		}
		return b.restring(a, s, out), true
	}
}

// call1 is the registered function name of one argument.
func call1(name string, a any) (any, bool) {
	v, err := byName[name].one(a)
	return v, err == nil
}

// callString is call1 for a function that gives a string for a string.
func callString(name, s string) (string, bool) {
	v, ok := call1(name, s)
	out, isString := v.(string)
	return out, ok && isString
}

func fastSHA256(b *boxes, a any) (any, bool) {
	s, ok := a.(string)
	if !ok {
		return call1("sha256", a)
	}
	return sha256Of(b, s), true
}

// sha256Of is sha256 of a string.
func sha256Of(b *boxes, s string) any {
	if s == "" {
		return nil
	}
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s))) // only read
	out := b.newBytes(2 * sha256.Size)
	putHex((*[2 * sha256.Size]byte)(out), &sum)
	return b.stringOf(out)
}

// digestOutput is the value of sha256(…) of a string when it is a whole
// field of map: and Apply only writes it: the digest, which appendJSON
// writes in hex straight into the output, as the string sha256 gives.
// A pointer, it is an interface value without boxing.
type digestOutput *[sha256.Size]byte

// digestOf is sha256Of giving a digestOutput, kept in b.
func digestOf(b *boxes, s string) any {
	if s == "" {
		return nil
	}
	sum := (*[sha256.Size]byte)(b.newBytes(sha256.Size))
	// Apply's boxes are reused from event to event, and so is their
	// hash, which Sum256 would make afresh for each digest.
	if b.sha == nil {
		b.sha = sha256.New()
	}
	b.sha.Reset()
	b.sha.Write(unsafe.Slice(unsafe.StringData(s), len(s))) // only read
	b.sha.Sum(sum[:0])
	return digestOutput(sum)
}

// appendDigest appends the JSON string of a digest in lowercase hex.
func appendDigest(b []byte, sum *[sha256.Size]byte) []byte {
	n := len(b)
	b = slices.Grow(b, 2*sha256.Size+2)[:n+2*sha256.Size+2]
	b[n] = '"'
	putHex((*[2 * sha256.Size]byte)(b[n+1:]), sum)
	b[len(b)-1] = '"'
	return b
}

// putHex writes a digest in lowercase hex, the two digits of each byte
// from hexPairs, four bytes a round: loads and stores, about half the
// instructions of spreading the nibbles of a word and making them digits
// together.
func putHex(hex *[2 * sha256.Size]byte, sum *[sha256.Size]byte) {
	for i := 0; i < sha256.Size; i += 4 {
		binary.LittleEndian.PutUint16(hex[2*i:], hexPairs[sum[i]])
		binary.LittleEndian.PutUint16(hex[2*i+2:], hexPairs[sum[i+1]])
		binary.LittleEndian.PutUint16(hex[2*i+4:], hexPairs[sum[i+2]])
		binary.LittleEndian.PutUint16(hex[2*i+6:], hexPairs[sum[i+3]])
	}
}

// hexPairs holds the two lowercase hex digits of each byte, the first in
// the low byte (so a little-endian store writes it first).
var hexPairs = func() (t [256]uint16) {
	const digits = "0123456789abcdef"
	for c := range t {
		t[c] = uint16(digits[c>>4]) | uint16(digits[c&0xf])<<8
	}
	return t
}()

// fastCase is lower (upper: upper) in fastFuncs.
func fastCase(upper bool) func(b *boxes, a any) (any, bool) {
	name := "lower"
	if upper {
		name = "upper"
	}
	return ofString(name, strCase(upper))
}

// strCase is lower (upper: upper), strings.ToLower and ToUpper computed
// here for ASCII.
func strCase(upper bool) func(b *boxes, s string) (string, bool) {
	name, from, to := "lower", byte('A'), byte('Z')
	if upper {
		name, from, to = "upper", 'a', 'z'
	}
	return func(b *boxes, s string) (string, bool) {
		first := -1
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= utf8.RuneSelf {
				return callString(name, s)
			}
			if first < 0 && from <= c && c <= to {
				first = i
			}
		}
		if first < 0 {
			return s, true // unchanged: same() gives the argument back
		}
		out := b.newBytes(len(s))
		copy(out, s)
		for i := first; i < len(out); i++ {
			if c := out[i]; from <= c && c <= to {
				out[i] = c ^ 0x20
			}
		}
		return unsafe.String(&out[0], len(out)), true
	}
}

func strTrim(_ *boxes, s string) (string, bool) {
	return strings.TrimSpace(s), true
}

func strDigits(b *boxes, s string) (string, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	if n == len(s) {
		return s, true
	}
	if n == 0 {
		return "", true
	}
	out := b.newBytes(n)[:0]
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i])
		}
	}
	return unsafe.String(&out[0], n), true
}

func fastUnix(name string, conv func(time.Time) int64) func(b *boxes, a any) (any, bool) {
	return func(b *boxes, a any) (any, bool) {
		t, ok := a.(time.Time)
		if !ok {
			return call1(name, a)
		}
		return b.int(int(conv(t))), true
	}
}

// contentsOutput is the value of contents(…) when it is a whole field of
// map: and Apply only writes it: the products as Meta's contents without
// a map for each (appendJSON writes it as it writes contents' result).
// Each product takes three elements: its id, quantity and price (nil when
// it has none). It has the layout of []any, so boxes.slice boxes it.
type contentsOutput []any

// outputContents returns, for a leaf that is a call of contents, a fastFn
// that gives a contentsOutput on the fast path of Apply (Map, which
// returns the value, still gets contents' maps), and fn for other leaves.
func (c *fastCompiler) outputContents(n ast.Node, fn fastFn) fastFn {
	call, ok := n.(*ast.CallNode)
	if m := c.calls[call]; !ok || m.kind != madeDirect || m.name != "contents" || len(call.Arguments) != 1 {
		return fn
	}
	arg, ok := c.compile(call.Arguments[0])
	if !ok {
		return fn
	}
	return func(f *frame) (any, bool) {
		if f.env != nil {
			return fn(f)
		}
		v, ok := arg(f)
		if !ok {
			return nil, false
		}
		return contentsOf(f.boxes, v)
	}
}

// contentsOf is contentsFn making a contentsOutput, boxed in b.
func contentsOf(b *boxes, a any) (any, bool) {
	list, ok, err := items("contents", a)
	if !ok {
		return nil, err == nil
	}
	var out []any
	for _, it := range list {
		id, quantity, price, ok := contentsItem(it)
		if !ok {
			continue
		}
		if out == nil {
			out = b.newItems(3 * len(list))[:0]
		}
		out = append(out, id, quantity, price)
	}
	if out == nil {
		return nil, true
	}
	return b.slice(contentsWord, out), true
}

// appendContents writes c, found depth levels down, through e as
// appendJSON writes contents' result: an array of objects with their keys
// sorted.
func appendContents(e *jsonenc.Values, b []byte, c contentsOutput, depth int) ([]byte, error) {
	b = append(b, '[')
	for i := 0; i+2 < len(c); i += 3 {
		if i > 0 {
			b = append(b, ',')
		}
		id, quantity, price := c[i], c[i+1], c[i+2]
		var err error
		b = append(b, `{"id":`...)
		if b, err = e.Append(b, id, depth+2); err != nil {
			return b, err
		}
		if price != nil {
			b = append(b, `,"item_price":`...)
			if b, err = e.Append(b, price, depth+2); err != nil {
				return b, err
			}
		}
		b = append(b, `,"quantity":`...)
		if b, err = e.Append(b, quantity, depth+2); err != nil {
			return b, err
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// fastPluck is pluckFn boxing its result in b.
func fastPluck(b *boxes, a, field any) (any, bool) {
	list, isList := a.([]any)
	name, isString := field.(string)
	if !isList || !isString {
		v, err := pluckFn(a, field)
		return v, err == nil && handled(v)
	}
	var out []any
	for _, it := range list {
		if m, ok := it.(map[string]any); ok {
			if v := m[name]; v != nil {
				if out == nil {
					out = b.newItems(len(list))[:0]
				}
				out = append(out, v)
			}
		}
	}
	if out == nil {
		return nil, true
	}
	return b.list(out), true
}
