package jsonenc

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNumberEnd(t *testing.T) {
	for _, c := range []struct {
		in  string
		end int
		syn Syntax
	}{
		{"0", 1, OK}, {"-0", 2, OK}, {"12.5e+3,", 7, OK}, {"1E9]", 3, OK}, {"01", 1, OK},
		{"-", 1, InNumber}, {"-x", 1, InNumber}, {"", 0, InNumber},
		{"1.", 2, AfterDecimalPoint}, {"1.e5", 2, AfterDecimalPoint},
		{"1e", 2, InExponent}, {"1e+", 3, InExponent}, {"2E-x", 3, InExponent},
	} {
		end, syn := NumberEnd(c.in, 0)
		if end != c.end || syn != c.syn {
			t.Errorf("NumberEnd(%q) = %d, %v; want %d, %v", c.in, end, syn, c.end, c.syn)
		}
	}
}

func TestStringEnd(t *testing.T) {
	for _, c := range []struct {
		in   string
		end  int
		form StringForm
		syn  Syntax
	}{
		{`"" x`, 2, 0, OK},
		{`"a plain string longer than eight bytes",`, 40, 0, OK},
		{`"tab\tand \u00e9"`, 17, Escaped, OK},
		{`"é"`, 4, NonASCII, OK},
		{`"\\ é \""`, 10, Escaped | NonASCII, OK},
		{`"open`, 5, 0, InString},
		{"\"a\nb\"", 2, 0, InString},
		{`"\x"`, 2, Escaped, InEscape},
		{`"\`, 2, Escaped, InEscape},
		{`"\u12g4"`, 5, Escaped, InHexEscape},
		{`"\u12`, 5, Escaped, InHexEscape},
	} {
		end, form, syn := StringEnd(c.in, 0)
		if end != c.end || form != c.form || syn != c.syn {
			t.Errorf("StringEnd(%q) = %d, %b, %v; want %d, %b, %v", c.in, end, form, syn, c.end, c.form, c.syn)
		}
	}
	if got := InHexEscape.String(); got != `in \u hexadecimal character escape` {
		t.Errorf("InHexEscape = %q", got)
	}
}

// FuzzScan checks NumberEnd and StringEnd against encoding/json: a text
// that is exactly one number (or string) by encoding/json is exactly one by
// them, and the reverse; a string's form matches its bytes.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`0`, `-12.5e+3`, `1.`, `"plain"`, `"a\"b\u00e9"`, "\"\xff\"", `"\u12"`, `"unterminated`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || strings.TrimSpace(s) != s {
			return // encoding/json allows whitespace around a value
		}
		whole := json.Valid([]byte(s))
		switch c := s[0]; {
		case c == '-' || isDigit(c):
			if end, syn := NumberEnd(s, 0); (syn == OK && end == len(s)) != whole {
				t.Fatalf("NumberEnd(%q) = %d, %v; encoding/json valid: %v", s, end, syn, whole)
			}
			if ValidNumber(s) != whole {
				t.Fatalf("ValidNumber(%q) = %v; encoding/json: %v", s, !whole, whole)
			}
		case c == '"':
			end, form, syn := StringEnd(s, 0)
			if (syn == OK && end == len(s)) != whole {
				t.Fatalf("StringEnd(%q) = %d, %v; encoding/json valid: %v", s, end, syn, whole)
			}
			if syn != OK {
				return
			}
			body := s[1 : end-1]
			want := StringForm(0)
			if strings.Contains(body, `\`) {
				want |= Escaped
			}
			if strings.IndexFunc(body, func(r rune) bool { return r >= 0x80 }) >= 0 {
				want |= NonASCII
			}
			if form != want {
				t.Fatalf("StringEnd(%q) form %b, want %b", s, form, want)
			}
		}
	})
}

func TestNext(t *testing.T) {
	for _, c := range []struct {
		in       string
		closer   byte
		end      int
		more, ok bool
	}{
		{",", '}', 1, true, true}, {" \t\r\n}", '}', 5, false, true}, {" ]x", ']', 2, false, true},
		{"}", ']', 0, false, false}, {"  ", '}', 2, false, false}, {" :", '}', 1, false, false},
	} {
		end, more, ok := Next(c.in, 0, c.closer)
		if end != c.end || more != c.more || ok != c.ok {
			t.Errorf("Next(%q, %q) = %d, %v, %v; want %d, %v, %v", c.in, c.closer, end, more, ok, c.end, c.more, c.ok)
		}
	}
	if got := SpaceEnd(" \v", 0); got != 1 {
		t.Errorf("SpaceEnd stops at %d, want 1 (\\v is not JSON whitespace)", got)
	}
}
