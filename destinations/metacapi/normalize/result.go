package normalize

import (
	"crypto/sha256"
	"iter"
	"slices"
	"strings"

	"github.com/switchboard-cdp/switchboard/internal/jsonenc"
)

// hashedOrder lists the hashed keys in byte order, the order JSON writes
// them in; a key's index here is its slot in a [Result].
var hashedOrder = [...]string{
	"app_user_id", "country", "ct", "db", "dobd", "dobm", "doby", "em", "external_id",
	"f5first", "f5last", "fi", "fn", "ge", "ln", "ph", "st", "zp",
}

const (
	numHashed   = len(hashedOrder)
	slotCountry = 1
)

// hashedJSONKeys are the hashed keys as JSON object keys, with the colon.
var hashedJSONKeys = func() (out [numHashed]string) {
	for i, k := range hashedOrder {
		out[i] = `"` + k + `":`
	}
	return out
}()

// hashedSlot returns key's index in hashedOrder, or -1 for a key that is
// not hashed. A switch is faster than a map lookup here.
func hashedSlot(key string) int {
	switch key {
	case "app_user_id":
		return 0
	case "country":
		return 1
	case "ct":
		return 2
	case "db":
		return 3
	case "dobd":
		return 4
	case "dobm":
		return 5
	case "doby":
		return 6
	case "em":
		return 7
	case "external_id":
		return 8
	case "f5first":
		return 9
	case "f5last":
		return 10
	case "fi":
		return 11
	case "fn":
		return 12
	case "ge":
		return 13
	case "ln":
		return 14
	case "ph":
		return 15
	case "st":
		return 16
	case "zp":
		return 17
	}
	return -1
}

// hashedValue is one value of a hashed key: a SHA-256 digest (hashed, or
// given already hashed), or a string sent as it is (an MD5 digest of an
// email address, or an external ID sent raw). Keeping the digest rather
// than its hex saves a string per value; the hex is written straight into
// the JSON.
type hashedValue struct {
	raw   string
	sum   [32]byte
	isSum bool
}

// Sizes of the arrays a Result holds its values in. Larger user_data
// spill into slices on the heap.
const (
	inlineHashed   = 24
	inlineUnhashed = 16
)

// Result is one user_data object normalised and hashed for Meta by
// [Result.Normalize]: what [UserData] gives as a map, held without one so
// that an event costs no allocations in the common case (a Result can live
// on its user's stack, and holds digests, not their hex). The zero value
// is an empty user_data.
type Result struct {
	drops []Drop

	// Values of hashed keys, grouped by slot: slot k holds
	// hashed[end[k-1]:end[k]]. They are in hashedArr unless there were
	// more than fit, then all are in hashedBig.
	end       [numHashed]uint16
	nHashed   int
	hashedArr [inlineHashed]hashedValue
	hashedBig []hashedValue

	// Unhashed keys and their values, sorted by key, likewise.
	nUnhashed   int
	unhashedArr [inlineUnhashed]Member
	unhashedBig []Member
}

// Member is one member of a user_data object: its key and its value, a
// string in Str (with IsString set) or any other value in Value. A string
// held as itself is not boxed in an interface, which costs an allocation,
// and most values are strings. [Result.NormalizeMembers] reads user_data
// as members, and [Result.Unhashed] gives the unhashed ones so.
type Member struct {
	Key      string
	Str      string
	Value    any
	IsString bool
}

// str returns m's value when it is a string.
func (m *Member) str() (string, bool) {
	if m.IsString {
		return m.Str, true
	}
	s, ok := m.Value.(string)
	return s, ok
}

// empty reports whether m has no value (nil).
func (m *Member) empty() bool { return !m.IsString && m.Value == nil }

// value returns m's value as an interface.
func (m *Member) value() any {
	if m.IsString {
		return m.Str
	}
	return m.Value
}

// inlineMembers is how many members of a map Normalize passes on without
// allocating.
const inlineMembers = 24

// Normalize normalises and hashes the user_data object in into r, replacing
// what r held, exactly as [UserData] does (which see for the rules); the
// dropped values are in [Result.Drops]. in is not modified.
func (r *Result) Normalize(in map[string]any, opts Options) {
	var buf [inlineMembers]Member
	members := buf[:0]
	for k, v := range in {
		members = append(members, Member{Key: k, Value: v})
	}
	r.NormalizeMembers(members, opts)
}

// NormalizeMembers is [Result.Normalize] for the user_data object of the
// given members, each key at most once, in any order (it affects only the
// order of the drops): for a caller that decodes user_data itself, so
// that it need not build a map of it. in is not modified or kept.
func (r *Result) NormalizeMembers(in []Member, opts Options) {
	r.drops = nil
	r.end = [numHashed]uint16{}
	r.nHashed, r.hashedBig = 0, nil
	r.nUnhashed, r.unhashedBig = 0, nil

	// First pass: check the unhashed keys, and note the values of the
	// hashed ones by slot, so that they can be normalised in key order
	// once the country is known, without looking any key up again.
	var raws [numHashed]*Member
	for i := range in {
		m := &in[i]
		if m.empty() {
			continue
		}
		if k := hashedSlot(m.Key); k >= 0 {
			raws[k] = m
			continue
		}
		val, err := passthrough(*m)
		if err != nil {
			r.drops = append(r.drops, Drop{m.Key, err.Error()})
			continue
		}
		if !val.empty() {
			r.set(val)
		}
	}

	// The country reads phone numbers, states and ZIP codes. Given as one
	// string, its code is also what normalizeInto would make of it (unless
	// it is a digest), so that is not worked out twice.
	var country, countryCode string
	if m := raws[slotCountry]; m != nil {
		if s, ok := m.str(); ok {
			if c, err := Country(s); err == nil {
				country = c
				if !IsSHA256Hex(strings.TrimSpace(s)) {
					countryCode = c
				}
			}
		} else {
			country = userCountry(m.Value)
		}
	}
	if country == "" && opts.DefaultCountry != "" {
		country, _ = Country(opts.DefaultCountry)
	}
	// Normalised values are written into norm, hashed from there and
	// forgotten, so a value costs no string of its own.
	var (
		normBuf [256]byte
		scratch [4]string
	)
	for k, m := range raws {
		if m == nil {
			r.end[k] = uint16(r.nHashed)
			continue
		}
		key := hashedOrder[k]
		start := r.nHashed
		vals, bad := scratch[:0], false
		if s, ok := m.str(); ok {
			vals = append(vals, s)
		} else {
			vals, bad = values(m.Value, vals)
		}
		if bad {
			r.drops = append(r.drops, Drop{key, ErrInvalidType.Error()})
		}
		for _, raw := range vals {
			var (
				norm, n = normBuf[:0], ""
				done    bool
				err     error
			)
			if k == slotCountry && countryCode != "" {
				norm = append(norm, countryCode...)
			} else {
				norm, n, done, err = normalizeInto(norm, key, raw, country, &opts)
			}
			// The value is made in place, in the next free entry, and kept
			// (counted) unless it is a duplicate.
			hv := r.next()
			switch {
			case err != nil:
				r.drops = append(r.drops, Drop{key, err.Error()})
				continue
			case done && len(n) == 2*len(hv.sum) && IsSHA256Hex(n):
				// A digest given already hashed: its bytes, so that it
				// is written lower-case and found equal to the same
				// value hashed here.
				decodeHex(&hv.sum, n)
				*hv = hashedValue{sum: hv.sum, isSum: true}
			case done:
				*hv = hashedValue{raw: n}
			case len(norm) > 0:
				hv.raw, hv.sum, hv.isSum = "", sha256.Sum256(norm), true
			default:
				continue
			}
			if !slices.Contains(r.hashedValues()[start:], *hv) {
				r.nHashed++
			}
		}
		r.end[k] = uint16(r.nHashed)
	}
}

// next returns the entry after the hashed values, for the next value,
// moving the values to the heap when the array is full. Its content is
// undefined.
func (r *Result) next() *hashedValue {
	if r.hashedBig == nil && r.nHashed < len(r.hashedArr) {
		return &r.hashedArr[r.nHashed]
	}
	if r.hashedBig == nil {
		r.hashedBig = make([]hashedValue, r.nHashed, 2*len(r.hashedArr))
		copy(r.hashedBig, r.hashedArr[:])
	}
	if r.nHashed == len(r.hashedBig) {
		r.hashedBig = append(r.hashedBig, hashedValue{})
	}
	return &r.hashedBig[r.nHashed]
}

// hashedValues returns the values of all hashed keys.
func (r *Result) hashedValues() []hashedValue {
	if r.hashedBig != nil {
		return r.hashedBig[:r.nHashed]
	}
	return r.hashedArr[:r.nHashed]
}

// slot returns the values of slot k.
func (r *Result) slot(k int) []hashedValue {
	start := 0
	if k > 0 {
		start = int(r.end[k-1])
	}
	return r.hashedValues()[start:r.end[k]]
}

// Drops returns the values Normalize left out, and why.
func (r *Result) Drops() []Drop { return r.drops }

// Has reports whether r holds a value for key.
func (r *Result) Has(key string) bool {
	if k := hashedSlot(key); k >= 0 {
		return len(r.slot(k)) > 0
	}
	for _, f := range r.Unhashed() {
		if f.Key == key {
			return true
		}
	}
	return false
}

// Set sets the value of key, an unhashed key, to v as it is: for values
// the caller derives itself, such as an fbc built from the page URL. Set
// ignores hashed keys, whose values only Normalize makes.
func (r *Result) Set(key string, v any) { r.set(Member{Key: key, Value: v}) }

// SetString is Set for a string value, which it holds without boxing it.
func (r *Result) SetString(key, s string) { r.set(Member{Key: key, Str: s, IsString: true}) }

// set sets the value of m.Key to m's, unless m.Key is hashed.
func (r *Result) set(m Member) {
	if hashedSlot(m.Key) >= 0 {
		return
	}
	fields := r.Unhashed()
	i := 0
	for i < len(fields) && fields[i].Key < m.Key {
		i++
	}
	if i < len(fields) && fields[i].Key == m.Key {
		fields[i] = m
		return
	}
	// Insert at i, keeping the fields sorted.
	switch {
	case r.unhashedBig == nil && r.nUnhashed < len(r.unhashedArr):
		copy(r.unhashedArr[i+1:r.nUnhashed+1], r.unhashedArr[i:r.nUnhashed])
		r.unhashedArr[i] = m
	default:
		if r.unhashedBig == nil {
			r.unhashedBig = make([]Member, r.nUnhashed, 2*len(r.unhashedArr))
			copy(r.unhashedBig, r.unhashedArr[:])
		}
		r.unhashedBig = append(r.unhashedBig, Member{})
		copy(r.unhashedBig[i+1:], r.unhashedBig[i:r.nUnhashed])
		r.unhashedBig[i] = m
	}
	r.nUnhashed++
}

// Unhashed returns the unhashed keys and their values, sorted by key. The
// slice is r's own: it is good until r changes.
func (r *Result) Unhashed() []Member {
	if r.unhashedBig != nil {
		return r.unhashedBig
	}
	return r.unhashedArr[:r.nUnhashed]
}

// HashedKeys yields the hashed keys r holds values for, in byte order.
func (r *Result) HashedKeys() iter.Seq[string] {
	return func(yield func(string) bool) {
		for k, key := range hashedOrder {
			if len(r.slot(k)) > 0 && !yield(key) {
				return
			}
		}
	}
}

// Map returns r as the map [UserData] returns: each hashed key with a
// []string of its values, each unhashed key with its value.
func (r *Result) Map() map[string]any {
	fields, all := r.Unhashed(), r.hashedValues()
	n := len(fields)
	for range r.HashedKeys() {
		n++
	}
	out := make(map[string]any, n)
	for _, f := range fields {
		out[f.Key] = f.value()
	}
	// The hex of all digests in one string, the lists in one array.
	hexBuf := make([]byte, 0, 64*len(all))
	for i := range all {
		if all[i].isSum {
			hexBuf = appendHex(hexBuf, &all[i].sum)
		}
	}
	hexes := string(hexBuf)
	lists := make([]string, len(all))
	for i := range all {
		if all[i].isSum {
			lists[i], hexes = hexes[:64], hexes[64:]
		} else {
			lists[i] = all[i].raw
		}
	}
	start := 0
	for k, key := range hashedOrder {
		if end := int(r.end[k]); end > start {
			out[key] = lists[start:end:end]
			start = end
		}
	}
	return out
}

// AppendJSON appends r as a JSON object to dst, exactly as json.Marshal
// writes [Result.Map] (keys sorted, HTML characters escaped in strings).
// appendValue appends the value of an unhashed key likewise; when it
// reports false, so does AppendJSON, and the caller should encode
// [Result.Map] some other way.
func (r *Result) AppendJSON(dst []byte, appendValue func([]byte, any) ([]byte, bool)) ([]byte, bool) {
	dst = append(dst, '{')
	fields := r.Unhashed()
	f, k := 0, 0
	for n := 0; ; n++ {
		for k < numHashed && len(r.slot(k)) == 0 {
			k++
		}
		if f == len(fields) && k == numHashed {
			break
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		// Hashed and unhashed keys differ, so one of the two comes first.
		if f < len(fields) && (k == numHashed || fields[f].Key < hashedOrder[k]) {
			dst = jsonenc.AppendString(dst, fields[f].Key, true)
			dst = append(dst, ':')
			if fields[f].IsString {
				dst = jsonenc.AppendString(dst, fields[f].Str, true)
			} else {
				var ok bool
				if dst, ok = appendValue(dst, fields[f].Value); !ok {
					return dst, false
				}
			}
			f++
			continue
		}
		dst = append(dst, hashedJSONKeys[k]...)
		dst = append(dst, '[')
		for i, v := range r.slot(k) {
			if i > 0 {
				dst = append(dst, ',')
			}
			if v.isSum {
				dst = append(dst, '"')
				dst = appendHex(dst, &v.sum)
				dst = append(dst, '"')
			} else {
				dst = jsonenc.AppendString(dst, v.raw, true)
			}
		}
		dst = append(dst, ']')
		k++
	}
	return append(dst, '}'), true
}

// decodeHex decodes s, 64 hex digits of either case, into sum.
func decodeHex(sum *[32]byte, s string) {
	for i := range sum {
		sum[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
