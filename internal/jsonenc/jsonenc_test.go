package jsonenc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

func TestSpecial8HTML(t *testing.T) {
	isPlain := func(c byte) bool {
		return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	for pos := range 8 {
		for c := range 256 {
			for _, fill := range []byte{'a', ' ', 0x7f, '~', '%'} {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				want := !isPlain(byte(c)) || !isPlain(fill)
				if got := special8(binary.LittleEndian.Uint64(w[:]), true) != 0; got != want {
					t.Fatalf("pos %d byte %#x fill %#x: %v", pos, c, fill, got)
				}
			}
		}
	}
}

// AppendString and AppendFloat write what encoding/json writes, with and
// without HTML escaping.
func TestMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "Z", " ", "\"", "\\", "<", ">", "&", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "€", "\u2028", "\u2029", "\xff", "\xe2\x82", "😀"}
	for range 20000 {
		var s string
		for range r.IntN(30) {
			s += alphabet[r.IntN(len(alphabet))]
		}
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s, true); !bytes.Equal(got, want) {
			t.Fatalf("html: %q: got %s, want %s", s, got, want)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s)
		if got := AppendString(nil, s, false); !bytes.Equal(got, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))) {
			t.Fatalf("no html: %q: got %s, want %s", s, got, buf.Bytes())
		}
	}
	for _, f := range []float64{0, 1, -1.5, 1e-7, 1e21, 123456789.125, 1e-6, 5e-324, math.MaxFloat64, 0.1 + 0.2} {
		want, _ := json.Marshal(f)
		if got, ok := AppendFloat(nil, f); !ok || !bytes.Equal(got, want) {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
	for _, f := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
		if _, ok := AppendFloat(nil, f); ok {
			t.Errorf("%v accepted", f)
		}
	}
}

// FuzzSkipPlain checks the word-at-a-time scan against a byte loop over the
// plain table, and against special8's formula.
func FuzzSkipPlain(f *testing.F) {
	for _, s := range []string{"", "plain", "0123456789abcdef0123", "quote\" here", "back\\slash", "ctl\x1f", "\x00",
		"é", "abcdefgh\x7f\x80", "        \x1f       \"", "\xff\xfe", " !#$%&'()*+,-./0123456789:;<=>?@[]^_`{|}~"} {
		f.Add(s, 0)
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, i int) {
		if i < 0 || i > len(s) {
			return
		}
		want := i
		for want < len(s) && plain[s[want]] {
			want++
		}
		if got := SkipPlain(s, i); got != want {
			t.Fatalf("SkipPlain(%q, %d) = %d, want %d", s, i, got, want)
		}
		if got := skipPlain(s, i, false); got != want {
			t.Fatalf("skipPlain(%q, %d, false) = %d, want %d", s, i, got, want)
		}
	})
}

// TestSkipPlain checks SkipPlain, and the scan with and without HTML
// escaping (which finishes with an overlapping last word), against a byte
// loop over random strings.
func TestSkipPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(0x20 + r.IntN(0x60))
			if r.IntN(12) == 0 {
				b[i] = byte(r.IntN(256))
			}
		}
		s, from := string(b), r.IntN(len(b)+1)
		for _, html := range []bool{false, true} {
			table := &plain
			if html {
				table = &plainHTML
			}
			want := from
			for want < len(s) && table[s[want]] {
				want++
			}
			if got := skipPlain(s, from, html); got != want {
				t.Fatalf("skipPlain(%q, %d, %v) = %d, want %d", s, from, html, got, want)
			}
			if got := SkipPlain(s, from); !html && got != want {
				t.Fatalf("SkipPlain(%q, %d) = %d, want %d", s, from, got, want)
			}
		}
	}
}
