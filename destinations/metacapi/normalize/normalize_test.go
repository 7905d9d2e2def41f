package normalize

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

var testNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// hashOne runs one raw value through UserData and returns its single hash.
func hashOne(t *testing.T, key string, raw any, opts Options) (string, []Drop) {
	t.Helper()
	opts.Now = testNow
	out, drops := UserData(map[string]any{key: raw}, opts)
	list, _ := out[key].([]string)
	switch len(list) {
	case 0:
		return "", drops
	case 1:
		return list[0], drops
	}
	t.Fatalf("%s: %d hashes, want 1", key, len(list))
	return "", nil
}

// TestReferenceVectors checks the rows of the reference's test-vector table
// (meta-capi.md §12) where Meta's documented rule and the Node SDK agree,
// and every row marked ✓doc, whose hash equals Meta's own example.
func TestReferenceVectors(t *testing.T) {
	us := Options{DefaultCountry: "US", HashExternalID: true}
	none := Options{HashExternalID: true}
	tests := []struct {
		row       int
		key       string
		raw       any
		opts      Options
		want      string
		metaDocEx bool
	}{
		{1, "em", "John_Smith@gmail.com", none, "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f", true},
		{2, "em", "  John.Doe@Example.COM  ", none, "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f", false},
		{3, "em", "JANE+promo@Sub.Example.co.uk", none, "adb6ab6226e2b3351534f76b7cbe33b68ea2f42a7bee32d969a26dd049d4aecd", false},
		{5, "ph", "+1 (650) 555-1212", none, "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176", true},
		{5, "ph", "+1 (650) 555-1212", us, "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176", true},
		{6, "ph", "1-650-555-1212", us, "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176", false},
		{6, "ph", "1-650-555-1212", none, "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176", false},
		{7, "ph", "+44 20 7946 0958", us, "35e206e5dec4c89b9e8b71b8c32724a5bb518483ac5a20c6617d738375b3b823", false},
		{8, "ph", "0044 20 7946 0958", us, "35e206e5dec4c89b9e8b71b8c32724a5bb518483ac5a20c6617d738375b3b823", false},
		{8, "ph", "0044 20 7946 0958", none, "35e206e5dec4c89b9e8b71b8c32724a5bb518483ac5a20c6617d738375b3b823", false},
		{8, "ph", "0044 20 7946 0958", Options{DefaultCountry: "GB"}, "35e206e5dec4c89b9e8b71b8c32724a5bb518483ac5a20c6617d738375b3b823", false},
		{14, "fn", "Mary", none, "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec", true},
		{15, "fn", "정", none, "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14", true},
		{16, "fn", "Valéry", none, "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c", true},
		{16, "fn", "Vale\u0301ry", none, "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c", true}, // decomposed é
		{19, "ln", "Müller", none, "2dbd218072117713f2d5996a726a9b216ed791ffd0783b6ba4ab6d61b8333192", false},
		{20, "ct", "New York", none, "350c754ba4d38897693aa077ef43072a859d23f613443133fecbbd90a3512ca5", false},
		{21, "ct", "St. Louis", none, "8ba24bdf99947996f3000259be455de791b06fcc0e802ce05031030df1ee8ea3", false},
		{22, "ct", "São Paulo", none, "3eda1428ae1aece064071f8d40f08fe2bc59ffa66c171a163caf15122ec4d7f0", false},
		{23, "ct", "Winston-Salem", none, "9e54909cf7a66751ffbdfb4f79635e6d36de413d76f86c5ef42cb8b697662751", false},
		{24, "st", "CA", us, "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126", false},
		{26, "st", "N.Y.", us, "1b06e2003f8420d6fa42badd8f77ec0f706b976b7a48b13c567dc5a559681683", false},
		{27, "zp", "94035", none, "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e", false},
		{27, "zp", 94035.0, us, "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e", false},
		{28, "zp", "94035-1234", us, "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e", false},
		{28, "zp", "94035-1234", none, "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e", false},
		{29, "zp", "SW1A 1AA", Options{DefaultCountry: "GB"}, "830e1d4b9838bab1f5c2acdb23e0b502ff13a9832c4632e8d67a1d43d3b7f614", false},
		{30, "zp", "M1 1AE", Options{DefaultCountry: "UK"}, "1dc694c2070e697769fb959b50671d76cafd430d8ca191fbdd0affcaea344ac5", false},
		{31, "country", "US", none, "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621", true},
		{32, "country", " gb ", none, "0b407281768f0e833afef47ed464b6571d01ca4d53c12ce5c51d1462f4ad6677", false},
		{33, "ge", "Female", none, "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111", false},
		{34, "ge", "F", none, "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111", false},
		{35, "ge", "M", none, "62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a", false},
		{36, "db", "19970216", none, "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c", true},
		{36, "db", 19970216.0, none, "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c", true},
		// Row 37: Meta's docs example 2/16/1997 → 19970216 (the Node SDK hashes the raw string).
		{37, "db", "2/16/1997", none, "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c", true},
		{39, "dobd", "5", none, "c97550ce8213ef5cf6ed4ba48790c137df3ef6a5da20b48961001a634b6cead2", false},
		{40, "dobm", "2", none, "a953f09a1b6b6725b81956e9ad0b1eb49e3ad40004c04307ef8af6246a054116", false},
		{41, "doby", "1997", none, "0985b889a1fe4f4e1fb925061ac6fb2247f10875f5fcbe63eec2ab55ed68970e", false},
		{42, "external_id", "User-123", none, "fcdec6df4d44dbc637c7c5b58efface52a7f8a88535423430255be0bb89bedd8", false},
		{43, "ph", "E323EC626319CA94EE8BFF2E4C87CF613BE6EA19919ED1364124E16807AB3176", us, "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176", false},
		{44, "em", "2a6a84e9e44441afbd75cc19ce28be37", none, "2a6a84e9e44441afbd75cc19ce28be37", false},
		// The docs' request example hashes (§12 "Other fixtures").
		{0, "ph", "12345678901", us, "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4", true},
		{0, "ph", "14251234567", us, "6f4fcb9deaeadc8f9746ae76d97ce1239e98b404efe5da3ee0b7149740f89ad6", true},
		{0, "ph", json.Number("14251234567"), us, "6f4fcb9deaeadc8f9746ae76d97ce1239e98b404efe5da3ee0b7149740f89ad6", true},
		{0, "ph", 14251234567.0, us, "6f4fcb9deaeadc8f9746ae76d97ce1239e98b404efe5da3ee0b7149740f89ad6", true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("row%02d/%s/%v", tt.row, tt.key, tt.raw)
		if tt.metaDocEx {
			name += "/doc"
		}
		t.Run(name, func(t *testing.T) {
			got, drops := hashOne(t, tt.key, tt.raw, tt.opts)
			if got != tt.want {
				t.Errorf("hash = %s, want %s (drops %v)", got, tt.want, drops)
			}
		})
	}
}

// TestMetaRuleNotSDK covers the reference rows where an official SDK (or the
// parameter builder) differs from Meta's documented rule. We follow the rule;
// each case names the SDK behaviour it deliberately does not copy.
func TestMetaRuleNotSDK(t *testing.T) {
	tests := []struct {
		name, key string
		raw       string
		opts      Options
		want      string // normalised value before hashing; "" = dropped
		reason    error
	}{
		{"row04 no country code: Node hashes 6505551212, which cannot match; we drop", "ph", "(650)555-1212", Options{}, "", ErrPhoneNoCountry},
		{"row04 with default country US", "ph", "(650)555-1212", Options{DefaultCountry: "US"}, "16505551212", nil},
		{"row09 trunk (0) removed: Node keeps it (4402079460958)", "ph", "+44 (0)20 7946 0958", Options{}, "442079460958", nil},
		{"row10 national UK number gets its country code: Node sends 2079460958", "ph", "020 7946 0958", Options{DefaultCountry: "GB"}, "442079460958", nil},
		{"row11 German trunk 0 removed: Node keeps it (490301234567)", "ph", "+49 030 1234567", Options{}, "49301234567", nil},
		{"row12 dots are symbols: Node keeps them (650.555.1212)", "ph", "650.555.1212", Options{DefaultCountry: "US"}, "16505551212", nil},
		{"row13 extension dropped: Node appends its digit (65055512125)", "ph", "650-555-1212 ext 5", Options{DefaultCountry: "US"}, "16505551212", nil},
		{"java keeps the plus: we do not", "ph", "+16505551212", Options{}, "16505551212", nil},
		{"row17 punctuation removed from names: SDKs send jean-luc", "fn", "  JEAN-LUC ", Options{}, "jeanluc", nil},
		{"row18 apostrophe removed: SDKs send o'brien", "ln", "O'Brien", Options{}, "obrien", nil},
		{"row25 state name mapped: Node sends california", "st", "California", Options{}, "ca", nil},
		{"row37 date parsed: Node hashes 2/16/1997 as is", "db", "2/16/1997", Options{}, "19970216", nil},
		{"row38 ISO date parsed: Node hashes 1997-02-16 as is", "db", "1997-02-16", Options{}, "19970216", nil},
		{"country name mapped: Node throws on United States", "country", "United States", Options{}, "us", nil},
		{"country alias mapped: Node throws on USA", "country", "USA", Options{}, "us", nil},
		{"country alias mapped: Node throws on UK, PB keeps uk", "country", "UK", Options{}, "gb", nil},
		{"row45 unknown gender dropped: Node sends ge:[null]", "ge", "nonbinary", Options{}, "", ErrUnknownGender},
		{"woman understood: Node sends null", "ge", "woman", Options{}, "f", nil},
		{"non-ASCII email accepted: Node throws", "em", "tést@gmail.com", Options{}, "tést@gmail.com", nil},
		{"row45 one-character zip dropped", "zp", "1", Options{}, "", ErrInvalidZip},
		{"US ZIP lost its leading zero as a number: padded", "zp", "2134", Options{DefaultCountry: "US"}, "02134", nil},
		{"external_id hashed by default here: SDKs send it raw", "external_id", " User-123 ", Options{HashExternalID: true}, "user-123", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, drops := hashOne(t, tt.key, tt.raw, tt.opts)
			if tt.want == "" {
				if got != "" || len(drops) != 1 || drops[0].Reason != tt.reason.Error() {
					t.Fatalf("got %q drops %v, want dropped with %v", got, drops, tt.reason)
				}
				return
			}
			if want := SHA256Hex(tt.want); got != want {
				t.Fatalf("hash = %s, want sha256(%q) = %s (drops %v)", got, tt.want, want, drops)
			}
		})
	}
}

func TestExternalIDRaw(t *testing.T) {
	out, drops := UserData(map[string]any{"external_id": []any{" User-123 ", "User-123", 42.0}}, Options{})
	want := []string{"User-123", "42"}
	if !reflect.DeepEqual(out["external_id"], want) || drops != nil {
		t.Fatalf("got %v %v, want %v", out["external_id"], drops, want)
	}
}

func TestUserDataWhole(t *testing.T) {
	in := map[string]any{
		"em":                []any{"  John.Doe@Example.COM ", "john.doe@example.com", "not-an-email"},
		"ph":                "+1 (650) 555-1212",
		"external_id":       []string{"User-123", "User-123"},
		"ge":                []any{"woman"},
		"country":           "United States",
		"st":                "California",
		"zp":                json.Number("94035"),
		"client_ip_address": " 2001:db8::1 ",
		"client_user_agent": "UA",
		"fbc":               "fb.1.1554763741205.AbC",
		"fbp":               "fb.1.1596403881668.1116446470",
		"lead_id":           json.Number("123"),
		"madid":             "",
		"db":                "31/02/1990",
		"fn":                map[string]any{"x": 1},
	}
	out, drops := UserData(in, Options{HashExternalID: false, Now: testNow})
	want := map[string]any{
		"em":                []string{"836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f"},
		"ph":                []string{"e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"},
		"external_id":       []string{"User-123"},
		"ge":                []string{SHA256Hex("f")},
		"country":           []string{SHA256Hex("us")},
		"st":                []string{SHA256Hex("ca")},
		"zp":                []string{SHA256Hex("94035")},
		"client_ip_address": "2001:db8::1",
		"client_user_agent": "UA",
		"fbc":               "fb.1.1554763741205.AbC",
		"fbp":               "fb.1.1596403881668.1116446470",
		"lead_id":           json.Number("123"),
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("out =\n%v\nwant\n%v", out, want)
	}
	wantDrops := map[Drop]bool{{"em", "invalid_email"}: true, {"db", "unparseable_date"}: true, {"fn", "invalid_type"}: true}
	if len(drops) != len(wantDrops) {
		t.Fatalf("drops = %v", drops)
	}
	for _, d := range drops {
		if !wantDrops[d] {
			t.Errorf("unexpected drop %v", d)
		}
	}
	if in["ph"] != "+1 (650) 555-1212" {
		t.Error("input modified")
	}
}

func TestUserDataPassthroughDrops(t *testing.T) {
	out, drops := UserData(map[string]any{
		"client_ip_address": "999.1.1.1",
		"fbc":               "fb.1.1554763741205", // no fbclid: Meta's 2804001
		"fbp":               "fb.1.1596403881668.abc",
	}, Options{})
	if len(out) != 0 || len(drops) != 3 {
		t.Fatalf("out %v drops %v", out, drops)
	}
}

func TestEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"John_Smith@gmail.com", "john_smith@gmail.com"},
		{"  a.b+c@Example.COM\t", "a.b+c@example.com"},
		{"mailto:x@y.io", "x@y.io"},
		{"tést@gmail.com", "tést@gmail.com"},
		{"not-an-email", ""},
		{"a@b", ""},
		{"a@b.c", ""},
		{"a b@c.com", ""},
		{"a@@b.com", ""},
		{"a@b..com", ""},
		{"@b.com", ""},
		{"a@-b.com", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := Email(tt.in)
		if got != tt.want || (tt.want == "") != errors.Is(err, ErrInvalidEmail) {
			t.Errorf("Email(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestPhone(t *testing.T) {
	tests := []struct{ in, region, want string }{
		{"+1 (650) 555-1212", "", "16505551212"},
		{"(650) 555-1212", "us", "16505551212"},
		{"650 555 1212", "CA", "16505551212"},
		{"16505551212", "", "16505551212"},
		{"16505551212", "GB", "16505551212"},
		{"+44 20 7946 0958", "", "442079460958"},
		{"+44 (0)20 7946 0958", "US", "442079460958"},
		{"07700 900123", "GB", "447700900123"},
		{"442079460958", "GB", "442079460958"},
		{"06 12 34 56 78", "FR", "33612345678"},
		{"+33 6 12 34 56 78", "", "33612345678"},
		{"030 1234567", "DE", "49301234567"},
		{"0049 30 1234567", "DE", "49301234567"},
		{"+49 (0)30 1234567", "", "49301234567"},
		{"+39 06 1234 5678", "", "390612345678"}, // Italy keeps its leading 0
		{"06 1234 5678", "IT", "390612345678"},
		{"+81 3-1234-5678", "", "81312345678"},
		{"03-1234-5678", "JP", "81312345678"},
		{"+61 2 9374 4000", "", "61293744000"},
		{"(02) 9374 4000", "AU", "61293744000"},
		{"0011 44 20 7946 0958", "AU", "442079460958"},
		{"011 44 20 7946 0958", "US", "442079460958"},
		{"+1 650 555 1212 x 12", "", "16505551212"},
		{"tel:+1-650-555-1212", "", "16505551212"},
		{"555-1212", "US", ""}, // local-only: no area code
		{"12345", "US", ""},    // too short
		{"1234567890123456789", "US", ""},
		{"+999 1234", "", ""},
		{"hello", "US", ""},
		{"020 7946 0958", "", ""}, // national number, no country known
		{"+", "", ""},
		{"", "US", ""},
	}
	for _, tt := range tests {
		got, err := Phone(tt.in, tt.region)
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("Phone(%q, %q) = %q, %v; want %q", tt.in, tt.region, got, err, tt.want)
		}
	}
}

func TestNameCityState(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Mary", "mary"}, {"정", "정"}, {"Valéry", "valéry"}, {"  JEAN-LUC ", "jeanluc"},
		{"O'Brien", "obrien"}, {"Müller", "müller"}, {"Mary Ann", "maryann"}, {"ÆSA", "æsa"},
		{"Ñúñez", "ñúñez"}, {"İlkay", "ilkay"}, {"Dr. Zoë", "drzoë"},
	} {
		if got, err := Name(tt.in); got != tt.want || err != nil {
			t.Errorf("Name(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := Name(" .-' "); !errors.Is(err, ErrEmpty) {
		t.Errorf("Name(punctuation) err = %v", err)
	}
	for _, tt := range []struct{ in, want string }{
		{"New York", "newyork"}, {"St. Louis", "stlouis"}, {"São Paulo", "sãopaulo"},
		{"Winston-Salem", "winstonsalem"}, {"London 2", "london"}, {"Köln", "köln"},
	} {
		if got, err := City(tt.in); got != tt.want || err != nil {
			t.Errorf("City(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ in, country, want string }{
		{"CA", "us", "ca"}, {"California", "", "ca"}, {"california", "us", "ca"},
		{"N.Y.", "us", "ny"}, {"New York", "", "ny"}, {"District of Columbia", "us", "dc"},
		{"Québec", "ca", "qc"}, {"Quebec", "", "qc"}, {"British Columbia", "ca", "bc"},
		{"Bayern", "de", "bayern"}, {"Île-de-France", "fr", "îledefrance"},
		{"Georgia", "ge", "georgia"}, {"Georgia", "us", "ga"},
	} {
		if got, err := State(tt.in, tt.country); got != tt.want || err != nil {
			t.Errorf("State(%q, %q) = %q, %v; want %q", tt.in, tt.country, got, err, tt.want)
		}
	}
}

func TestZip(t *testing.T) {
	for _, tt := range []struct{ in, country, want string }{
		{"94035", "", "94035"}, {"94035-1234", "", "94035"}, {"94035-1234", "us", "94035"},
		{"940351234", "us", "94035"}, {"2134", "us", "02134"}, {"501", "us", "00501"},
		{"SW1A 1AA", "gb", "sw1a1aa"}, {"M1 1AE", "", "m11ae"}, {"K1A 0B1", "ca", "k1a0b1"},
		{"75008", "fr", "75008"}, {"1234-567", "pt", "1234567"}, {"1", "", ""}, {"abc", "us", ""},
		{"9403", "", "9403"},
	} {
		got, err := Zip(tt.in, tt.country)
		if got != tt.want || (tt.want == "") != errors.Is(err, ErrInvalidZip) {
			t.Errorf("Zip(%q, %q) = %q, %v; want %q", tt.in, tt.country, got, err, tt.want)
		}
	}
}

func TestCountry(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"US", "us"}, {"us", "us"}, {"USA", "us"}, {"United States", "us"}, {"U.S.A.", "us"},
		{"United States of America", "us"}, {"UK", "gb"}, {"Great Britain", "gb"}, {"GBR", "gb"},
		{"Deutschland", "de"}, {"Germany", "de"}, {"Côte d'Ivoire", "ci"}, {"Cote dIvoire", "ci"},
		{"Türkiye", "tr"}, {"South Korea", "kr"}, {"ca", "ca"}, {"Canada", "ca"}, {"CAN", "ca"},
		{"  gb ", "gb"}, {"Narnia", ""}, {"", ""}, {"xx", ""},
	} {
		got, err := Country(tt.in)
		if got != tt.want || (tt.want == "") != errors.Is(err, ErrInvalidCountry) {
			t.Errorf("Country(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	// Every ISO code maps to itself.
	for code := range tables().codes {
		if got, _ := Country(code); got != code {
			t.Errorf("Country(%q) = %q", code, got)
		}
	}
	if n := len(tables().codes); n != 249 {
		t.Errorf("%d ISO codes, want 249", n)
	}
}

func TestGender(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Female", "f"}, {"F", "f"}, {"woman", "f"}, {"Mrs.", "f"}, {"weiblich", "f"},
		{"M", "m"}, {"male", "m"}, {"Man", "m"}, {"Mr", "m"}, {"Männlich", "m"},
		{"other", ""}, {"", ""}, {"x", ""},
	} {
		got, err := Gender(tt.in)
		if got != tt.want || (tt.want == "") != errors.Is(err, ErrUnknownGender) {
			t.Errorf("Gender(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestDateOfBirth(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"19970216", "19970216"}, {"2/16/1997", "19970216"}, {"02/16/1997", "19970216"},
		{"1997-02-16", "19970216"}, {"1997/2/16", "19970216"}, {"1997-02-16T00:00:00Z", "19970216"},
		{"16/02/1997", "19970216"}, {"16.02.1997", "19970216"}, {"03.04.1997", "19970403"},
		{"03/04/1997", "19970304"}, {"February 16, 1997", "19970216"}, {"16 Feb 1997", "19970216"},
		{"16th of February 1997", "19970216"}, {"1997-Feb-16", "19970216"}, {"02161997", "19970216"},
		{"16021997", "19970216"}, {"29/02/2000", "20000229"},
		{"29/02/1999", ""}, {"1899-01-01", ""}, {"2027-01-01", ""}, {"13/13/1997", ""},
		{"2/16/97", ""}, {"yesterday", ""}, {"", ""}, {"1997", ""}, {"1997-02-16-01", ""},
	} {
		got, err := DateOfBirth(tt.in, testNow)
		if got != tt.want || (tt.want == "") != errors.Is(err, ErrUnparseableDate) {
			t.Errorf("DateOfBirth(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestFBC(t *testing.T) {
	for _, tt := range []struct {
		in       string
		fbc, fbp bool
	}{
		{"fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890", true, false},
		{"fb.1.1596403881668.1116446470", true, true},
		{"fb.1.1795644065451.IwAR2F4-dbP_l7Mn.AQQCAQMC", true, false},
		{"fb.2.1596403881668.1116446470.Bg", true, true},
		{"fb.1.1554763741205", false, false},
		{"fb.1.1554763741205.", false, false},
		{"fb.1.x.abc", false, false},
		{"fbx.1.1.abc", false, false},
		{"fb.1.1.a.b.c", false, false},
		{"fb.1.1.a b", false, false},
		{"", false, false},
	} {
		if got := ValidFBC(tt.in); got != tt.fbc {
			t.Errorf("ValidFBC(%q) = %v", tt.in, got)
		}
		if got := ValidFBP(tt.in); got != tt.fbp {
			t.Errorf("ValidFBP(%q) = %v", tt.in, got)
		}
	}
	at := time.UnixMilli(1554763741205)
	for _, tt := range []struct{ url, want string }{
		{"https://shop.example/p?id=1&fbclid=IwAR2F4-dbP_l7MnAbC", "fb.1.1554763741205.IwAR2F4-dbP_l7MnAbC"},
		{"https://shop.example/?fbclid=AbC%2DdE", "fb.1.1554763741205.AbC-dE"},
		{"https://shop.example/?utm_source=fb", ""},
		{"https://shop.example/?fbclid=", ""},
		{"::not a url fbclid=x", ""},
	} {
		if got := FBCFromURL(tt.url, at); got != tt.want {
			t.Errorf("FBCFromURL(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
	if got := FBCFromURL("https://x.example/?fbclid=abc", time.Time{}); got != "" {
		t.Errorf("zero time: %q", got)
	}
	if got := FBCFromURL("https://x.example/?fbclid=abc", at); !ValidFBC(got) {
		t.Errorf("built fbc %q is invalid", got)
	}
}

func TestSHA256Hex(t *testing.T) {
	if got := SHA256Hex("mary"); got != "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec" {
		t.Fatal(got)
	}
	if !IsSHA256Hex("E323EC626319CA94EE8BFF2E4C87CF613BE6EA19919ED1364124E16807AB3176") || IsSHA256Hex("e323") || IsSHA256Hex("g323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176") {
		t.Fatal("IsSHA256Hex")
	}
}
