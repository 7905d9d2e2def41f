package graphemu

import (
	"bytes"
	"encoding/json"
	mrand "math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/switchboard-cdp/switchboard/internal/jsonenc"
)

// The request parser (jsondoc.go) must accept exactly the documents
// encoding/json accepts and read every string as it does: the emulator's
// answers depend on it. These tests compare it, and the byte-level
// validators of validate.go, with the standard library.

// FuzzParse: the parser accepts exactly what encoding/json accepts and
// reads strings as it does.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{}`, `[1,"a",null,true,false,{"a":[]}]`, `"\u00e9\ud800"`, "\"\xff\"", `1e5`, `-0.5E-3`, `01`, `[1,]`, `{"a":1,}`, `"\x01"`,
		` {"a" : [ 1 , 2 ] } `, `{"a":1}x`, `"\u12"`, `"\x"`, `-`, `1.`, `1e`, `1e+`, `tru`, `nul`, `"abcdefghijklmnop\"qrstuvwxyz0123456789"`,
		strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth), strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := new(doc)
		v, ok := d.parse(b)
		if ok != json.Valid(b) {
			t.Fatalf("parse %q: ok %v, json.Valid %v", b, ok, !ok)
		}
		if !ok {
			return
		}
		var walk func(v jval)
		walk = func(v jval) {
			raw := d.raw(v)
			switch v.kind {
			case jString:
				var want string
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatalf("string %q: %v", raw, err)
				}
				if s := d.text(v); s != want {
					t.Fatalf("string %q: %q, want %q", raw, s, want)
				}
			case jNumber:
				var n json.Number
				if err := json.Unmarshal(raw, &n); err != nil || !jsonenc.ValidNumber(string(raw)) {
					t.Fatalf("number %q: %v", raw, err)
				}
			case jNull, jTrue, jFalse:
				if want := map[jkind]string{jNull: "null", jTrue: "true", jFalse: "false"}[v.kind]; string(raw) != want {
					t.Fatalf("literal %q, want %s", raw, want)
				}
			case jObject, jArray:
				if raw[0] != map[jkind]byte{jObject: '{', jArray: '['}[v.kind] {
					t.Fatalf("container %q of kind %d", raw, v.kind)
				}
				for _, k := range d.children(v) {
					walk(k)
				}
			default:
				t.Fatalf("kind %d", v.kind)
			}
		}
		walk(v)
	})
}

func FuzzIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "01.2.3.4", "1.2.3", "1.2.3.4.5", "255.255.255.255", "256.1.1.1", "1..2.3", ".1.2.3", "1.2.3.", "0.0.0.0", "123", "::1", "1.2.3.4 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := netip.ParseAddr(s)
		want := err == nil && strings.TrimSpace(s) == s
		if got := validIP([]byte(s)); got != want {
			t.Fatalf("validIP(%q) = %v, want %v", s, got, want)
		}
	})
}

func FuzzClickCookie(f *testing.F) {
	for _, s := range []string{"fb.1.2.x", "fb.1.2.x.y", "fb.1.2.x.", "fb.1.2.x.y.z", "fb.1.2", "fb..2.x", "", "...."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seg := strings.Split(s, ".")
		dig := func(s string) bool {
			if s == "" {
				return false
			}
			for _, r := range s {
				if r < '0' || r > '9' {
					return false
				}
			}
			return true
		}
		want := (len(seg) == 4 || len(seg) == 5) && seg[0] == "fb" && dig(seg[1]) && dig(seg[2]) && seg[3] != "" && (len(seg) == 4 || seg[4] != "")
		if got := validClickCookie([]byte(s)); got != want {
			t.Fatalf("validClickCookie(%q) = %v, want %v", s, got, want)
		}
	})
}

// TestWords checks the eight-bytes-at-a-time hex test against a byte-by-byte one.
func TestWords(t *testing.T) {
	r := mrand.New(mrand.NewPCG(5, 6))
	check := func(b []byte) {
		hex := true
		for _, c := range b {
			hex = hex && (c >= '0' && c <= '9' || c >= 'a' && c <= 'f')
		}
		w := uint64(0)
		for i := 7; i >= 0; i-- {
			w = w<<8 | uint64(b[i])
		}
		if hexWord(w) != hex {
			t.Fatalf("%q: hexWord %v", b, hexWord(w))
		}
	}
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			for _, fill := range []byte("a0 Z\x00\xff\"\\9f") {
				b := bytes.Repeat([]byte{fill}, 8)
				b[pos] = byte(c)
				check(b)
			}
		}
	}
	alpha := []byte("0123456789abcdefABCDEFgG/:`@\x00\x1f\x20\x7f\x80\xff\"\\")
	for i := 0; i < 200000; i++ {
		b := make([]byte, 8)
		for j := range b {
			if r.IntN(2) == 0 {
				b[j] = alpha[r.IntN(len(alpha))]
			} else {
				b[j] = byte(r.IntN(256))
			}
		}
		check(b)
	}
}
