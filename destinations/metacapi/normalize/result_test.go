package normalize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A Result must hold exactly what UserData's map holds (the map is made
// from it, and checked against the reference in userdata_fast_test.go),
// and write it exactly as json.Marshal writes that map.

// marshalValue is an appendValue for AppendJSON through encoding/json.
func marshalValue(b []byte, v any) ([]byte, bool) {
	j, err := json.Marshal(v)
	if err != nil {
		return b, false
	}
	return append(b, j...), true
}

func checkResult(t *testing.T, in map[string]any, opts Options, set map[string]any) {
	t.Helper()
	opts.Now = testNow
	var r Result
	r.Normalize(in, opts)
	want, wantDrops := userDataRef(in, opts)
	for k, v := range set {
		r.Set(k, v)
		if !hashedKeys[k] {
			want[k] = v
		}
	}
	if got := r.Map(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Map(%#v) =\n%#v\nwant\n%#v", in, got, want)
	}
	if got := r.Drops(); !reflect.DeepEqual(sortedDrops(got), sortedDrops(wantDrops)) {
		t.Fatalf("Drops(%#v) = %v, want %v", in, got, wantDrops)
	}
	// NormalizeMembers, given the strings as strings, makes the same.
	var members []Member
	for k, v := range in {
		if s, ok := v.(string); ok {
			members = append(members, Member{Key: k, Str: s, IsString: true})
		} else {
			members = append(members, Member{Key: k, Value: v})
		}
	}
	var rm Result
	rm.NormalizeMembers(members, opts)
	for k, v := range set {
		rm.Set(k, v)
	}
	if got := rm.Map(); !reflect.DeepEqual(got, want) {
		t.Fatalf("NormalizeMembers(%#v) =\n%#v\nwant\n%#v", members, got, want)
	}
	if got := rm.Drops(); !reflect.DeepEqual(sortedDrops(got), sortedDrops(wantDrops)) {
		t.Fatalf("NormalizeMembers(%#v) drops %v, want %v", members, got, wantDrops)
	}
	probe := append([]string{"em", "zz", ""}, PassthroughKeys...)
	for k := range in {
		probe = append(probe, k)
	}
	for _, k := range probe {
		if _, has := want[k]; r.Has(k) != has {
			t.Fatalf("Has(%q) = %v for %#v", k, !has, want)
		}
	}
	var keys []string
	for k := range r.HashedKeys() {
		keys = append(keys, k)
	}
	for _, f := range r.Unhashed() {
		if hashedKeys[f.Key] || !reflect.DeepEqual(want[f.Key], f.value()) || f.IsString && f.Value != nil {
			t.Fatalf("Unhashed: %q = %#v, want %#v", f.Key, f, want[f.Key])
		}
		keys = append(keys, f.Key)
	}
	if len(keys) != len(want) || !slices.IsSortedFunc(r.Unhashed(), func(a, b Member) int { return strings.Compare(a.Key, b.Key) }) {
		t.Fatalf("keys %q, want those of %#v, unhashed sorted", keys, want)
	}
	wantJSON, werr := json.Marshal(want)
	gotJSON, ok := r.AppendJSON([]byte("x"), marshalValue)
	if werr != nil {
		if ok {
			t.Fatalf("AppendJSON(%#v) = %s, json.Marshal fails: %v", want, gotJSON, werr)
		}
		return
	}
	if !ok || !bytes.Equal(gotJSON, append([]byte("x"), wantJSON...)) {
		t.Fatalf("AppendJSON = %s, %v\njson.Marshal  %s", gotJSON, ok, wantJSON)
	}
}

func TestResultMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	raws := append(append([]string{strings.Repeat("0", 62) + "de", " " + strings.Repeat("0", 62) + "DE", "<b>&", "a\u2028b", "\xff", "User<1>", "AbCdEf0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789"}, intoSeeds...), fuzzSeeds...)
	keys := append(append([]string{}, intoKeys...), "dobd", "dobm", "f5last", "client_ip_address", "fbc", "fbp",
		"client_user_agent", "lead_id", "x", "<", "", "zz", "a\u2028")
	odd := []any{json.Number("12"), 1.5, true, map[string]any{"a": []any{"<", nil}}, []any{}, []string{"x"}}
	for range 3000 {
		in := map[string]any{}
		for range 1 + r.IntN(10) {
			k := keys[r.IntN(len(keys))]
			switch r.IntN(6) {
			case 0:
				in[k] = []any{raws[r.IntN(len(raws))], raws[r.IntN(len(raws))], nil, 5}
			case 1:
				in[k] = r.IntN(100000)
			case 2:
				in[k] = odd[r.IntN(len(odd))]
			default:
				in[k] = raws[r.IntN(len(raws))]
			}
		}
		var set map[string]any
		if r.IntN(3) == 0 {
			set = map[string]any{keys[r.IntN(len(keys))]: raws[r.IntN(len(raws))]}
		}
		countries := []string{"", "US", "gb", "Deutschland", "xx"}
		checkResult(t, in, Options{DefaultCountry: countries[r.IntN(len(countries))], HashExternalID: r.IntN(2) == 0}, set)
	}
}

// TestResultSpills holds more values and keys than a Result keeps inline.
func TestResultSpills(t *testing.T) {
	for _, n := range []int{inlineHashed - 1, inlineHashed, inlineHashed + 1, 3 * inlineHashed} {
		in := map[string]any{}
		var emails, phones []any
		for i := range n {
			emails = append(emails, fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("U%d@Example.com", i))
			phones = append(phones, fmt.Sprintf("+1 650 555 %04d", i))
			in[fmt.Sprintf("k%02d", i)] = fmt.Sprint(i)
		}
		in["em"], in["ph"], in["fn"] = emails, phones, "Mary"
		for _, set := range []map[string]any{nil, {"fbc": "fb.1.1.x"}, {"k00": "y"}, {"zz": 1}} {
			checkResult(t, in, Options{HashExternalID: true}, set)
		}
	}
}

func TestResultEmpty(t *testing.T) {
	var r Result
	if b, ok := r.AppendJSON(nil, marshalValue); !ok || string(b) != "{}" || len(r.Map()) != 0 || r.Has("em") {
		t.Fatalf("zero Result: %s %v %v", b, ok, r.Map())
	}
	r.Normalize(map[string]any{"em": "a@b.co", "x": 1}, Options{})
	r.Normalize(map[string]any{"fn": " "}, Options{})
	if b, _ := r.AppendJSON(nil, marshalValue); string(b) != "{}" {
		t.Fatalf("Normalize did not replace: %s", b)
	}
	r.Set("em", "x") // hashed keys are Normalize's alone
	if r.Has("em") {
		t.Fatal("Set a hashed key")
	}
}

// TestResultRefusedValue: when appendValue refuses a value, AppendJSON
// reports it.
func TestResultRefusedValue(t *testing.T) {
	var r Result
	r.Normalize(map[string]any{"em": "a@b.co", "lead_id": 1}, Options{})
	refuse := func(b []byte, v any) ([]byte, bool) { return b, false }
	if _, ok := r.AppendJSON(nil, refuse); ok {
		t.Fatal("AppendJSON ignored a refused value")
	}
}

func FuzzResultMatchesReference(f *testing.F) {
	for _, s := range intoSeeds {
		f.Add(s, "US", "x")
	}
	f.Fuzz(func(t *testing.T, s, country, key string) {
		in := map[string]any{"country": country, key: s}
		for _, k := range intoKeys {
			in[k] = []any{s, strings.ToUpper(s)}
		}
		in["client_ip_address"], in["fbp"] = s, s
		checkResult(t, in, Options{DefaultCountry: country, HashExternalID: true}, map[string]any{key: s})
	})
}

// The ASCII fast paths must agree with the general code.

func TestValidEmailASCII(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const alphabet = "ab-.@@,;<> \t\x7fZ_+"
	cases := append(append([]string{}, intoSeeds...), fuzzSeeds...)
	cases = append(cases, "a@b.co", "a@-b.co", "a@b-.co", "a@b.-co", "a@b.co-", "a@.b.co", "a@b..co", "a@b.c",
		"a@b.c-", "a@b.co.", "@b.co", "a@b@c.co", "a b@c.co", "a@b.c\x7fo", "ab@c-d.ef", "a@bc.de-")
	for range 200000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if !isASCII(s) {
			continue
		}
		if got, want := validEmailASCII(s), validEmail(s); got != want {
			t.Fatalf("validEmailASCII(%q) = %v, validEmail %v", s, got, want)
		}
	}
}

func FuzzValidEmailASCII(f *testing.F) {
	for _, s := range intoSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if isASCII(s) && validEmailASCII(s) != validEmail(s) {
			t.Fatalf("validEmailASCII(%q) = %v, validEmail %v", s, !validEmail(s), validEmail(s))
		}
	})
}

// appendFilteredRef is appendFiltered as it was before its table.
func appendFilteredRef(dst []byte, s string, k keep) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case k&keepLetters != 0 && 'a' <= c && c <= 'z':
			dst = append(dst, c)
		case k&keepLetters != 0 && 'A' <= c && c <= 'Z':
			dst = append(dst, c+'a'-'A')
		case k&keepDigits != 0 && '0' <= c && c <= '9':
			dst = append(dst, c)
		}
	}
	return dst
}

func TestAppendFiltered(t *testing.T) {
	var all [256]byte
	for i := range all {
		all[i] = byte(i)
	}
	for _, k := range []keep{0, keepLetters, keepDigits, keepLetters | keepDigits} {
		for _, s := range append([]string{string(all[:])}, intoSeeds...) {
			if got, want := appendFiltered([]byte("p"), s, k), appendFilteredRef([]byte("p"), s, k); !bytes.Equal(got, want) {
				t.Fatalf("appendFiltered(%q, %d) = %q, want %q", s, k, got, want)
			}
		}
	}
}

func TestUpperRegion(t *testing.T) {
	cases := []string{"", "u", "us", "US", "Us", "uS", "gb", "zz", "aa", "usa", "u1", "é", "`a", "a{"}
	for a := range 128 {
		for b := range 128 {
			cases = append(cases, string([]byte{byte(a), byte(b)}))
		}
	}
	for _, s := range cases {
		if got, want := upperRegion(s), strings.ToUpper(s); got != want {
			t.Fatalf("upperRegion(%q) = %q, want %q", s, got, want)
		}
	}
}

// contains reports whether list holds s.
func contains(list []string, s string) bool { return slices.Contains(list, s) }

// TestCanonicalIPv4 holds passthrough's IPv4 shortcut to netip, on random
// strings of digits and dots around the edge cases.
func TestCanonicalIPv4(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := []string{"0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3.04", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..2.3",
		".1.2.3", "1.2.3.", "1.2.3.4 ", " 1.2.3.4", "99999999999999999999.1.1.1", "18446744073709551617.1.1.1", "1.2.3.-4", "1.2.3.4a"}
	const alphabet = "0123456789.255"
	for range 200000 {
		b := make([]byte, 1+r.IntN(16))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		got, gerr := passthrough(Member{Key: "client_ip_address", Str: s, IsString: true})
		want, werr := passthroughRef("client_ip_address", s)
		if got.value() != want || gerr != werr {
			t.Fatalf("passthrough(%q) = %#v, %v; want %#v, %v", s, got, gerr, want, werr)
		}
	}
}

// TestValidFB holds validFB's splitting to strings.Split.
func TestValidFB(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const alphabet = "fb.1.0.Ab9,"
	cases := []string{"", ".", "fb", "fb.1.2.3", "fb.1.2.3.4", "fb.1.2.3.4.5", "fb..2.3", "fb.1.2.", "fb.1.1554763741205.AbC"}
	for range 200000 {
		b := make([]byte, r.IntN(14))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		for _, numeric := range []bool{false, true} {
			if got, want := validFB(s, numeric), validFBRef(s, numeric); got != want {
				t.Fatalf("validFB(%q, %v) = %v, want %v", s, numeric, got, want)
			}
		}
	}
}

// validFBRef is validFB through strings.Split.
func validFBRef(s string, numericLast bool) bool {
	seg := strings.Split(s, ".")
	if len(s) > 1024 || len(seg) < 4 || len(seg) > 5 || seg[0] != "fb" || !allDigits(seg[1], 1, 2) || !allDigits(seg[2], 1, 19) {
		return false
	}
	if numericLast && !allDigits(seg[3], 1, 32) || !numericLast && !token(seg[3]) {
		return false
	}
	return len(seg) == 4 || token(seg[4])
}

// TestFastPhoneTables holds fastRegionCC and fastTrunk to the tables they
// replaced.
func TestFastPhoneTables(t *testing.T) {
	regions := map[string]string{
		"US": "1", "CA": "1",
		"GB": "44", "DE": "49", "FR": "33", "ES": "34", "NL": "31", "BE": "32",
		"CH": "41", "AT": "43", "SE": "46", "IE": "353",
	}
	trunks := map[string]string{
		"1": "1", "44": "0", "49": "0", "33": "0", "34": "", "31": "0", "32": "0",
		"41": "0", "43": "0", "46": "0", "353": "0",
	}
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			r := string([]rune{a, b})
			if got := fastRegionCC(r); got != regions[r] {
				t.Errorf("fastRegionCC(%q) = %q, want %q", r, got, regions[r])
			}
		}
	}
	for cc := range 1000 {
		c := strconv.Itoa(cc)
		got, ok := fastTrunk(c)
		want, wantOK := trunks[c]
		if got != want || ok != wantOK {
			t.Errorf("fastTrunk(%q) = %q, %v; want %q, %v", c, got, ok, want, wantOK)
		}
	}
}
