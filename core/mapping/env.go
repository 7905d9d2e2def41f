package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/switchboard-cdp/switchboard/internal/jsonenc"
)

// Env is one event as expressions see it: Segment's top-level field names
// (see the package documentation) mapped to their values. A field the event
// does not have is absent from the map, so expressions read it as nil.
// Objects are map[string]any, arrays []any, integers that fit in 64 bits
// int, other numbers float64, and the four timestamps time.Time. An Env is
// only read by evaluation, so one may be shared by goroutines.
type Env map[string]any

// maxDepth bounds how deeply an event's JSON may nest.
const maxDepth = 512

// field kinds of the top-level keys NewEnv keeps.
const (
	skipField = iota
	stringField
	timeField
	objectField
)

// field returns the kind of a top-level key, and the key as a constant
// string (so a pooled Env does not keep an old event's bytes alive). The
// names and kinds are those of fieldTypes.
func field(key string) (string, int) {
	name, kind, _ := fieldInfo(key)
	return name, kind
}

// fieldInfo is field with the field's index in fieldList (-1 for other
// keys).
func fieldInfo(key string) (string, int, int) {
	switch key {
	case "type":
		return "type", stringField, 0
	case "event":
		return "event", stringField, 1
	case "name":
		return "name", stringField, 2
	case "category":
		return "category", stringField, 3
	case "userId":
		return "userId", stringField, 4
	case "anonymousId":
		return "anonymousId", stringField, 5
	case "groupId":
		return "groupId", stringField, 6
	case "previousId":
		return "previousId", stringField, 7
	case "messageId":
		return "messageId", stringField, 8
	case "source":
		return "source", stringField, 9
	case "timestamp":
		return "timestamp", timeField, 10
	case "originalTimestamp":
		return "originalTimestamp", timeField, 11
	case "sentAt":
		return "sentAt", timeField, 12
	case "receivedAt":
		return "receivedAt", timeField, 13
	case "properties":
		return "properties", objectField, 14
	case "traits":
		return "traits", objectField, 15
	case "context":
		return "context", objectField, 16
	case "integrations":
		return "integrations", objectField, 17
	}
	return key, skipField, -1
}

// fieldList names the fields by their index.
var fieldList = [...]string{"type", "event", "name", "category", "userId", "anonymousId", "groupId",
	"previousId", "messageId", "source", "timestamp", "originalTimestamp", "sentAt", "receivedAt",
	"properties", "traits", "context", "integrations"}

// NewEnv decodes a stored event (the JSON of core/event.Event) into an
// environment. Only the Segment fields listed in the package documentation
// are kept; other top-level keys are checked for syntax and dropped. A field
// that is null is absent; so is a timestamp that is "" or the zero time
// (0001-01-01T00:00:00Z, which core/event writes for "not set"). A number
// given for a string field is kept as its text. Errors wrap ErrEvent.
func NewEnv(data []byte) (Env, error) {
	env := make(Env, 16)
	if err := decodeEnv(env, data, nil); err != nil {
		return nil, err
	}
	return env, nil
}

// decodeEnv decodes data into the empty env, taking objects and arrays from
// a when it is not nil.
func decodeEnv(env Env, data []byte, a *arena) error {
	d, _ := decoders.Get().(*decoder)
	if d == nil {
		d = new(decoder)
	}
	*d = decoder{s: string(data), stack: d.stack[:0], keys: d.keys[:0], arena: a}
	// About a quarter of the quotes open a string value: size the array
	// boxing them to that (box.go).
	d.boxes.sizes.strs = bytes.Count(data, quote)/4 + 1
	err := d.event(env)
	clear(d.stack)
	clear(d.keys)
	d.s = ""
	d.arena = nil
	d.boxes = boxes{}
	if cap(d.stack) <= 1024 && cap(d.keys) <= 1024 {
		decoders.Put(d)
	}
	if err != nil {
		clear(env)
		return fmt.Errorf("%w: %v", ErrEvent, err)
	}
	return nil
}

// decoder is a JSON decoder specialised for events: it makes the values
// expressions work with directly, shares the bytes of unescaped strings with
// one copy of the input, and builds every object and array at its final
// size.
type decoder struct {
	s     string
	i     int
	depth int
	stack []any // values of the arrays and objects being decoded
	keys  []string
	arena *arena // where objects and arrays come from; nil: make them
	// strict makes skipping check numbers as decoding them would (a
	// projection skips parts of fields that NewEnv decodes).
	strict bool
	boxes  boxes // the decoded strings and numbers (box.go)
}

// arena recycles the objects and arrays of decoded events whose Env does not
// outlive the call that decoded it (Program.Apply).
type arena struct {
	env  Env
	used []map[string]any // handed out since the last reset
	free []map[string]any // cleared, ready to hand out
	slab []any            // arrays are cut from it
}

// maxArenaMaps bounds what an arena keeps between events.
const maxArenaMaps = 1024

func (a *arena) newMap(n int) map[string]any {
	var m map[string]any
	if k := len(a.free); k > 0 {
		m = a.free[k-1]
		a.free = a.free[:k-1]
	} else {
		m = make(map[string]any, n)
	}
	a.used = append(a.used, m)
	return m
}

func (a *arena) newArray(n int) []any {
	if n == 0 {
		// Not a nil slice, which ?? would take for a missing value: [] is
		// an empty array here as in NewEnv, whatever the slab holds.
		return emptyList
	}
	if cap(a.slab)-len(a.slab) < n {
		a.slab = make([]any, 0, max(2*cap(a.slab), n, 64))
	}
	l := len(a.slab)
	a.slab = a.slab[:l+n]
	return a.slab[l : l+n : l+n]
}

// reset clears everything handed out, for the next event. It reports
// whether the arena is small enough to keep.
func (a *arena) reset() bool {
	clear(a.env)
	for _, m := range a.used {
		clear(m)
	}
	a.free = append(a.free, a.used...)
	clear(a.used)
	a.used = a.used[:0]
	clear(a.slab)
	a.slab = a.slab[:0]
	return len(a.free) <= maxArenaMaps && cap(a.slab) <= 64*maxArenaMaps
}

var errEnd = errors.New("unexpected end of JSON")

var quote = []byte{'"'}

// decoders keeps decoders for their scratch space.
var decoders sync.Pool

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: "+format, append([]any{d.i}, args...)...)
}

func (d *decoder) space() { d.i = jsonenc.SpaceEnd(d.s, d.i) }

// event decodes the top-level object.
func (d *decoder) event(env Env) error {
	d.space()
	if d.i >= len(d.s) || d.s[d.i] != '{' {
		if d.i >= len(d.s) {
			return errEnd
		}
		return d.errorf("an event must be a JSON object")
	}
	d.i++
	d.space()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
	} else {
		for {
			d.space()
			key, err := d.key()
			if err != nil {
				return err
			}
			name, kind := field(key)
			switch kind {
			case skipField:
				if _, err := d.value(true); err != nil {
					return err
				}
			default:
				at := d.i
				v, err := d.value(false)
				if err != nil {
					return err
				}
				v, err = typed(kind, name, v)
				if err != nil {
					d.i = at
					return d.errorf("%v", err)
				}
				if v == nil {
					delete(env, name)
				} else {
					env[name] = v
				}
			}
			if more, err := d.next('}'); err != nil {
				return err
			} else if !more {
				break
			}
		}
	}
	d.space()
	if d.i != len(d.s) {
		return d.errorf("unexpected data after the event")
	}
	return nil
}

// typed converts a top-level field to the type the environment declares.
func typed(kind int, key string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case stringField:
		switch x := v.(type) {
		case string:
			return v, nil
		case int:
			return strconv.Itoa(x), nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
		return nil, fmt.Errorf("%s must be a string, not %s", key, typeName(v))
	case timeField:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s must be an RFC 3339 time string, not %s", key, typeName(v))
		}
		if s == "" {
			return nil, nil
		}
		t, err := parseTimestamp(s)
		if err != nil {
			return nil, fmt.Errorf("%s must be an RFC 3339 time such as 2024-06-10T15:30:22.123Z", key)
		}
		if t.IsZero() {
			return nil, nil
		}
		return t, nil
	case objectField:
		if _, ok := v.(map[string]any); ok {
			return v, nil
		}
		return nil, fmt.Errorf("%s must be an object, not %s", key, typeName(v))
	}
	return nil, nil
}

// parseTimestamp is time.Parse(time.RFC3339Nano, s), quicker for the
// usual form of a Segment timestamp.
func parseTimestamp(s string) (time.Time, error) {
	if t, ok := utcTime(s); ok {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// validTimestamp reports whether parseTimestamp accepts s, without making
// the time: for the timestamps a projection only checks.
func validTimestamp(s string) bool {
	if _, ok := readUTC(s); ok {
		return true
	}
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

// utcTime reads an RFC 3339 time in UTC, 2024-06-10T15:30:22.123Z, with
// any number of fractional digits, and gives what time.Parse gives for it.
// ok is false for any other text, even text time.Parse accepts.
func utcTime(s string) (t time.Time, ok bool) {
	u, ok := readUTC(s)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(u.year, time.Month(u.month), u.day, u.hour, u.minute, u.sec, u.nsec, time.UTC), true
}

// utcParts are the parts of a time utcTime reads.
type utcParts struct{ year, month, day, hour, minute, sec, nsec int }

// readUTC is utcTime without making the time (time.Date is a good part of
// its cost).
func readUTC(s string) (u utcParts, ok bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[len(s)-1] != 'Z' ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return u, false
	}
	// two reads two digits, or gives a negative number.
	two := func(i int) int {
		hi, lo := s[i]-'0', s[i+1]-'0'
		if hi > 9 || lo > 9 {
			return -1000
		}
		return int(hi)*10 + int(lo)
	}
	century, year, month, day := two(0), two(2), two(5), two(8)
	hour, minute, sec := two(11), two(14), two(17)
	if century < 0 || year < 0 {
		return u, false
	}
	year += 100 * century
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return u, false
	}
	// time.Parse reads the first nine fractional digits (nanoseconds) and
	// checks that the rest are digits.
	nsec := 0
	if frac := s[19 : len(s)-1]; frac != "" {
		if len(frac) < 2 || frac[0] != '.' {
			return u, false
		}
		for i, c := range []byte(frac[1:]) {
			if c-'0' > 9 {
				return u, false
			}
			if i < 9 {
				nsec = nsec*10 + int(c-'0')
			}
		}
		for n := len(frac) - 1; n < 9; n++ {
			nsec *= 10
		}
	}
	return utcParts{year, month, day, hour, minute, sec, nsec}, true
}

// daysIn is the number of days in a month of a year.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// key reads an object key and the colon after it.
func (d *decoder) key() (string, error) {
	if d.i >= len(d.s) {
		return "", errEnd
	}
	if d.s[d.i] != '"' {
		return "", d.errorf("want a string key")
	}
	// The usual key, in compact JSON: plain, the colon right after it.
	i := d.i + 1
	if j, ok := jsonenc.WordEnd(d.s, i); ok && d.s[j] == '"' && j+1 < len(d.s) && d.s[j+1] == ':' {
		d.i = j + 2
		return d.s[i:j], nil
	}
	k, err := d.str(false)
	if err != nil {
		return "", err
	}
	d.space()
	if d.i >= len(d.s) {
		return "", errEnd
	}
	if d.s[d.i] != ':' {
		return "", d.errorf("want : after an object key")
	}
	d.i++
	return k, nil
}

// value decodes one JSON value. With skip it only checks the syntax and
// returns nil.
func (d *decoder) value(skip bool) (any, error) {
	d.space()
	if d.i >= len(d.s) {
		return nil, errEnd
	}
	switch c := d.s[d.i]; {
	case c == '"':
		s, err := d.str(skip)
		if skip || err != nil {
			return nil, err
		}
		return d.boxes.string(s), nil
	case c == '{':
		return d.object(skip)
	case c == '[':
		return d.array(skip)
	case c == '-' || c >= '0' && c <= '9':
		return d.number(skip)
	case c == 't':
		return d.literal("true", true)
	case c == 'f':
		return d.literal("false", false)
	case c == 'n':
		return d.literal("null", nil)
	}
	return nil, d.errorf("invalid character %q looking for a value", d.s[d.i])
}

func (d *decoder) literal(word string, v any) (any, error) {
	if len(d.s)-d.i < len(word) || d.s[d.i:d.i+len(word)] != word {
		return nil, d.errorf("invalid literal, want %s", word)
	}
	d.i += len(word)
	return v, nil
}

func (d *decoder) enter() error {
	if d.depth++; d.depth > maxDepth {
		return d.errorf("nested more than %d levels deep", maxDepth)
	}
	return nil
}

// next reads what follows an object member (closer '}') or an array
// element (closer ']'): more is true after a comma, false after closer.
func (d *decoder) next(closer byte) (more bool, err error) {
	var ok bool
	switch d.i, more, ok = jsonenc.Next(d.s, d.i, closer); {
	case ok:
		return more, nil
	case d.i >= len(d.s):
		return false, errEnd
	case closer == '}':
		return false, d.errorf("want , or } after an object value")
	}
	return false, d.errorf("want , or ] after an array value")
}

// into is what members reads an object's members into: one of the
// event's fields as a projection reads them, an object of which a
// projection reads some keys, an object decoded whole, or an object only
// checked.
type into struct {
	fields *projection    // the event itself, whose fields are read as fields says
	keys   *pnode         // an object of which these keys are read
	slots  []any          // where fields and keys put what they read
	m      map[string]any // an object decoded whole into this map; nil: onto d.keys and d.stack
	skip   bool           // an object only checked
}

// members reads the members of an object, d.i at its '{', into t.
//
// Its loop runs for every member of every object decoded, so it reads the
// usual member of compact JSON itself, without a call: a plain key
// (printable ASCII without escapes) with the colon right after it, as
// key's shortcut does; a plain string value right after the colon, as
// str's shortcut does; and the comma or '}' right after the value.
// Anything else, whitespace included, goes to the general code (key,
// projectField, projectMember, value, next), which also reports the
// errors.
func (d *decoder) members(t *into) error {
	if t.fields == nil {
		if err := d.enter(); err != nil {
			return err
		}
	}
	s := d.s
	d.i++ // {
	d.space()
	if d.i < len(s) && s[d.i] == '}' {
		d.i++
	} else {
		for {
			key, plain := "", false
			if i := d.i + 1; i < len(s) && s[i-1] == '"' {
				if j, ok := jsonenc.WordEnd(s, i); ok && s[j] == '"' && j+1 < len(s) && s[j+1] == ':' {
					key, plain, d.i = s[i:j], true, j+2
				}
			}
			if !plain {
				d.space()
				var err error
				if key, err = d.key(); err != nil {
					return err
				}
			}
			// What a projection reads of the value (nil: nothing), and
			// for a field of the event the kind of field it is.
			var r *pnode
			kind := skipField
			switch {
			case t.fields != nil:
				var id int
				if _, kind, id = fieldInfo(key); id >= 0 {
					r = t.fields.roots[id]
				}
				// NewEnv decodes the Segment fields whole, so what is
				// skipped in them is checked as if it were decoded.
				d.strict = kind != skipField
			case t.keys != nil:
				r = t.keys.kid(key)
			}
			// The value, if a plain string right after the colon, unless
			// keys are read from it (projectMember marks them as not
			// there).
			str := ""
			plain = false
			if t.keys == nil || r == nil || r.slot >= 0 {
				if i := d.i + 1; i < len(s) && s[i-1] == '"' {
					if j, ok := jsonenc.WordEnd(s, i); ok && s[j] == '"' {
						str, plain, d.i = s[i:j], true, j+1
					}
				}
			}
			if !plain {
				d.space()
			}
			var err error
			switch {
			case t.fields != nil && plain && kind == stringField:
				// The usual field, as fieldString reads it.
				if r != nil {
					t.slots[r.slot] = d.boxes.string(str)
				}
			case t.fields != nil && plain:
				err = d.fieldString(kind, r, str, t.slots)
			case t.fields != nil:
				err = d.projectField(kind, r, t.slots)
			case t.keys != nil && !plain:
				err = d.projectMember(r, t.slots)
			case t.keys != nil:
				if r != nil {
					t.slots[r.slot] = d.boxes.string(str)
				}
			default:
				var v any
				switch {
				case !plain:
					v, err = d.value(t.skip)
				case !t.skip:
					v = d.boxes.string(str)
				}
				switch {
				case err != nil || t.skip:
				case t.m != nil:
					t.m[key] = v
				default:
					d.keys = append(d.keys, key)
					d.stack = append(d.stack, v)
				}
			}
			if err != nil {
				return err
			}
			if d.i < len(s) && s[d.i] == ',' {
				d.i++
				continue
			}
			if d.i < len(s) && s[d.i] == '}' {
				d.i++
				break
			}
			if more, err := d.next('}'); err != nil {
				return err
			} else if !more {
				break
			}
		}
	}
	if t.fields == nil {
		d.depth--
	}
	return nil
}

func (d *decoder) object(skip bool) (any, error) {
	// An arena's maps are reused at the size they grew to, so one is
	// filled as the keys come; other maps are made at their final size
	// from the keys and values gathered on the stacks.
	t := into{skip: skip}
	if !skip && d.arena != nil {
		t.m = d.arena.newMap(0)
	}
	base := len(d.stack)
	kbase := len(d.keys)
	if err := d.members(&t); err != nil {
		return nil, err
	}
	switch {
	case skip:
		return nil, nil
	case t.m != nil:
		return t.m, nil
	}
	keys, vals := d.keys[kbase:], d.stack[base:]
	m := make(map[string]any, len(keys))
	for i, k := range keys {
		m[k] = vals[i]
	}
	clear(vals)
	d.stack = d.stack[:base]
	d.keys = d.keys[:kbase]
	return m, nil
}

func (d *decoder) array(skip bool) (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.i++ // [
	base := len(d.stack)
	d.space()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
	} else {
		for {
			v, err := d.value(skip)
			if err != nil {
				return nil, err
			}
			if !skip {
				d.stack = append(d.stack, v)
			}
			if more, err := d.next(']'); err != nil {
				return nil, err
			} else if !more {
				break
			}
		}
	}
	d.depth--
	if skip {
		return nil, nil
	}
	vals := d.stack[base:]
	var a []any
	if d.arena != nil {
		a = d.arena.newArray(len(vals))
	} else {
		a = make([]any, len(vals))
	}
	copy(a, vals)
	clear(vals)
	d.stack = d.stack[:base]
	return d.boxes.list(a), nil
}

// number decodes a JSON number: an int when it is an integer that fits,
// else a float64.
func (d *decoder) number(skip bool) (any, error) {
	start := d.i
	s := d.s
	i := d.i
	if s[i] == '-' {
		i++
	}
	// The digits are gathered into m as they are read, for the integers
	// and decimals short enough to be exact in it (it may overflow on
	// longer ones, which are parsed from the text).
	var m uint64
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			m = m*10 + uint64(s[i]-'0')
			i++
		}
	default:
		d.i = i
		return nil, d.errorf("invalid number")
	}
	integer, frac, exp := true, 0, false // frac: digits after the point
	if i < len(s) && s[i] == '.' {
		integer = false
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.i = i
			return nil, d.errorf("invalid number: want a digit after the decimal point")
		}
		for point := i; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			m = m*10 + uint64(s[i]-'0')
			frac = i + 1 - point
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		integer, exp = false, true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			d.i = i
			return nil, d.errorf("invalid number: want a digit in the exponent")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	d.i = i
	if skip && !d.strict {
		return nil, nil
	}
	text := s[start:i]
	neg := text[0] == '-'
	digits := len(text) // with the point
	if neg {
		digits--
	}
	switch {
	case integer && digits <= 18:
		// At most 18 digits always fits in an int64.
		if skip {
			return nil, nil
		}
		if neg {
			return d.boxes.int(-int(m)), nil
		}
		return d.boxes.int(int(m)), nil
	case integer:
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			if skip {
				return nil, nil
			}
			return d.boxes.int(int(n)), nil
		}
	case !exp && digits <= 16:
		// A decimal of at most 15 digits (prices, revenues), as
		// ParseFloat gives it: m and the power of ten it is divided by
		// are exact float64s, so the one division rounds correctly.
		if skip {
			return nil, nil
		}
		f := float64(m) / pow10[frac]
		if neg {
			f = -f
		}
		return d.boxes.float(f), nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		d.i = start
		return nil, d.errorf("number %s is out of range", text)
	}
	if skip {
		return nil, nil
	}
	return d.boxes.float(f), nil
}

// pow10 holds the powers of ten number divides decimals by, all exact.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// str decodes a string starting at its opening quote. Strings without
// escapes share the input's memory; invalid UTF-8 becomes U+FFFD, as in
// encoding/json.
func (d *decoder) str(skip bool) (string, error) {
	d.i++ // "
	start := d.i
	s := d.s
	i, found := jsonenc.WordEnd(s, start)
	if !found {
		i = jsonenc.SkipPlain(s, i)
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			if skip {
				return "", nil
			}
			return s[start:i], nil
		case c == '\\':
			return d.slowStr(start, skip)
		case c < 0x20:
			d.i = i
			return "", d.errorf("control character in a string")
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return d.slowStr(start, skip)
			}
			i = jsonenc.SkipPlain(s, i+size)
		}
	}
	d.i = len(s)
	return "", errEnd
}

// slowStr decodes a string with escapes or invalid UTF-8.
func (d *decoder) slowStr(start int, skip bool) (string, error) {
	s := d.s
	b := make([]byte, 0, 32)
	for i := start; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			if skip {
				return "", nil
			}
			return string(b), nil
		case c == '\\':
			if i+1 >= len(s) {
				d.i = len(s)
				return "", errEnd
			}
			e := s[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(s, i)
				if !ok {
					d.i = i
					return "", d.errorf("invalid \\u escape")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2, ok := rune(-1), false
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2, ok = hex4(s, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
						i += 6
						r = dec
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				d.i = i - 1
				return "", d.errorf("invalid escape \\%c", e)
			}
		case c < 0x20:
			d.i = i
			return "", d.errorf("control character in a string")
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	d.i = len(s)
	return "", errEnd
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}
