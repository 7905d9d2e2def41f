package normalize

import (
	"crypto/sha256"
	"encoding/hex"
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

// hashedKeys are the user_data keys Meta requires hashed, with their
// normaliser.
var hashedKeys = map[string]bool{
	"em": true, "ph": true, "fn": true, "ln": true, "db": true, "ge": true,
	"ct": true, "st": true, "zp": true, "country": true, "external_id": true,
	"f5first": true, "f5last": true, "fi": true, "dobd": true, "dobm": true,
	"doby": true, "app_user_id": true,
}

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
func UserData(in map[string]any, opts Options) (out map[string]any, drops []Drop) {
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
		val, err := passthrough(key, v)
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

// passthrough checks an unhashed value. A nil value with a nil error means
// the value was empty.
func passthrough(key string, v any) (any, error) {
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

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
