package normalize

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Phone normalises ph by Meta's rule: digits only, with the country code,
// no leading zeros: the E.164 number without its "+" ("+1 (650) 555-1212"
// → "16505551212", "+44 (0)20 7946 0958" → "442079460958").
//
// region is the ISO 3166-1 alpha-2 code (either case) used for numbers
// written without a country code: the user's country, else the configured
// default. Numbers starting with "+" or "00" are international whatever the
// region; "00" is tried after the region's own international prefix.
// Extensions are dropped. A number that parses but has an impossible length
// for its country gives [ErrInvalidPhone]; a national number with no region
// gives [ErrPhoneNoCountry] unless its digits already form a valid
// international number ("16505551212").
//
// Parsing uses github.com/nyaruka/phonenumbers (libphonenumber's metadata);
// common shapes for a few large countries take an equivalent fast path.
func Phone(raw, region string) (out string, err error) {
	s := strings.TrimSpace(raw)
	if len(s) > 64 {
		return "", ErrInvalidPhone
	}
	region = upperRegion(region)
	var buf [24]byte
	if b, ok := appendFastPhone(buf[:0], s, region); ok {
		return string(b), nil
	}
	return phoneSlow(s, region)
}

// phoneSlow is Phone through phonenumbers, for a trimmed number and an
// upper-case region.
func phoneSlow(s, region string) (out string, err error) {
	defer func() {
		if recover() != nil { // phonenumbers must never take the batch down
			out, err = "", ErrInvalidPhone
		}
	}()
	return slowPhone(s, region)
}

// upperRegions maps region codes in either case to upper case.
var upperRegions = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for r := range phonenumbers.GetSupportedRegions() {
		m[r] = r
		m[strings.ToLower(r)] = r
	}
	return m
})

// upperRegion is strings.ToUpper(region), without allocating for region
// codes.
func upperRegion(region string) string {
	// The usual region is a lower-case code from Country: a table entry
	// instead of a map lookup.
	if len(region) == 2 && 'a' <= region[0] && region[0] <= 'z' && 'a' <= region[1] && region[1] <= 'z' {
		return upperPairs[int(region[0]-'a')*26+int(region[1]-'a')]
	}
	if u, ok := upperRegions()[region]; ok {
		return u
	}
	return strings.ToUpper(region)
}

// upperPairs holds every pair of upper-case ASCII letters, "AA" to "ZZ".
var upperPairs = func() (t [26 * 26]string) {
	for i := range t {
		t[i] = string([]byte{byte('A' + i/26), byte('A' + i%26)})
	}
	return t
}()

// slowPhone is the reference path through phonenumbers.
func slowPhone(s, region string) (string, error) {
	international := strings.HasPrefix(s, "+")
	if international || region != "" {
		if e, ok := parsePossible(s, region); ok {
			return e, nil
		}
		if international {
			return "", ErrInvalidPhone
		}
	}
	digits := onlyDigits(s)
	if strings.HasPrefix(digits, "00") {
		if e, ok := parsePossible("+"+digits[2:], ""); ok {
			return e, nil
		}
		return "", ErrInvalidPhone
	}
	// The digits may already carry a country code ("16505551212"). This is a
	// guess, so it must be a valid number, not merely a possible one — and
	// possible too, so that the "+" form of the answer reads the same.
	if digits != "" && digits[0] != '0' {
		if n, err := phonenumbers.Parse("+"+digits, ""); err == nil && phonenumbers.IsValidNumber(n) {
			if e, ok := parsePossible("+"+digits, ""); ok {
				return e, nil
			}
		}
	}
	if region == "" {
		return "", ErrPhoneNoCountry
	}
	return "", ErrInvalidPhone
}

func parsePossible(s, region string) (string, bool) {
	n, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", false
	}
	if phonenumbers.IsPossibleNumberWithReason(n) != phonenumbers.IS_POSSIBLE {
		return "", false
	}
	e := e164(n)
	// Keep only numbers whose E.164 form reads back as itself: phonenumbers
	// can keep a trunk 0 that a second reading strips, which would make the
	// same number hash two ways.
	back, err := phonenumbers.Parse("+"+e, "")
	if err != nil || e164(back) != e {
		return "", false
	}
	return e, true
}

func e164(n *phonenumbers.PhoneNumber) string {
	nsn := phonenumbers.GetNationalSignificantNumber(n)
	return strconv.Itoa(int(n.GetCountryCode())) + nsn
}

func onlyDigits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// fastRegionCC returns the country calling code of the regions whose
// numbering plans are simple enough to normalise without phonenumbers'
// full parser (a single trunk prefix, or none, and no carrier-selection
// codes), or "" for other regions. Lengths are still checked against
// phonenumbers' metadata. A differential fuzz test holds the fast path to
// the slow one. (A switch, not a map: it runs for every phone number.)
func fastRegionCC(region string) string {
	switch region {
	case "US", "CA":
		return "1"
	case "GB":
		return "44"
	case "DE":
		return "49"
	case "FR":
		return "33"
	case "ES":
		return "34"
	case "NL":
		return "31"
	case "BE":
		return "32"
	case "CH":
		return "41"
	case "AT":
		return "43"
	case "SE":
		return "46"
	case "IE":
		return "353"
	}
	return ""
}

// fastTrunk returns the trunk prefix of a country calling code of
// fastRegionCC; ok is false for other codes.
func fastTrunk(cc string) (trunk string, ok bool) {
	switch cc {
	case "1":
		return "1", true
	case "34":
		return "", true
	case "44", "49", "33", "31", "32", "41", "43", "46", "353":
		return "0", true
	}
	return "", false
}

// fastPhone handles numbers made only of digits and the usual separators:
// international numbers ("+" or "00") for any country calling code, and
// national numbers for the regions above. It returns ok=false whenever the
// answer could differ from phonenumbers', leaving the number to
// slowPhone.
func fastPhone(s, region string) (string, bool) {
	var buf [24]byte
	b, ok := appendFastPhone(buf[:0], s, region)
	if !ok {
		return "", false
	}
	return string(b), true
}

// appendFastPhone is fastPhone appending the digits to dst.
func appendFastPhone(dst []byte, s, region string) ([]byte, bool) {
	var buf [24]byte
	n := 0
	plus := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if n == len(buf) {
				return dst, false
			}
			buf[n] = c
			n++
		case c == '+':
			if n != 0 || plus {
				return dst, false
			}
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')':
			// Separators. A "(0)" trunk prefix after a country code leaves a
			// national number starting with 0, which fastNSN refuses.
		default:
			return dst, false
		}
	}
	d := buf[:n]
	regionCC := fastRegionCC(region)
	// "00" is the international prefix of the regions above but for the
	// NANP ones (011), where phonenumbers may read 00… as a national
	// number; without a region, slowPhone reads it as international.
	if !plus && len(d) > 2 && d[0] == '0' && d[1] == '0' && d[2] != '0' && (region == "" || regionCC != "" && regionCC != "1") {
		d, plus = d[2:], true
	}
	if plus {
		for l := 1; l <= 3 && l < len(d); l++ {
			cc := string(d[:l])
			if _, ok := fastTrunk(cc); ok {
				return fastNSN(dst, cc, d[l:])
			}
		}
		return fastIntl(dst, d)
	}
	if regionCC == "" {
		return dst, false
	}
	if regionCC == "1" {
		if len(d) == 11 && d[0] == '1' {
			d = d[1:]
		}
		return fastNSN(dst, "1", d)
	}
	trunk, _ := fastTrunk(regionCC)
	if trunk == "" || len(d) < 2 || d[0] != trunk[0] || d[1] == '0' {
		return dst, false
	}
	return fastNSN(dst, regionCC, d[1:])
}

// fastNSN checks a national significant number for a fast country code.
func fastNSN(dst []byte, cc string, nsn []byte) ([]byte, bool) {
	if len(nsn) < 4 || nsn[0] == '0' || nsn[0] == '1' && cc == "1" {
		return dst, false
	}
	if cc == "1" {
		if len(nsn) != 10 {
			return dst, false
		}
	} else {
		ccn, _ := strconv.Atoi(cc)
		if !possible(ccn, nsn) {
			return dst, false
		}
	}
	dst = append(dst, cc...)
	return append(dst, nsn...), true
}

// possible reports whether phonenumbers finds a national significant
// number (without leading zeros) of a possible length for the country
// calling code.
func possible(cc int, nsn []byte) bool {
	v, err := strconv.ParseUint(string(nsn), 10, 64)
	if err != nil {
		return false
	}
	num := &phonenumbers.PhoneNumber{CountryCode: ptr(int32(cc)), NationalNumber: &v}
	return phonenumbers.IsPossibleNumberWithReason(num) == phonenumbers.IS_POSSIBLE
}

// fastIntl handles the digits of an international number (after "+" or
// "00") for the country calling codes fastTrunk does not know, as
// phonenumbers.Parse does: the country calling code is the first prefix of
// one to three digits that is a valid code; the rest is the national
// significant number unless the country's national prefix for parsing
// matches at its start (then phonenumbers may strip it, and the number is
// left to it), or it starts with 0 (kept as Italian leading zeros); then
// its length must be possible. The digits of such a number, read again
// after a "+", give the same answer, as parsePossible requires.
func fastIntl(dst []byte, d []byte) ([]byte, bool) {
	if len(d) == 0 || d[0] == '0' {
		return dst, false
	}
	prefixes := intlPrefixes()
	for l := 1; l <= 3 && l < len(d); l++ {
		cc, _ := strconv.Atoi(string(d[:l]))
		if len(phonenumbers.GetRegionCodesForCountryCode(cc)) == 0 {
			continue
		}
		nsn := d[l:]
		prefix, known := prefixes[cc]
		switch {
		case !known, len(nsn) < 4, len(nsn) > 17, nsn[0] == '0',
			prefix != nil && prefix.MatchString(string(nsn)), !possible(cc, nsn):
			return dst, false
		}
		dst = append(dst, d[:l]...)
		return append(dst, nsn...), true
	}
	return dst, false
}

// intlPrefixes maps each country calling code to the national prefix for
// parsing of its main region, as phonenumbers matches it ("^(?:…)"), or to
// nil when there is none. Codes whose metadata cannot be read are absent.
var intlPrefixes = sync.OnceValue(func() map[int]*regexp.Regexp {
	out := map[int]*regexp.Regexp{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return out
	}
	regions := map[string]*phonenumbers.PhoneMetadata{}
	nonGeo := map[int]*phonenumbers.PhoneMetadata{}
	for _, m := range coll.GetMetadata() {
		if m.GetId() == "001" {
			nonGeo[int(m.GetCountryCode())] = m
		} else {
			regions[m.GetId()] = m
		}
	}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		region := phonenumbers.GetRegionCodeForCountryCode(cc)
		m := regions[region]
		if region == "001" {
			m = nonGeo[cc]
		}
		if m == nil || int(m.GetCountryCode()) != cc {
			continue
		}
		var re *regexp.Regexp
		if p := m.GetNationalPrefixForParsing(); p != "" {
			if re, err = regexp.Compile("^(?:" + p + ")"); err != nil {
				continue
			}
		}
		out[cc] = re
	}
	return out
})

func ptr[T any](v T) *T { return &v }
