package normalize

import (
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"John_Smith@gmail.com", "  John.Doe@Example.COM  ", "tést@gmail.com", "+1 (650) 555-1212",
	"0044 20 7946 0958", "+44 (0)20 7946 0958", "650-555-1212 ext 5", "650.555.1212", "06 12 34 56 78",
	"Valéry", "Vale\u0301ry", "  JEAN-LUC ", "O'Brien", "정", "São Paulo", "N.Y.", "California",
	"94035-1234", "SW1A 1AA", "United States", "UK", "2/16/1997", "1997-02-16T10:00:00Z",
	"February 16, 1997", "Female", "woman", "fb.1.1554763741205.AbC", "İ", "\xff\xfe", "",
}

func isLowerHex64(s string) bool { return len(s) == 64 && IsSHA256Hex(s) && lowerHex(s) == s }

// checkIdempotent fails when normalising a normalised value changes it.
func checkIdempotent(t *testing.T, name, in string, f func(string) (string, error)) {
	t.Helper()
	out, err := f(in)
	if err != nil {
		return
	}
	if !utf8.ValidString(out) && utf8.ValidString(in) {
		t.Fatalf("%s(%q) = %q: invalid UTF-8", name, in, out)
	}
	again, err := f(out)
	if err != nil || again != out {
		t.Fatalf("%s not idempotent: %q → %q → %q, %v", name, in, out, again, err)
	}
}

func FuzzEmail(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkIdempotent(t, "Email", s, Email) })
}

func FuzzName(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkIdempotent(t, "Name", s, Name)
		checkIdempotent(t, "City", s, City)
		checkIdempotent(t, "Gender", s, Gender)
		checkIdempotent(t, "Country", s, Country)
		for _, c := range []string{"", "us", "ca", "de"} {
			checkIdempotent(t, "State", s, func(v string) (string, error) { return State(v, c) })
			checkIdempotent(t, "Zip", s, func(v string) (string, error) { return Zip(v, c) })
		}
		checkIdempotent(t, "ExternalID", s, func(v string) (string, error) { return ExternalID(v, true) })
	})
}

func FuzzDateOfBirth(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkIdempotent(t, "DateOfBirth", s, func(v string) (string, error) { return DateOfBirth(v, testNow) })
		if out, err := DateOfBirth(s, testNow); err == nil && len(out) != 8 {
			t.Fatalf("DateOfBirth(%q) = %q", s, out)
		}
	})
}

// FuzzPhone checks that phone output is digits only, that the E.164 form
// normalises to itself, and that the fast path agrees with phonenumbers.
func FuzzPhone(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, "US")
	}
	for _, s := range []string{"+49 30 1234567", "030 1234567", "+33612345678", "0612345678", "07700 900123", "+353 1 234 5678", "0046 8 123 456 78"} {
		for _, r := range []string{"", "GB", "DE", "FR", "IE", "SE", "US", "JP"} {
			f.Add(s, r)
		}
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		if len(region) > 3 {
			return
		}
		out, err := Phone(s, region)
		if err != nil {
			return
		}
		for i := 0; i < len(out); i++ {
			if out[i] < '0' || out[i] > '9' {
				t.Fatalf("Phone(%q, %q) = %q: not digits", s, region, out)
			}
		}
		if again, err := Phone("+"+out, region); again != out || err != nil {
			t.Fatalf("Phone(%q) = %q, but Phone(+%s) = %q, %v", s, out, out, again, err)
		}
		if fast, ok := fastPhone(s, region); ok {
			slow, err := slowPhone(s, region)
			if slow != fast || err != nil {
				t.Fatalf("fast path %q ≠ phonenumbers %q, %v for (%q, %q)", fast, slow, err, s, region)
			}
		}
	})
}

func FuzzUserData(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, "US")
	}
	f.Fuzz(func(t *testing.T, s, country string) {
		in := map[string]any{"country": country}
		for k := range hashedKeys {
			in[k] = []any{s, s}
		}
		for _, k := range PassthroughKeys {
			in[k] = s
		}
		out, _ := UserData(in, Options{DefaultCountry: country, HashExternalID: true, Now: testNow})
		for k := range hashedKeys {
			list, _ := out[k].([]string)
			if len(list) > 1 {
				t.Fatalf("%s not deduplicated: %v", k, list)
			}
			for _, h := range list {
				if !isLowerHex64(h) && !(k == "em" && isMD5Hex(h)) {
					t.Fatalf("%s = %q: not a lowercase SHA-256", k, h)
				}
			}
		}
	})
}
