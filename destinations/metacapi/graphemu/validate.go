package graphemu

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event ages Meta accepts (ref §2).
const (
	MaxEventAge        = 7 * 24 * time.Hour
	MaxOfflineEventAge = 62 * 24 * time.Hour // action_source=physical_store
)

// ActionSources are the allowed action_source values (ref §3).
var actionSources = map[string]bool{
	"email": true, "website": true, "app": true, "phone_call": true, "chat": true,
	"physical_store": true, "system_generated": true, "business_messaging": true, "other": true,
}

// hashedKeys must carry SHA-256 hex (ref §4). external_id is accepted
// hashed or raw (ref §4: "Accept both forms").
var hashedKeys = map[string]bool{
	"em": true, "ph": true, "fn": true, "ln": true, "db": true, "ge": true, "ct": true, "st": true,
	"zp": true, "country": true, "f5first": true, "f5last": true, "fi": true, "dobd": true,
	"dobm": true, "doby": true,
}

// plainKeys are customer-information keys that are never hashed (ref §4).
var plainKeys = map[string]bool{
	"external_id": true, "client_ip_address": true, "client_user_agent": true, "fbc": true, "fbp": true,
	"subscription_id": true, "fb_login_id": true, "lead_id": true, "anon_id": true, "madid": true,
	"page_id": true, "ctwa_clid": true, "page_scoped_user_id": true, "ig_account_id": true, "ig_sid": true,
	"whatsapp_business_account_id": true, "app_user_id": true,
}

// invalidCombinations: an event whose customer information is only one of
// these sets, or a subset of one, is invalid since v13.0 (ref §4).
var invalidCombinations = [][]string{
	{"ct", "country", "st", "zp", "ge", "client_user_agent"},
	{"db", "client_user_agent"},
	{"fn", "ge"},
	{"ln", "ge"},
}

var customerSegments = map[string]bool{
	"new_customer_to_business": true, "new_customer_to_business_line": true,
	"new_customer_to_product_area": true, "new_customer_to_medium": true,
	"existing_customer_to_business": true, "existing_customer_to_business_line": true,
	"existing_customer_to_product_area": true, "existing_customer_to_medium": true,
	"customer_in_loyalty_program": true,
}

// Problem is one reason an event was invalid. The emulator collects every
// problem in a batch and answers with the first, as Meta answers with one
// error for the whole batch (ref §2).
type Problem struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Reason  string `json:"reason"`
	Code    int    `json:"code"`
	Subcode int    `json:"error_subcode,omitempty"`
}

// err builds the Graph error for p: Meta's recorded replies for the
// documented subcodes (ref §7), a "(#100) param data[i].field …" message
// otherwise (the wording of those is not in the reference).
func (p Problem) err() *Error {
	switch p.Subcode {
	case SubcodeTooOld:
		return errUserFacing(SubcodeTooOld, msgTooOldTitle, msgTooOldUser)
	case SubcodeCustomerInfo:
		return errUserFacing(SubcodeCustomerInfo, msgCustomerInfoTitle, msgCustomerInfoUser)
	case SubcodeClickID:
		return errUserFacing(SubcodeClickID, msgClickIDTitle, msgClickIDUser)
	}
	path := fmt.Sprintf("data[%d]", p.Index)
	if p.Field != "" {
		path += "." + p.Field
	}
	return errInvalidParam(fmt.Sprintf("param %s %s", path, p.Reason))
}

type validator struct {
	now           time.Time
	future        time.Duration
	allowUnhashed bool
}

// checker collects a batch's problems and notes; index is the event being
// checked. members is scratch space reused from event to event.
type checker struct {
	index    int
	problems []Problem
	notes    []string
	members  []member
}

func (c *checker) fail(field, reason string) {
	c.problems = append(c.problems, Problem{Index: c.index, Field: field, Reason: reason, Code: CodeInvalidParam})
}

func (c *checker) failSub(field, reason string, subcode int) {
	c.problems = append(c.problems, Problem{Index: c.index, Field: field, Reason: reason, Code: CodeInvalidParam, Subcode: subcode})
}

func (c *checker) note(format string, a ...any) {
	c.notes = append(c.notes, fmt.Sprintf("data[%d]: ", c.index)+fmt.Sprintf(format, a...))
}

// eventFields are an event's members the validator reads; a key given twice
// counts once, with its last value, as in a decoded map.
type eventFields struct {
	name, source, time, id, url jval
	user, custom, segment, app  jval
	dpo, dpoCountry, dpoState   jval
}

// event checks one server event against ref §2–§4 and returns what the
// emulator records of it; its problems and non-fatal diagnostics go to c.
// The event is el of d.
func (v validator) event(c *checker, d *doc, i int, el jval) Event {
	c.index = i
	ev := Event{Index: i, Raw: d.raw(el)}
	if el.kind != jObject {
		c.fail("", "must be a JSON object")
		return ev
	}
	var f eventFields
	kids := d.children(el)
	for j := 0; j+1 < len(kids); j += 2 {
		val := kids[j+1]
		switch string(d.keyBytes(kids[j])) {
		case "event_name":
			f.name = val
		case "action_source":
			f.source = val
		case "event_time":
			f.time = val
		case "event_id":
			f.id = val
		case "event_source_url":
			f.url = val
		case "user_data":
			f.user = val
		case "custom_data":
			f.custom = val
		case "customer_segmentation":
			f.segment = val
		case "app_data":
			f.app = val
		case "data_processing_options":
			f.dpo = val
		case "data_processing_options_country":
			f.dpoCountry = val
		case "data_processing_options_state":
			f.dpoState = val
		}
	}

	// event_name: required string (ref §3).
	if f.name.kind != jString || emptyStr(f.name) {
		c.fail("event_name", "is required and must be a non-empty string")
	} else {
		ev.EventName = d.internText(f.name)
	}

	// action_source: required, one of the allowed set (ref §3).
	src := ""
	if f.source.kind == jString {
		src = d.internText(f.source)
	}
	switch {
	case src == "":
		c.fail("action_source", "is required")
	case !actionSources[src]:
		c.fail("action_source", fmt.Sprintf("must be one of email, website, app, phone_call, chat, physical_store, system_generated, business_messaging, other; got %q", src))
	}
	ev.ActionSource = src

	// event_time: required unix seconds, at most 7 days old (62 for
	// physical_store), not in the future (ref §2, §3).
	if t, ok := d.intVal(f.time); !ok {
		c.fail("event_time", "is required and must be an integer unix timestamp in seconds")
	} else {
		ev.EventTime = t
		at := time.Unix(t, 0)
		maxAge := MaxEventAge
		if src == "physical_store" {
			maxAge = MaxOfflineEventAge
		}
		switch {
		case v.now.Sub(at) > maxAge:
			c.failSub("event_time", fmt.Sprintf("is older than %s", maxAge), SubcodeTooOld)
		case at.Sub(v.now) > v.future:
			// Rejected (ref §2 [ADS-3]); no subcode is documented.
			c.fail("event_time", fmt.Sprintf("is %s in the future (tolerance %s); event_time must be unix seconds at or before the time of sending", at.Sub(v.now).Round(time.Second), v.future))
		}
	}

	// event_id: optional string; numbers are accepted as Graph coerces them.
	if f.id.kind != jAbsent && f.id.kind != jNull {
		if f.id.kind == jString {
			ev.EventID = d.text(f.id)
		} else if n, ok := d.intVal(f.id); ok {
			ev.EventID = strconv.FormatInt(n, 10)
		} else {
			c.fail("event_id", "must be a string")
		}
	}

	// event_source_url: required for website (ref §3).
	if src == "website" && (f.url.kind != jString || emptyStr(f.url)) {
		c.fail("event_source_url", "is required for action_source website")
	}

	v.userData(c, d, f.user, src)
	v.customData(c, d, f.custom, ev.EventName)
	v.other(c, d, &f, src)
	return ev
}

// member is one key of an object and its value.
type member struct {
	key []byte
	val jval
}

// userData checks user_data (ref §3, §4).
func (v validator) userData(c *checker, d *doc, ud jval, src string) {
	if ud.kind == jAbsent || ud.kind == jNull {
		c.fail("user_data", "is required")
		return
	}
	if ud.kind != jObject {
		c.fail("user_data", "must be a JSON object")
		return
	}
	// Keys in sorted order; of a key given twice the last value counts.
	// Senders that marshal maps send them sorted, unique and plain: then
	// the keys are read in place.
	kids := d.children(ud)
	inOrder := true
	for j := 0; j+1 < len(kids); j += 2 {
		if kids[j].esc || (j >= 2 && bytes.Compare(d.strBytes(kids[j-2]), d.strBytes(kids[j])) >= 0) {
			inOrder = false
			break
		}
	}
	var present keySet
	before := len(c.problems)
	if inOrder {
		for j := 0; j+1 < len(kids); j += 2 {
			v.userKey(c, d, d.strBytes(kids[j]), kids[j+1], &present)
		}
	} else {
		ms := c.members[:0]
		for j := 0; j+1 < len(kids); j += 2 {
			ms = append(ms, member{d.keyBytes(kids[j]), kids[j+1]})
		}
		slices.SortStableFunc(ms, func(a, b member) int { return bytes.Compare(a.key, b.key) })
		c.members = ms
		for j, m := range ms {
			if j+1 < len(ms) && bytes.Equal(ms[j+1].key, m.key) {
				continue
			}
			v.userKey(c, d, m.key, m.val, &present)
		}
	}
	if src == "website" && !present.has("client_user_agent") {
		c.fail("user_data.client_user_agent", "is required for action_source website")
	}
	if len(c.problems) > before {
		// A key was refused; the customer-information verdict below
		// would only repeat it.
		return
	}
	if present == 0 {
		c.failSub("user_data", "has no customer information parameter", SubcodeCustomerInfo)
		return
	}
	for _, combo := range invalidCombinationSets {
		if present&^combo == 0 {
			c.failSub("user_data", "holds only "+strings.Join(present.names(), "+")+", a combination too broad to match (ref §4)", SubcodeCustomerInfo)
			return
		}
	}
}

// userKey checks one user_data key and its value, adding the key to
// present when it carries usable customer information.
func (v validator) userKey(c *checker, d *doc, key []byte, val jval, present *keySet) {
	var buf [4][]byte // stringList's scratch, on the stack
	info, known := userKeys[string(key)]
	switch {
	case known && info.kind == keyHashed:
		vals, ok := d.stringList(val, buf[:0])
		if !ok {
			c.fail("user_data."+string(key), "must be a string or a list of strings")
			return
		}
		usable := false
		for _, s := range vals {
			if len(s) == 0 {
				continue
			}
			if info.external || isHex64(s) {
				usable = true
				continue
			}
			if v.allowUnhashed {
				c.note("%s is not SHA-256 hex; ignored", "user_data."+string(key))
				continue
			}
			// Meta refuses unhashed contact information (ref §4); the
			// error text is not in the reference.
			c.fail("user_data."+string(key), "must be hashed: SHA-256 as 64 lowercase hex characters")
			break
		}
		if usable {
			*present |= info.bit
		}
	case known && info.kind == keyIP:
		s, ok := d.scalar(val)
		if !ok || len(s) == 0 {
			return
		}
		if !validIP(s) {
			c.fail("user_data."+string(key), "must be a valid IPv4 or IPv6 address")
			return
		}
		*present |= info.bit
	case known && info.kind == keyCookie:
		s, ok := d.scalar(val)
		if !ok || len(s) == 0 {
			return
		}
		if !validClickCookie(s) {
			if string(key) == "fbc" {
				// 100/2804001, e.g. an _fbc without its fbclid (ref §7 [ADSC-6]).
				c.failSub("user_data.fbc", "must be fb.{subdomainIndex}.{creationTime}.{fbclid} with an optional fifth segment", SubcodeClickID)
				return
			}
			// Meta reports a malformed fbp as a diagnostic, not an
			// error (ref §10 [MC-2]).
			c.note("%s %q is malformed; Meta would show an Invalid fbp diagnostic", "user_data."+string(key), string(s))
			return
		}
		*present |= info.bit
	case known && info.kind == keyPlain:
		if s, ok := d.scalar(val); ok && len(s) > 0 {
			*present |= info.bit
		} else if vals, ok := d.stringList(val, buf[:0]); ok {
			for _, s := range vals {
				if len(s) > 0 {
					*present |= info.bit
					break
				}
			}
		}
	default:
		c.note("unknown user_data key %q ignored (Meta's keys are em, ph, fn, …; ref §4)", string(key))
	}
}

// customData checks the requirements of standard events: Purchase needs
// value and currency (ref §3, §5, from the Pixel reference). Meta's reply
// for a violation is not in the reference.
func (v validator) customData(c *checker, d *doc, cd jval, name string) {
	if cd.kind != jAbsent && cd.kind != jNull && cd.kind != jObject {
		c.fail("custom_data", "must be a JSON object")
		return
	}
	var value, currency, segment jval
	kids := d.children(cd)
	for j := 0; j+1 < len(kids); j += 2 {
		switch string(d.keyBytes(kids[j])) {
		case "value":
			value = kids[j+1]
		case "currency":
			currency = kids[j+1]
		case "customer_segmentation":
			segment = kids[j+1]
		}
	}
	if name == "Purchase" {
		if _, ok := d.floatVal(value); !ok {
			c.fail("custom_data.value", "is required for Purchase and must be a number")
		}
		if currency.kind != jString || emptyStr(currency) {
			c.fail("custom_data.currency", "is required for Purchase")
		}
	}
	if seg, ok := d.stringVal(segment); ok && !customerSegments[seg] {
		c.fail("custom_data.customer_segmentation", fmt.Sprintf("has unknown value %q", seg))
	}
}

// other checks app_data for app events and the LDU fields (ref §3).
func (v validator) other(c *checker, d *doc, f *eventFields, src string) {
	if seg, ok := d.stringVal(f.segment); ok && !customerSegments[seg] {
		c.fail("customer_segmentation", fmt.Sprintf("has unknown value %q", seg))
	}
	if src == "app" {
		var ad struct {
			Extinfo []json.RawMessage `json:"extinfo"`
		}
		switch {
		case f.app.kind == jAbsent || f.app.kind == jNull:
			c.fail("app_data", "is required for action_source app")
		case json.Unmarshal(d.raw(f.app), &ad) != nil:
			c.fail("app_data", "must be a JSON object")
		case len(ad.Extinfo) != 16:
			c.fail("app_data.extinfo", fmt.Sprintf("must have all 16 slots, has %d", len(ad.Extinfo)))
		}
	}
	if f.dpo.kind != jAbsent && f.dpo.kind != jNull {
		opts, ok := d.stringList(f.dpo, nil)
		if !ok {
			c.fail("data_processing_options", "must be a list of strings")
			return
		}
		ldu := false
		for _, o := range opts {
			switch string(o) {
			case "LDU":
				ldu = true
			case "":
			default:
				c.fail("data_processing_options", fmt.Sprintf("has unknown option %q", string(o)))
			}
		}
		country, hasCountry := d.intVal(f.dpoCountry)
		if ldu && !hasCountry {
			c.fail("data_processing_options_country", "is required when data_processing_options has LDU")
		}
		if hasCountry && country != 0 {
			if _, ok := d.intVal(f.dpoState); !ok {
				c.fail("data_processing_options_state", "is required when data_processing_options_country is set")
			}
		}
	}
}

// keySet is a set of the customer-information keys (hashedKeys, plainKeys),
// one bit each, bits in the keys' sorted order.
type keySet uint64

type keyKind uint8

const (
	keyHashed keyKind = iota + 1 // hashedKeys and external_id: a string or a list of strings
	keyIP                        // client_ip_address
	keyCookie                    // fbc, fbp
	keyPlain                     // the other plainKeys
)

type keyInfo struct {
	kind     keyKind
	external bool // external_id: accepted hashed or raw
	bit      keySet
}

var (
	userKeys               = map[string]keyInfo{}
	userKeyNames           []string // by bit
	invalidCombinationSets []keySet
)

func init() {
	for k := range hashedKeys {
		userKeyNames = append(userKeyNames, k)
	}
	for k := range plainKeys {
		userKeyNames = append(userKeyNames, k)
	}
	slices.Sort(userKeyNames)
	userKeyNames = slices.Compact(userKeyNames)
	if len(userKeyNames) > 64 {
		panic("graphemu: too many user_data keys for a keySet")
	}
	for i, k := range userKeyNames {
		info := keyInfo{bit: 1 << i}
		switch {
		case hashedKeys[k] || k == "external_id":
			info.kind, info.external = keyHashed, k == "external_id"
		case k == "client_ip_address":
			info.kind = keyIP
		case k == "fbc" || k == "fbp":
			info.kind = keyCookie
		default:
			info.kind = keyPlain
		}
		userKeys[k] = info
	}
	for _, combo := range invalidCombinations {
		var set keySet
		for _, k := range combo {
			set |= userKeys[k].bit
		}
		invalidCombinationSets = append(invalidCombinationSets, set)
	}
}

func (s keySet) has(k string) bool { return s&userKeys[k].bit != 0 }

// names are the keys in s, sorted.
func (s keySet) names() []string {
	var out []string
	for i, k := range userKeyNames {
		if s&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	return out
}

// internTable holds the values of event_name and action_source that most
// events carry, so reading them does not allocate.
var internTable = func() map[string]string {
	m := map[string]string{}
	for k := range actionSources {
		m[k] = k
	}
	for _, k := range []string{"AddPaymentInfo", "AddToCart", "AddToWishlist", "CompleteRegistration",
		"Contact", "CustomizeProduct", "Donate", "FindLocation", "InitiateCheckout", "Lead", "PageView",
		"Purchase", "Schedule", "Search", "StartTrial", "SubmitApplication", "Subscribe", "ViewContent"} {
		m[k] = k
	}
	return m
}()

// internText is string v's value.
func (d *doc) internText(v jval) string {
	if !v.esc {
		if s, ok := internTable[string(d.src[v.start+1:v.end-1])]; ok {
			return s
		}
	}
	return d.text(v)
}

// keyBytes is key k's value (see strBytes).
func (d *doc) keyBytes(k jval) []byte { return d.strBytes(k) }

// stringVal reads v as json.Unmarshal into a string does: a string's value,
// "" for null; ok is false for anything else, or when v is absent.
func (d *doc) stringVal(v jval) (string, bool) {
	switch v.kind {
	case jString:
		return d.text(v), true
	case jNull:
		return "", true
	}
	return "", false
}

// numText is v's text as json.Unmarshal into a json.Number and, failing
// that, into a string (then trimmed) reads it; null and absent read as
// nothing.
func (d *doc) numText(v jval) ([]byte, bool) {
	switch v.kind {
	case jNumber:
		return d.raw(v), true
	case jString:
		return bytes.TrimSpace(d.strBytes(v)), true
	}
	return nil, false
}

// intVal reads an integer given as a JSON number or a digit string.
func (d *doc) intVal(v jval) (int64, bool) {
	n, ok := d.numText(v)
	if !ok {
		return 0, false
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, true
	}
	if f, err := strconv.ParseFloat(string(n), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<62 {
		return int64(f), true
	}
	return 0, false
}

func (d *doc) floatVal(v jval) (float64, bool) {
	n, ok := d.numText(v)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isHex64 is ^[0-9a-f]{64}$.
func isHex64(s []byte) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < 64; i += 8 {
		if !hexWord(binary.LittleEndian.Uint64(s[i:])) {
			return false
		}
	}
	return true
}

// hexWord reports whether each of w's bytes is in [0-9a-f].
func hexWord(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// between flags, in its high bit, each byte b with m < b < n
	// (exact for every byte; bytes >= 0x80 are never flagged).
	between := func(m, n uint64) uint64 {
		return (ones*(127+n) - w&(ones*127)) &^ w & (w&(ones*127) + ones*(127-m)) & highs
	}
	return between('0'-1, '9'+1)|between('a'-1, 'f'+1) == highs
}

// validIP reports whether s is an address netip.ParseAddr accepts, with no
// surrounding space. Dotted decimals are checked here as netip does.
func validIP(s []byte) bool {
	dotted := false
	for _, c := range s {
		switch {
		case c == '.':
			dotted = true
		case isDigit(c):
		default:
			str := string(s)
			_, err := netip.ParseAddr(str)
			return err == nil && strings.TrimSpace(str) == str
		}
	}
	if !dotted {
		return false // netip: unable to parse IP
	}
	// netip's parseIPv4Fields.
	var val, pos, digLen int
	for i, c := range s {
		if isDigit(c) {
			if digLen == 1 && val == 0 {
				return false // leading zero
			}
			val = val*10 + int(c-'0')
			digLen++
			if val > 255 {
				return false
			}
			continue
		}
		if i == 0 || i == len(s)-1 || s[i-1] == '.' || pos == 3 {
			return false
		}
		pos++
		val, digLen = 0, 0
	}
	return pos == 3
}

// validClickCookie: fb.{subdomainIndex}.{creationTimeMs}.{value}, with an
// optional fifth appendix segment from the parameter builder (ref §9).
func validClickCookie(s []byte) bool {
	var seg [5][]byte
	n := 0
	for {
		i := bytes.IndexByte(s, '.')
		if n == len(seg) {
			return false // six or more segments
		}
		if i < 0 {
			seg[n] = s
			n++
			break
		}
		seg[n] = s[:i]
		n++
		s = s[i+1:]
	}
	if n != 4 && n != 5 {
		return false
	}
	if string(seg[0]) != "fb" || !digits(seg[1]) || !digits(seg[2]) || len(seg[3]) == 0 {
		return false
	}
	return n == 4 || len(seg[4]) != 0
}

func digits(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if !isDigit(c) {
			return false
		}
	}
	return true
}
