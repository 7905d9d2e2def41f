package normalize

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// isASCII reports whether s holds only 7-bit bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// trimLower trims surrounding white space, lower-cases and composes s
// (Unicode NFC, so "é" hashes the same whichever way it was typed).
func trimLower(s string) string {
	s = strings.TrimSpace(s)
	if isASCII(s) {
		for i := 0; i < len(s); i++ {
			if 'A' <= s[i] && s[i] <= 'Z' {
				return strings.ToLower(s)
			}
		}
		return s
	}
	return norm.NFC.String(strings.ToLower(norm.NFC.String(s)))
}

// keep selects which characters filterLower keeps.
type keep uint8

const (
	keepLetters keep = 1 << iota // Unicode letters and combining marks
	keepDigits                   // Unicode decimal digits
)

// filterLower lower-cases s and keeps only the selected character classes,
// dropping white space, punctuation, symbols and control characters. The
// result is NFC-composed.
func filterLower(s string, k keep) string {
	if isASCII(s) {
		ok := true
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(k&keepLetters != 0 && 'a' <= c && c <= 'z' || k&keepDigits != 0 && '0' <= c && c <= '9') {
				ok = false
				break
			}
		}
		if ok {
			return s
		}
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case k&keepLetters != 0 && 'a' <= c && c <= 'z':
				b = append(b, c)
			case k&keepLetters != 0 && 'A' <= c && c <= 'Z':
				b = append(b, c+'a'-'A')
			case k&keepDigits != 0 && '0' <= c && c <= '9':
				b = append(b, c)
			}
		}
		return string(b)
	}
	s = strings.ToLower(norm.NFC.String(s))
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == utf8.RuneError {
			continue
		}
		if k&keepLetters != 0 && (unicode.IsLetter(r) || unicode.Is(unicode.M, r)) ||
			k&keepDigits != 0 && unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return norm.NFC.String(b.String())
}

// foldKey is filterLower(letters) with accents removed, used only to look up
// names in the country and state tables.
func foldKey(s string) string {
	s = filterLower(s, keepLetters)
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
