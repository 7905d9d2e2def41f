package normalize

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// The ASCII fast path of UserData (normalizeInto) must give exactly what
// the normalisers give (normalizeValue), for every hashed key.

var intoKeys = []string{"em", "ph", "fn", "ln", "ct", "st", "zp", "country", "external_id", "app_user_id", "db", "ge", "fi", "f5first", "doby"}

var intoSeeds = []string{
	" John.Doe@Example.COM ", "MAILTO:Jane@x.io", "mailto: a@b.co", "a@b", "a@@b.com", "x@-a.com", "Ab@Cd.eF",
	"+1 (650) 555-1212", "650.555.1212", "0044 20 7946 0958", "+44 (0)20 7946 0958", "+81 3-1234-5678",
	"Mary", "O'Brien", "  JEAN-LUC ", "123", "New York", "St. Louis", "NY", "N.Y.", "California", "Missouri",
	"new york", "QC", "Quebec", "10001-1234", "94035", "2134", "SW1A 1AA", "a", "1-2", "12345-", "US", "USA",
	"United States", "uk", "Deutschland", "xx", "User-123", "ABC", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
	"0123456789abcdef0123456789ABCDEF", "2/16/1997", "Female", "-", ".", "Valéry", "tést@gmail.com", "\t",
}

// hashedKeys are the user_data keys Meta requires hashed (ref §4), listed
// independently of hashedSlot's switch and hashedOrder, which the tests
// check against it.
var hashedKeys = map[string]bool{
	"em": true, "ph": true, "fn": true, "ln": true, "db": true, "ge": true,
	"ct": true, "st": true, "zp": true, "country": true, "external_id": true,
	"f5first": true, "f5last": true, "fi": true, "dobd": true, "dobm": true,
	"doby": true, "app_user_id": true,
}

func checkInto(t *testing.T, key, raw, country string, hashExt bool) {
	t.Helper()
	opts := &Options{HashExternalID: hashExt, Now: testNow}
	wantN, wantDone, wantErr := normalizeValue(key, raw, country, opts)
	prefix := []byte("pre")
	out, val, done, err := normalizeInto(prefix, key, raw, country, opts)
	got := val
	if !done && err == nil {
		got = string(out[len(prefix):])
	} else if len(out) != len(prefix) {
		t.Fatalf("%s(%q, %q): wrote %q with done=%v err=%v", key, raw, country, out, done, err)
	}
	if got != wantN || done != wantDone || err != wantErr {
		t.Fatalf("%s(%q, %q, hash %v): fast %q %v %v; normaliser %q %v %v", key, raw, country, hashExt, got, done, err, wantN, wantDone, wantErr)
	}
}

func TestNormalizeIntoMatches(t *testing.T) {
	for _, key := range intoKeys {
		for _, raw := range append(intoSeeds, fuzzSeeds...) {
			for _, country := range []string{"", "us", "ca", "gb", "de"} {
				checkInto(t, key, raw, country, true)
				checkInto(t, key, raw, country, false)
			}
		}
	}
}

func FuzzNormalizeInto(f *testing.F) {
	for _, s := range intoSeeds {
		f.Add(s, uint8(0), "us")
	}
	f.Fuzz(func(t *testing.T, raw string, k uint8, country string) {
		checkInto(t, intoKeys[int(k)%len(intoKeys)], raw, country, k&128 == 0)
	})
}

func TestIsHashedKey(t *testing.T) {
	for k := range hashedKeys {
		if !isHashedKey(k) {
			t.Errorf("isHashedKey(%q) = false", k)
		}
	}
	for _, k := range append(PassthroughKeys, "", "EM", "email", "phone") {
		if isHashedKey(k) != hashedKeys[k] {
			t.Errorf("isHashedKey(%q) = %v", k, isHashedKey(k))
		}
	}
}

func TestCountryFastPath(t *testing.T) {
	for _, raw := range append(append(intoSeeds, fuzzSeeds...), "", " ", "U.S.A.", "united-states", "GER", "deu", "Côte d'Ivoire", "cote divoire", strings.Repeat("a", 70)) {
		got, gerr := Country(raw)
		want, werr := countrySlow(raw)
		if got != want || gerr != werr {
			t.Errorf("Country(%q) = %q, %v; want %q, %v", raw, got, gerr, want, werr)
		}
	}
}

// passthroughRef is passthrough as it was before it gave back unchanged
// values as they came.
func passthroughRef(key string, v any) (any, error) {
	switch key {
	case "client_ip_address", "fbc", "fbp", "client_user_agent":
		s, ok := v.(string)
		if !ok {
			return nil, ErrInvalidType
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil
		}
		switch key {
		case "client_ip_address":
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, ErrInvalidIP
			}
			return a.Unmap().String(), nil
		case "fbc":
			if !ValidFBC(s) {
				return nil, ErrInvalidFBC
			}
		case "fbp":
			if !ValidFBP(s) {
				return nil, ErrInvalidFBP
			}
		}
		return s, nil
	}
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil
		}
		return s, nil
	}
	return v, nil
}

func TestPassthroughMatches(t *testing.T) {
	values := []any{"203.0.113.7", " 203.0.113.7", "::ffff:192.0.2.1", "2001:DB8::1", "2001:db8::1", "fe80::1%eth0", "x",
		"fb.1.1596403881668.1116446470", " fb.1.1554763741205.AbCdEf ", "Mozilla/5.0", "", "  ", 12, nil, []any{"a"}}
	for _, key := range append(PassthroughKeys, "other") {
		for _, v := range values {
			want, werr := passthroughRef(key, v)
			in := []Member{{Key: key, Value: v}}
			if s, ok := v.(string); ok {
				in = append(in, Member{Key: key, Str: s, IsString: true})
			}
			for _, m := range in {
				got, gerr := passthrough(m)
				if !reflect.DeepEqual(got.value(), want) || gerr != werr || got.Key != key && !got.empty() {
					t.Errorf("passthrough(%#v) = %#v, %v; want %#v, %v", m, got, gerr, want, werr)
				}
			}
		}
	}
}

// userDataRef is UserData as it was before normaliseInto and boxSlice (the
// reference the fast version must match).
func userDataRef(in map[string]any, opts Options) (out map[string]any, drops []Drop) {
	out = make(map[string]any, len(in))
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	country := userCountry(in["country"])
	if country == "" && opts.DefaultCountry != "" {
		country, _ = Country(opts.DefaultCountry)
	}
	// Normalise everything first, then hash all values into one buffer and
	// one string, so an event costs a handful of allocations, not dozens.
	type item struct {
		key  string
		val  string
		done bool // already a digest, or sent raw: no hashing
	}
	var (
		itemBuf [24]item
		items   = itemBuf[:0]
		scratch [4]string
	)
	for key, v := range in {
		if v == nil {
			continue
		}
		if hashedKeys[key] {
			vals, bad := values(v, scratch[:0])
			if bad {
				drops = append(drops, Drop{key, ErrInvalidType.Error()})
			}
			for _, raw := range vals {
				n, done, err := normalizeValue(key, raw, country, &opts)
				if err != nil {
					drops = append(drops, Drop{key, err.Error()})
					continue
				}
				if n != "" {
					items = append(items, item{key, n, done})
				}
			}
			continue
		}
		val, err := passthroughRef(key, v)
		if err != nil {
			drops = append(drops, Drop{key, err.Error()})
			continue
		}
		if val != nil {
			out[key] = val
		}
	}
	if len(items) == 0 {
		return out, drops
	}
	hexBuf := make([]byte, 0, 64*len(items))
	for _, it := range items {
		if !it.done {
			sum := sha256.Sum256([]byte(it.val))
			hexBuf = hex.AppendEncode(hexBuf, sum[:])
		}
	}
	hashes := string(hexBuf)
	lists := make([]string, len(items))
	for i := range items {
		if !items[i].done {
			items[i].val, hashes = hashes[:64], hashes[64:]
		}
		lists[i] = items[i].val
	}
	// Group by key (items of one key are contiguous), deduplicating.
	for start := 0; start < len(items); {
		end := start + 1
		for end < len(items) && items[end].key == items[start].key {
			end++
		}
		list := lists[start:start:end]
		for _, h := range lists[start:end] {
			if !contains(list, h) {
				list = append(list, h)
			}
		}
		out[items[start].key] = list
		start = end
	}
	return out, drops
}

func sortedDrops(d []Drop) []Drop {
	out := append([]Drop(nil), d...)
	sort.Slice(out, func(i, j int) bool {
		return out[i].Key < out[j].Key || out[i].Key == out[j].Key && out[i].Reason < out[j].Reason
	})
	return out
}

func checkUserData(t *testing.T, in map[string]any, opts Options) {
	t.Helper()
	opts.Now = testNow
	got, gd := UserData(in, opts)
	want, wd := userDataRef(in, opts)
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(sortedDrops(gd), sortedDrops(wd)) {
		t.Fatalf("UserData(%#v) =\n%#v %v\nwant\n%#v %v", in, got, gd, want, wd)
	}
}

func TestUserDataMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	raws := append(append([]string{}, intoSeeds...), fuzzSeeds...)
	keys := append(append([]string{}, intoKeys...), "dobd", "dobm", "f5last", "client_ip_address", "fbc", "fbp", "client_user_agent", "lead_id", "x")
	for range 3000 {
		in := map[string]any{}
		for range 1 + r.IntN(8) {
			k := keys[r.IntN(len(keys))]
			switch r.IntN(5) {
			case 0:
				in[k] = []any{raws[r.IntN(len(raws))], raws[r.IntN(len(raws))], nil, 5}
			case 1:
				in[k] = r.IntN(100000)
			default:
				in[k] = raws[r.IntN(len(raws))]
			}
		}
		countries := []string{"", "US", "gb", "Deutschland", "xx"}
		checkUserData(t, in, Options{DefaultCountry: countries[r.IntN(len(countries))], HashExternalID: r.IntN(2) == 0})
	}
}

func FuzzUserDataMatchesReference(f *testing.F) {
	for _, s := range intoSeeds {
		f.Add(s, "US")
	}
	f.Fuzz(func(t *testing.T, s, country string) {
		in := map[string]any{"country": country}
		for _, k := range intoKeys {
			in[k] = s
		}
		in["client_ip_address"], in["fbp"] = s, s
		checkUserData(t, in, Options{DefaultCountry: country, HashExternalID: true})
	})
}
