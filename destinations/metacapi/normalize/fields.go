package normalize

import (
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Email normalises an email address by Meta's rule: trim surrounding white
// space and lower-case. Unlike the Node SDK it accepts non-ASCII addresses
// (tést@gmail.com); it rejects values that are not local@domain.tld with
// [ErrInvalidEmail].
func Email(raw string) (string, error) {
	s := trimLower(raw)
	s = strings.TrimPrefix(s, "mailto:")
	if !validEmail(s) {
		return "", ErrInvalidEmail
	}
	return s, nil
}

func validEmail(s string) bool {
	if len(s) < 6 || len(s) > 254 || !utf8.ValidString(s) {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || unicode.IsSpace(r) || r == ',' || r == ';' || r == '<' || r == '>' {
			return false
		}
	}
	domain := s[at+1:]
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 || len(domain)-dot-1 < 2 {
		return false
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
	}
	return true
}

// validEmailASCII is validEmail for ASCII s, in one pass and without
// splitting: among ASCII characters unicode.IsSpace only holds for
// control characters and ' ', which are refused anyway.
func validEmailASCII(s string) bool {
	if len(s) < 6 || len(s) > 254 {
		return false
	}
	at := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c >= 0x7f || c == ',' || c == ';' || c == '<' || c == '>':
			return false
		case c == '@':
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at <= 0 {
		return false
	}
	domain := s[at+1:]
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 || len(domain)-dot-1 < 2 {
		return false
	}
	// Labels are not empty and neither start nor end with '-'. The last
	// label has two characters or more, so domain does not end with '.'.
	prev := byte('.')
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		if c == '.' && (prev == '.' || prev == '-') || c == '-' && prev == '.' {
			return false
		}
		prev = c
	}
	return prev != '-'
}

// Name normalises a first or last name (fn, ln) by Meta's rule: lower case,
// no punctuation. White space, punctuation and symbols are removed; letters
// of every script are kept as UTF-8 ("Valéry" → "valéry", "O'Brien" →
// "obrien", "Jean-Luc" → "jeanluc"). The SDKs keep the punctuation.
func Name(raw string) (string, error) {
	s := filterLower(raw, keepLetters|keepDigits)
	if s == "" {
		return "", ErrEmpty
	}
	return s, nil
}

// City normalises ct by Meta's rule: lower case with no punctuation,
// special characters, digits or spaces; accented letters are kept
// ("São Paulo" → "sãopaulo").
func City(raw string) (string, error) {
	s := filterLower(raw, keepLetters)
	if s == "" {
		return "", ErrEmpty
	}
	return s, nil
}

// State normalises st: lower case letters only, and for the United States
// and Canada full names are mapped to the two-letter code ("California" →
// "ca", "Québec" → "qc", "N.Y." → "ny"). country is the normalised ISO
// code of the user's country, or "" when unknown; names are mapped unless
// the country is known to be another one.
func State(raw, country string) (string, error) {
	s := filterLower(raw, keepLetters)
	if s == "" {
		return "", ErrEmpty
	}
	if len(s) > 2 && (country == "" || country == "us" || country == "ca") {
		if code, ok := tables().states[s]; ok {
			return code, nil
		}
		if code, ok := tables().states[foldKey(s)]; ok {
			return code, nil
		}
	}
	return s, nil
}

// Zip normalises zp by Meta's rule: lower case with no spaces or dashes;
// for the United States only the first five digits are kept ("94035-1234" →
// "94035"), and a ZIP code that lost its leading zeros (arriving as the
// number 2134) is padded back ("02134"). country is the normalised ISO code
// of the user's country or ""; without one, "12345" and "12345-6789" are
// read as US ZIP codes. Fewer than two characters give [ErrInvalidZip].
func Zip(raw, country string) (string, error) {
	s := strings.TrimSpace(raw)
	if country == "us" || country == "" && looksUSZip(s) {
		return usZip(s)
	}
	s = filterLower(s, keepLetters|keepDigits)
	if len(s) < 2 {
		return "", ErrInvalidZip
	}
	return s, nil
}

func looksUSZip(s string) bool {
	if len(s) != 5 && len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 5 {
			if s[i] != '-' {
				return false
			}
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// appendUSZip is usZip appending to dst; ok is false where usZip fails.
func appendUSZip(dst []byte, s string) ([]byte, bool) {
	var d [16]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if n == len(d) {
				return dst, false
			}
			d[n] = c
			n++
		case c == ' ' || c == '-' || c == '.':
			if n != 5 && n != 0 && c == '-' {
				return dst, false
			}
		default:
			return dst, false
		}
	}
	switch {
	case n == 5 || n == 9:
		return append(dst, d[:5]...), true
	case n == 3 || n == 4:
		dst = append(dst, "00"[:5-n]...)
		return append(dst, d[:n]...), true
	}
	return dst, false
}

func usZip(s string) (string, error) {
	var b [5]byte
	out, ok := appendUSZip(b[:0], s)
	if !ok {
		return "", ErrInvalidZip
	}
	return string(out), nil
}

// Country normalises country to the lower-case ISO 3166-1 alpha-2 code.
// Codes, alpha-3 codes, English and common native names and aliases are
// accepted ("US", "USA", "United States", "UK", "Deutschland"). Anything
// else gives [ErrInvalidCountry].
func Country(raw string) (string, error) {
	if len(raw) <= 64 && isASCII(raw) {
		// filterLower into a stack buffer: no allocation. For ASCII
		// letters foldKey changes nothing, so one lookup decides.
		var buf [64]byte
		b := appendFiltered(buf[:0], raw, keepLetters)
		if code, ok := tables().countries[string(b)]; ok && len(b) > 0 {
			return code, nil
		}
		return "", ErrInvalidCountry
	}
	return countrySlow(raw)
}

// countrySlow is Country for any input.
func countrySlow(raw string) (string, error) {
	s := filterLower(raw, keepLetters)
	if s == "" {
		return "", ErrInvalidCountry
	}
	t := tables()
	if code, ok := t.countries[s]; ok {
		return code, nil
	}
	if code, ok := t.countries[foldKey(s)]; ok {
		return code, nil
	}
	return "", ErrInvalidCountry
}

// Gender normalises ge to "f" or "m" from common spellings in several
// languages ("Female", "woman", "Mrs", "M", "male", "Herr"). Other values give
// [ErrUnknownGender]; unlike the Node SDK nothing is sent for them.
func Gender(raw string) (string, error) {
	s := filterLower(raw, keepLetters)
	if g, ok := genders[s]; ok {
		return g, nil
	}
	if g, ok := genders[foldKey(s)]; ok {
		return g, nil
	}
	return "", ErrUnknownGender
}

var genders = map[string]string{
	"f": "f", "female": "f", "fem": "f", "woman": "f", "women": "f", "w": "f", "girl": "f",
	"lady": "f", "mrs": "f", "ms": "f", "miss": "f", "madam": "f", "femme": "f", "frau": "f",
	"weiblich": "f", "mujer": "f", "femenino": "f", "feminino": "f", "femminile": "f",
	"donna": "f", "mulher": "f", "feminin": "f", "feminine": "f", "mme": "f", "mlle": "f",
	"sra": "f", "srta": "f", "she": "f", "fille": "f",
	"m": "m", "male": "m", "man": "m", "men": "m", "boy": "m", "mr": "m", "sir": "m",
	"homme": "m", "herr": "m", "mannlich": "m", "männlich": "m", "hombre": "m", "masculino": "m",
	"maschile": "m", "uomo": "m", "homem": "m", "masculin": "m", "masculine": "m",
	"monsieur": "m", "sr": "m", "he": "m", "garcon": "m", "garçon": "m", "h": "m",
}

// ExternalID normalises external_id: surrounding white space is trimmed.
// When the value is to be hashed it is also lower-cased, as Meta's
// normalize-and-hash does, so the same ID hashes alike on every channel.
func ExternalID(raw string, hashed bool) (string, error) {
	s := strings.TrimSpace(raw)
	if hashed {
		s = trimLower(s)
	}
	if s == "" {
		return "", ErrEmpty
	}
	return s, nil
}

// DateOfBirth normalises db to YYYYMMDD from common forms: "19970216",
// "1997-02-16" (also with a time), "1997/2/16", "2/16/1997" (US order, as in
// Meta's example), "16/2/1997" and "16.02.1997" (day first when the first
// number cannot be a month, or with dots), "February 16, 1997", "16 Feb
// 1997". The year must lie between 1900 and now's year. Anything else gives
// [ErrUnparseableDate]. The SDKs hash the raw string instead.
func DateOfBirth(raw string, now time.Time) (string, error) {
	s := trimLower(raw)
	if len(s) > 10 && s[4] == '-' && s[7] == '-' && (s[10] == 't' || s[10] == ' ') {
		s = s[:10]
	}
	var nums [3]string
	var month int
	nn, words := 0, 0
	dotted := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			j := i
			for j < len(s) && '0' <= s[j] && s[j] <= '9' {
				j++
			}
			if nn == 3 {
				return "", ErrUnparseableDate
			}
			nums[nn] = s[i:j]
			nn++
			i = j
		case 'a' <= c && c <= 'z':
			j := i
			for j < len(s) && 'a' <= s[j] && s[j] <= 'z' {
				j++
			}
			w := s[i:j]
			i = j
			if m, ok := monthNames[w]; ok && words == 0 {
				month = m
				words++
				continue
			}
			if w == "st" || w == "nd" || w == "rd" || w == "th" || w == "of" {
				continue
			}
			return "", ErrUnparseableDate
		default:
			if c == '.' {
				dotted = true
			}
			i++
		}
	}
	var y, m, d int
	switch {
	case month != 0 && nn == 2:
		a, b := nums[0], nums[1]
		switch {
		case len(a) == 4:
			y, d = atoi(a), atoi(b)
		case len(b) == 4:
			y, d = atoi(b), atoi(a)
		default:
			return "", ErrUnparseableDate
		}
		m = month
	case month == 0 && nn == 1 && len(nums[0]) == 8:
		n := nums[0]
		if ok := validDate(atoi(n[:4]), atoi(n[4:6]), atoi(n[6:]), now); ok {
			y, m, d = atoi(n[:4]), atoi(n[4:6]), atoi(n[6:])
		} else if validDate(atoi(n[4:]), atoi(n[:2]), atoi(n[2:4]), now) {
			y, m, d = atoi(n[4:]), atoi(n[:2]), atoi(n[2:4])
		} else {
			y, m, d = atoi(n[4:]), atoi(n[2:4]), atoi(n[:2])
		}
	case month == 0 && nn == 3:
		a, b, c := nums[0], nums[1], nums[2]
		switch {
		case len(a) == 4 && len(b) <= 2 && len(c) <= 2:
			y, m, d = atoi(a), atoi(b), atoi(c)
		case len(c) == 4 && len(a) <= 2 && len(b) <= 2:
			y, m, d = atoi(c), atoi(a), atoi(b)
			if dotted || m > 12 {
				m, d = d, m
			}
		default:
			return "", ErrUnparseableDate
		}
	default:
		return "", ErrUnparseableDate
	}
	if !validDate(y, m, d, now) {
		return "", ErrUnparseableDate
	}
	b := make([]byte, 8)
	b[0], b[1], b[2], b[3] = byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10)
	b[4], b[5] = byte('0'+m/10), byte('0'+m%10)
	b[6], b[7] = byte('0'+d/10), byte('0'+d%10)
	return string(b), nil
}

func atoi(s string) int {
	if len(s) > 4 {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func validDate(y, m, d int, now time.Time) bool {
	if y < 1900 || y > now.Year() || m < 1 || m > 12 || d < 1 || d > 31 {
		return false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return t.Day() == d
}

var monthNames = map[string]int{
	"jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
	"may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
	"sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
	"dec": 12, "december": 12,
}

// dobPart normalises the legacy keys dobd (1–31), dobm (1–12), zero-padded
// to two digits, and doby (four digits).
func dobPart(key, raw string) (string, error) {
	s := strings.TrimSpace(raw)
	n, err := strconv.Atoi(s)
	if err != nil {
		return "", ErrInvalidDOBPart
	}
	switch key {
	case "dobd":
		if n < 1 || n > 31 {
			return "", ErrInvalidDOBPart
		}
	case "dobm":
		if n < 1 || n > 12 {
			return "", ErrInvalidDOBPart
		}
	default:
		if len(s) != 4 || n < 1900 {
			return "", ErrInvalidDOBPart
		}
		return s, nil
	}
	return string([]byte{byte('0' + n/10), byte('0' + n%10)}), nil
}

// prefixRunes returns the first n characters of s.
func prefixRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

type lookupTables struct {
	countries map[string]string // folded name, alpha-2 or alpha-3 → alpha-2
	codes     map[string]bool   // valid alpha-2 codes
	states    map[string]string // folded name → code
}

// tables builds the immutable lookup tables once.
var tables = sync.OnceValue(func() *lookupTables {
	t := &lookupTables{
		countries: make(map[string]string, 1200),
		codes:     make(map[string]bool, 250),
		states:    make(map[string]string, 200),
	}
	for line := range strings.SplitSeq(countryData, "\n") {
		if line == "" {
			continue
		}
		fields := strings.Split(line, "|")
		codes := strings.Fields(fields[0])
		t.codes[codes[0]] = true
		t.countries[codes[0]] = codes[0]
		t.countries[codes[1]] = codes[0]
	}
	// Names never shadow a code ("uk" is not an ISO code, so it may alias gb).
	for line := range strings.SplitSeq(countryData, "\n") {
		if line == "" {
			continue
		}
		fields := strings.Split(line, "|")
		code := strings.Fields(fields[0])[0]
		for _, name := range fields[1:] {
			for _, k := range []string{filterLower(name, keepLetters), foldKey(name)} {
				if _, taken := t.countries[k]; !taken {
					t.countries[k] = code
				}
			}
		}
	}
	for line := range strings.SplitSeq(stateData, "\n") {
		if line == "" {
			continue
		}
		fields := strings.Split(line, "|")
		for _, name := range fields[1:] {
			t.states[filterLower(name, keepLetters)] = fields[0]
			t.states[foldKey(name)] = fields[0]
		}
	}
	return t
})
