package normalize

import "testing"

// benchUserData is a full user_data: em, ph, fn, ln, ct, st, zp, country,
// external_id, plus ip, ua and fbp.
func benchUserData() map[string]any {
	return map[string]any{
		"em":                " John.Doe@Example.COM ",
		"ph":                "+1 (650) 555-1212",
		"fn":                "Mary",
		"ln":                "O'Brien",
		"ct":                "New York",
		"st":                "NY",
		"zp":                "10001-1234",
		"country":           "US",
		"external_id":       "User-123",
		"client_ip_address": "203.0.113.7",
		"client_user_agent": "Mozilla/5.0",
		"fbp":               "fb.1.1596403881668.1116446470",
	}
}

// BenchmarkUserData normalises and hashes a full user_data as the Meta
// destination does — its members, decoded as strings, into a Result.
// Target ≤ 3 µs.
func BenchmarkUserData(b *testing.B) {
	var in []Member
	for k, v := range benchUserData() {
		in = append(in, Member{Key: k, Str: v.(string), IsString: true})
	}
	opts := Options{DefaultCountry: "US", HashExternalID: true}
	b.ReportAllocs()
	for b.Loop() {
		var r Result
		r.NormalizeMembers(in, opts)
		if r.nHashed != 9 || r.nUnhashed != 3 {
			b.Fatalf("%d hashed, %d unhashed values", r.nHashed, r.nUnhashed)
		}
	}
}

// BenchmarkUserDataFromMap is BenchmarkUserData through Normalize, from
// a map.
func BenchmarkUserDataFromMap(b *testing.B) {
	in := benchUserData()
	opts := Options{DefaultCountry: "US", HashExternalID: true}
	b.ReportAllocs()
	for b.Loop() {
		var r Result
		r.Normalize(in, opts)
	}
}

// BenchmarkUserDataMap is BenchmarkUserData building UserData's map.
func BenchmarkUserDataMap(b *testing.B) {
	in := benchUserData()
	opts := Options{DefaultCountry: "US", HashExternalID: true}
	b.ReportAllocs()
	for b.Loop() {
		UserData(in, opts)
	}
}

// BenchmarkPhoneSlow is a number the fast path leaves to phonenumbers.
func BenchmarkPhoneSlow(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Phone("+81 3-1234-5678", "")
	}
}

func BenchmarkSHA256Hex(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		SHA256Hex("john.doe@example.com")
	}
}
