package normalize

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Options tune [UserData].
type Options struct {
	// DefaultCountry is the ISO 3166-1 code (or any name [Country] accepts)
	// used to read phone numbers, states and ZIP codes when user_data
	// carries no usable country.
	DefaultCountry string
	// HashExternalID hashes external_id (and app_user_id), as Meta
	// recommends. When false they are sent trimmed but otherwise raw.
	HashExternalID bool
	// Now bounds the year of a date of birth. The zero value means
	// time.Now().
	Now time.Time
}

// Drop records one value that [UserData] left out, and why.
type Drop struct {
	// Key is the user_data key, e.g. "ph".
	Key string
	// Reason is a low-cardinality reason such as "invalid_phone": the text
	// of one of the Err* values in this package.
	Reason string
}

// isHashedKey reports whether Meta requires key's values hashed.
func isHashedKey(key string) bool { return hashedSlot(key) >= 0 }

// PassthroughKeys are the user_data keys that are never hashed. ip and fbc/
// fbp are validated; the other identifiers are sent as given.
var PassthroughKeys = []string{
	"client_ip_address", "client_user_agent", "fbc", "fbp", "subscription_id",
	"fb_login_id", "lead_id", "anon_id", "madid", "page_id",
	"page_scoped_user_id", "ctwa_clid", "ig_account_id", "ig_sid",
	"whatsapp_business_account_id",
}

// UserData normalises and hashes a whole user_data object for Meta.
//
// Hashed keys (em, ph, fn, ln, db, ge, ct, st, zp, country, external_id and
// the legacy f5first, f5last, fi, dobd, dobm, doby, app_user_id) accept a
// string, a number or a list of them; each value goes through its key's
// normaliser and SHA-256, and comes out as a []string with duplicates
// removed after hashing. A value that already is a SHA-256 hex digest is
// passed through lower-cased, never hashed twice (for em, a 32-hex MD5
// digest is passed through as Meta's SDKs do). When Options.HashExternalID
// is false external_id and app_user_id are trimmed and sent raw.
//
// client_ip_address must be an IP address and fbc/fbp well-formed (see
// [ValidFBC]); they and the other identifier keys in [PassthroughKeys] are
// never hashed. Keys this package does not know are copied unchanged.
//
// An unusable value is left out and reported in drops; UserData never fails
// and never panics. Empty values (nil, "", blank) are left out silently. in
// is not modified.
//
// UserData builds a map and a list per hashed key; [Result.Normalize] does
// the same work into a [Result] without them, for callers that only encode
// the outcome.
func UserData(in map[string]any, opts Options) (out map[string]any, drops []Drop) {
	var r Result
	r.Normalize(in, opts)
	return r.Map(), r.Drops()
}

// normalizeInto appends the normalised form of raw, a value of a hashed
// key, to dst, or returns it as val when it is done (already a digest, or
// an external ID sent raw). It gives what normalizeValue gives: plain ASCII
// values of the common keys are normalised straight into dst, all others
// go through normalizeValue.
func normalizeInto(dst []byte, key, raw, country string, opts *Options) (out []byte, val string, done bool, err error) {
	if s := strings.TrimSpace(raw); s != "" && isASCII(s) && !IsSHA256Hex(s) && !isMD5Hex(s) {
		if out, ok := appendASCII(dst, key, s, country, opts); ok {
			return out, "", false, nil
		}
	}
	n, done, err := normalizeValue(key, raw, country, opts)
	if err != nil || done {
		return dst, n, done, err
	}
	return append(dst, n...), "", false, nil
}

// appendASCII appends the normalised form of s (trimmed, ASCII, not empty,
// not a digest) for key to dst, exactly as the key's normaliser makes it.
// It returns ok=false for keys it does not handle and for values the
// normaliser refuses or empties, which normalizeValue then handles.
func appendASCII(dst []byte, key, s, country string, opts *Options) ([]byte, bool) {
	start := len(dst)
	switch key {
	case "em":
		// Email: lower case, without a "mailto:" prefix; validEmail does
		// not depend on the case of ASCII letters.
		if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
			s = s[7:]
		}
		if !validEmailASCII(s) {
			return dst, false
		}
		return appendLowerASCII(dst, s), true
	case "ph":
		if len(s) > 64 {
			return dst, false
		}
		return appendFastPhone(dst, s, upperRegion(country))
	case "fn", "ln":
		dst = appendFiltered(dst, s, keepLetters|keepDigits)
	case "ct":
		dst = appendFiltered(dst, s, keepLetters)
	case "st":
		dst = appendFiltered(dst, s, keepLetters)
		if n := len(dst) - start; n > 2 && (country == "" || country == "us" || country == "ca") {
			if code, ok := tables().states[string(dst[start:])]; ok {
				dst = append(dst[:start], code...)
			}
		}
	case "zp":
		if country == "us" || country == "" && looksUSZip(s) {
			return appendUSZip(dst, s)
		}
		if dst = appendFiltered(dst, s, keepLetters|keepDigits); len(dst)-start < 2 {
			return dst[:start], false
		}
	case "country":
		dst = appendFiltered(dst, s, keepLetters)
		code, ok := tables().countries[string(dst[start:])]
		if !ok {
			return dst[:start], false
		}
		dst = append(dst[:start], code...)
	case "external_id", "app_user_id":
		if !opts.HashExternalID {
			return dst, false
		}
		return appendLowerASCII(dst, s), true
	default:
		return dst, false
	}
	if len(dst) == start {
		return dst, false
	}
	return dst, true
}

// appendLowerASCII appends s, ASCII, lower-cased.
func appendLowerASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendFiltered is filterLower for ASCII s, appending to dst. (Bytes
// that are not ASCII are dropped.)
func appendFiltered(dst []byte, s string, k keep) []byte {
	t := &asciiKeep[k&(keepLetters|keepDigits)]
	for i := 0; i < len(s); i++ {
		if c := t[s[i]]; c != 0 {
			dst = append(dst, c)
		}
	}
	return dst
}

// asciiKeep maps each byte, for each keep, to what appendFiltered writes
// for it, or 0 to drop it: a table instead of three range tests a byte.
var asciiKeep = func() (t [keepLetters | keepDigits + 1][256]byte) {
	for k := range t {
		for c := range 256 {
			switch {
			case keep(k)&keepLetters != 0 && 'a' <= c && c <= 'z':
				t[k][c] = byte(c)
			case keep(k)&keepLetters != 0 && 'A' <= c && c <= 'Z':
				t[k][c] = byte(c + 'a' - 'A')
			case keep(k)&keepDigits != 0 && '0' <= c && c <= '9':
				t[k][c] = byte(c)
			}
		}
	}
	return t
}()

// hexPairs holds the two lower-case hex digits of every byte, as a
// little-endian 16-bit word (one store writes both).
var hexPairs = func() (t [256]uint16) {
	const digits = "0123456789abcdef"
	for i := range t {
		t[i] = uint16(digits[i>>4]) | uint16(digits[i&0xf])<<8
	}
	return t
}()

// appendHex appends the lower-case hex of a digest.
func appendHex(dst []byte, sum *[32]byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, 64)...)
	out := (*[64]byte)(dst[n:])
	for i := 0; i < 32; i += 4 {
		w := uint64(hexPairs[sum[i]]) | uint64(hexPairs[sum[i+1]])<<16 |
			uint64(hexPairs[sum[i+2]])<<32 | uint64(hexPairs[sum[i+3]])<<48
		binary.LittleEndian.PutUint64(out[2*i:], w)
	}
	return dst
}

// normalizeValue normalises one raw value for a hashed key. done reports a
// value to send as is (already a digest, or a raw external_id); "" with a
// nil error means the value was empty.
func normalizeValue(key, raw, country string, opts *Options) (n string, done bool, err error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", false, nil
	}
	if IsSHA256Hex(s) || key == "em" && isMD5Hex(s) {
		return lowerHex(s), true, nil
	}
	switch key {
	case "em":
		n, err = Email(s)
	case "ph":
		n, err = Phone(s, country)
	case "fn", "ln":
		n, err = Name(s)
	case "f5first", "f5last":
		if n, err = Name(s); err == nil {
			n = prefixRunes(n, 5)
		}
	case "fi":
		if n, err = Name(s); err == nil {
			n = prefixRunes(n, 1)
		}
	case "db":
		if opts.Now.IsZero() { // read the clock only when needed
			opts.Now = time.Now()
		}
		n, err = DateOfBirth(s, opts.Now)
	case "dobd", "dobm", "doby":
		n, err = dobPart(key, s)
	case "ge":
		n, err = Gender(s)
	case "ct":
		n, err = City(s)
	case "st":
		n, err = State(s, country)
	case "zp":
		n, err = Zip(s, country)
	case "country":
		n, err = Country(s)
	case "external_id", "app_user_id":
		if !opts.HashExternalID {
			return s, true, nil
		}
		n, err = ExternalID(s, true)
	}
	return n, false, err
}

// userCountry returns the first usable unhashed country in v, or "".
func userCountry(v any) string {
	var scratch [4]string
	vals, _ := values(v, scratch[:0])
	for _, raw := range vals {
		if c, err := Country(raw); err == nil {
			return c
		}
	}
	return ""
}

// values flattens a scalar or a list into strings; bad reports elements of
// an unusable type.
func values(v any, dst []string) (vals []string, bad bool) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if e == nil {
				continue
			}
			s, ok := scalar(e)
			if !ok {
				bad = true
				continue
			}
			dst = append(dst, s)
		}
		return dst, bad
	case []string:
		return append(dst, x...), false
	}
	s, ok := scalar(v)
	if !ok {
		return dst, true
	}
	return append(dst, s), false
}

// scalar renders a string or number as a string. Floats print without an
// exponent, so a phone number or ZIP code decoded as float64 keeps its
// digits.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	case int:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	}
	return "", false
}

// passthrough checks the value of an unhashed member m, and returns the
// member to keep: without a value (empty) when the value was empty. A
// value that stays the same is kept as it came, a string given boxed in
// Value not boxed again; a string made from it is held as a string.
func passthrough(m Member) (Member, error) {
	orig, isString := m.str()
	switch m.Key {
	case "client_ip_address", "fbc", "fbp", "client_user_agent":
		if !isString {
			return Member{}, ErrInvalidType
		}
		s := strings.TrimSpace(orig)
		if s == "" {
			return Member{}, nil
		}
		switch m.Key {
		case "client_ip_address":
			if canonicalIPv4(s) { // as netip would write it
				break
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				return Member{}, ErrInvalidIP
			}
			var buf [64]byte
			if b := a.Unmap().AppendTo(buf[:0]); string(b) != s { // as String()
				s = string(b)
			}
		case "fbc":
			if !ValidFBC(s) {
				return Member{}, ErrInvalidFBC
			}
		case "fbp":
			if !ValidFBP(s) {
				return Member{}, ErrInvalidFBP
			}
		}
		return keptString(m, orig, s), nil
	}
	if isString {
		s := strings.TrimSpace(orig)
		if s == "" {
			return Member{}, nil
		}
		return keptString(m, orig, s), nil
	}
	return m, nil
}

// keptString is m, whose value is the string orig, with the value s: m
// itself when s is orig.
func keptString(m Member, orig, s string) Member {
	if s == orig {
		return m
	}
	return Member{Key: m.Key, Str: s, IsString: true}
}

// canonicalIPv4 reports whether s is an IPv4 address in the form netip
// writes it: four decimal numbers up to 255 without leading zeros. These
// need no parsing to be checked and sent as they are.
func canonicalIPv4(s string) bool {
	fields, n, digits := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || n > 255 {
				return false
			}
			fields++
			n, digits = 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || digits > 0 && n == 0 || digits == 3 {
			return false
		}
		n = n*10 + int(c-'0')
		digits++
	}
	return fields == 4
}
