package metacapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi/normalize"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// MatchKeys are the user_data keys whose coverage is counted, in the order
// of Meta's guidance on their value (ref §8).
var MatchKeys = []string{
	"em", "ph", "external_id", "fbc", "fbp", "client_ip_address", "client_user_agent",
	"fn", "ln", "ct", "st", "zp", "country", "db", "ge",
}

// customerInfoKeys are the user_data keys that count as customer
// information (ref §4).
var customerInfoKeys = map[string]bool{
	"em": true, "ph": true, "fn": true, "ln": true, "db": true, "ge": true, "ct": true, "st": true,
	"zp": true, "country": true, "external_id": true, "f5first": true, "f5last": true, "fi": true,
	"dobd": true, "dobm": true, "doby": true, "app_user_id": true,
	"client_ip_address": true, "client_user_agent": true, "fbc": true, "fbp": true,
	"subscription_id": true, "fb_login_id": true, "lead_id": true, "anon_id": true, "madid": true,
	"page_id": true, "ctwa_clid": true, "page_scoped_user_id": true, "ig_account_id": true,
	"ig_sid": true, "whatsapp_business_account_id": true,
}

// invalidCombinations: customer information made only of one of these sets,
// or a subset of one, is refused by Meta with 100/2804050 (ref §4).
var invalidCombinations = [][]string{
	{"ct", "country", "st", "zp", "ge", "client_user_agent"},
	{"db", "client_user_agent"},
	{"fn", "ge"},
	{"ln", "ge"},
}

// actionSources are the allowed action_source values (ref §3).
var actionSources = []string{
	"email", "website", "app", "phone_call", "chat", "physical_store",
	"system_generated", "business_messaging", "other",
}

// Event ages Meta accepts (ref §2).
const (
	maxEventAge        = 7 * 24 * time.Hour
	maxOfflineEventAge = 62 * 24 * time.Hour
)

// prepared is one event, normalised, validated and encoded for Meta.
type prepared struct {
	ev        plugins.Event
	name      string
	id        string
	derivedID bool
	fbcURL    bool            // fbc was built from event_source_url
	key       string          // state key of (pixel, name, id)
	body      json.RawMessage // the server event as sent
	// keys are the MatchKeys it carries: a set rather than a list, whose
	// buffer was as large as all the rest of a prepared event.
	keys  keySet
	drops []normalize.Drop
}

// problem is why an event cannot be sent.
type problem struct {
	code    string
	reasons []string
}

func (p *problem) add(code, format string, args ...any) {
	if p.code == "" {
		p.code = code
	}
	p.reasons = append(p.reasons, fmt.Sprintf(format, args...))
}

func (p *problem) reason() string { return strings.Join(p.reasons, "; ") }

// prepare normalises and validates one event. On failure it returns the
// rejection code and reason; drops are returned in both cases.
func (c *config) prepare(e plugins.Event, now time.Time) (*prepared, *problem) {
	p := &prepared{ev: e}
	// One copy of the payload as a string; the members' text and the
	// strings decoded from it are parts of it rather than copies each.
	// user_data and custom_data are read into objects of their own as
	// the payload is read, rather than read again later.
	var obj, udObj, cd object
	if !obj.parse(string(e.Payload), []subObject{{"user_data", &udObj}, {"custom_data", &cd}}) {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(e.Payload))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil || m == nil {
			return p, &problem{code: CodeInvalidPayload, reasons: []string{"payload is not a JSON object"}}
		}
		obj.fromMap(m)
	}
	var pr problem

	// event_name (ref §3).
	if s, ok := obj.str("event_name"); ok && strings.TrimSpace(s) != "" {
		p.name = strings.TrimSpace(s)
		if p.name != s { // an unchanged value is left as it is
			obj.set(member{key: "event_name", text: p.name, kind: stringMember})
		}
	} else {
		pr.add(CodeMissingEventName, "event_name is required and must be a non-empty string")
	}

	// action_source (ref §3): lower-cased as the Node SDK does.
	s, ok := obj.str("action_source")
	src := actionSource(s) // "" when missing or invalid
	switch {
	case !ok || strings.TrimSpace(s) == "":
		pr.add(CodeInvalidActionSource, "action_source is required (one of %s)", strings.Join(actionSources, ", "))
	case src == "":
		pr.add(CodeInvalidActionSource, "action_source %q is not one of %s", clip(s), strings.Join(actionSources, ", "))
	case src != s:
		obj.set(member{key: "action_source", text: src, kind: stringMember})
	}

	// event_time (ref §2, §3).
	var at time.Time
	if t, err := memberTime(obj.get("event_time")); err != nil {
		pr.add(CodeInvalidEventTime, "%s", err)
	} else {
		at = time.Unix(t, 0)
		obj.set(member{key: "event_time", n: t, kind: intMember})
		limit := maxEventAge
		if src == "physical_store" {
			limit = maxOfflineEventAge
		}
		switch age := now.Sub(at); {
		case age > limit:
			pr.add(CodeEventTooOld, "event_time %s is %s old; Meta accepts events at most %d days old%s",
				at.UTC().Format(time.RFC3339), age.Round(time.Minute), int(limit.Hours()/24), offlineHint(src))
		case -age > futureTolerance:
			pr.add(CodeEventInFuture, "event_time %s is %s in the future (tolerance %s); check the sender's clock",
				at.UTC().Format(time.RFC3339), (-age).Round(time.Second), futureTolerance)
		}
	}

	// event_id: a string; numbers are turned into strings. Missing → a
	// stable ID derived from the message ID.
	badID := false
	idm := obj.get("event_id")
	old, isString := idm.str()
	switch {
	case isString:
		p.id = strings.TrimSpace(old)
	case idm == nil:
	default:
		switch n := idm.value().(type) {
		case json.Number:
			p.id = n.String()
		case nil:
		default:
			badID = true
			pr.add(CodeInvalidField, "event_id must be a string")
		}
	}
	if p.id == "" && !badID {
		p.id = derivedEventID(e)
		p.derivedID = true
	}
	if p.id != "" && (!isString || old != p.id) {
		obj.set(member{key: "event_id", text: p.id, kind: stringMember})
	}

	// user_data (ref §4).
	url, _ := obj.str("event_source_url")
	url = strings.TrimSpace(url)
	var (
		present keySet
		// Speed: user_data is read as an object, not decoded into a map,
		// normalised into a Result, not a map, and written into the body
		// by the Result itself (appendUserData).
		ud    normalize.Result
		hasUD bool
	)
	udm := obj.get("user_data")
	switch {
	case udm.object(&udObj):
		opts := c.normalize
		opts.Now = now
		var buf [len(udObj.arr)]normalize.Member
		ud.NormalizeMembers(udObj.normalizeMembers(buf[:0]), opts)
		hasUD = true
		p.drops = ud.Drops()
		if !ud.Has("fbc") && url != "" && !at.IsZero() {
			if fbc := normalize.FBCFromURL(url, at); fbc != "" {
				ud.SetString("fbc", fbc)
				p.fbcURL = true
			}
		}
		for k := range ud.HashedKeys() {
			present |= keyBit(k) // a hashed key holds at least one value
		}
		for _, f := range ud.Unhashed() {
			if bit := keyBit(f.Key); bit != 0 && (f.IsString && f.Str != "" || nonEmpty(f.Value)) {
				present |= bit
			}
		}
	case udm.value() == nil:
		pr.add(CodeMissingUserData, "user_data is required")
	default:
		pr.add(CodeMissingUserData, "user_data must be an object")
	}
	p.keys = present & matchKeySet

	// Website events need the browser's URL and user agent (ref §3).
	if src == "website" {
		if url == "" {
			pr.add(CodeWebsiteRequirements, "event_source_url is required for action_source website")
		}
		if !present.has("client_user_agent") {
			pr.add(CodeWebsiteRequirements, "user_data.client_user_agent is required for action_source website")
		}
	}

	// Enough customer information (ref §4).
	if hasUD {
		if present == 0 {
			pr.add(CodeNoCustomerInfo, "user_data has no usable customer information parameter%s", dropHint(p.drops))
		} else {
			for _, combo := range invalidComboSets {
				if present&^combo == 0 {
					pr.add(CodeNoCustomerInfo, "user_data holds only %s, a combination Meta refuses as too broad to match (add em, ph, external_id, fbp, fbc or client_ip_address)%s",
						strings.Join(present.sorted(), "+"), dropHint(p.drops))
					break
				}
			}
		}
	}

	// custom_data: value as a number, currency upper case; Purchase needs
	// both (ref §3, §5).
	switch m := obj.get("custom_data"); {
	case m.object(&cd):
		hasValue := false // a number, once made one
		if vm := cd.get("value"); vm != nil {
			// A number stays as it is, a numeric string becomes one;
			// neither is boxed to be read.
			if n, ok := vm.number(); ok {
				_, hasValue = finiteNumber(n)
			} else if s, ok := vm.str(); ok {
				if n, ok := numericString(s); ok {
					hasValue = true
					cd.set(member{key: "value", text: string(n)}) // a number's text
				}
			}
			if !hasValue && vm.value() != nil {
				pr.add(CodeInvalidField, "custom_data.value must be a number")
			}
		}
		if cur, ok := cd.str("currency"); ok {
			if up := strings.ToUpper(strings.TrimSpace(cur)); up != cur {
				cd.set(member{key: "currency", text: up, kind: stringMember})
			}
		}
		if p.name == "Purchase" {
			if !hasValue {
				pr.add(CodePurchaseRequirements, "Purchase needs custom_data.value (a number)")
			}
			if cur, _ := cd.str("currency"); !currency(cur) {
				pr.add(CodePurchaseRequirements, "Purchase needs custom_data.currency (an ISO 4217 code such as USD)")
			}
		}
		obj.set(member{key: "custom_data", kind: objectMember})
	case m.value() == nil:
		if p.name == "Purchase" {
			pr.add(CodePurchaseRequirements, "Purchase needs custom_data.value and custom_data.currency")
		}
	default:
		pr.add(CodeInvalidField, "custom_data must be an object")
	}

	// app_data: required for app events, with all 16 extinfo slots (ref §3).
	if src == "app" {
		ad, _ := obj.value("app_data").(map[string]any)
		ext, _ := ad["extinfo"].([]any)
		if ad == nil {
			pr.add(CodeAppData, "app_data is required for action_source app")
		} else if len(ext) != 16 {
			pr.add(CodeAppData, "app_data.extinfo must have all 16 slots, has %d", len(ext))
		}
	}

	// Limited Data Use (ref §3).
	if v := obj.value("data_processing_options"); v != nil {
		opts, ok := v.([]any)
		ldu := false
		for _, o := range opts {
			switch o {
			case "LDU":
				ldu = true
			case "":
			default:
				ok = false
			}
		}
		if !ok {
			pr.add(CodeDataProcessing, `data_processing_options must be [] or ["LDU"]`)
		}
		country, hasCountry := integer(obj.value("data_processing_options_country"))
		if ldu && !hasCountry {
			pr.add(CodeDataProcessing, "data_processing_options_country is required with LDU (1 = USA, 0 = geolocate)")
		}
		if hasCountry && country != 0 {
			if _, ok := integer(obj.value("data_processing_options_state")); !ok {
				pr.add(CodeDataProcessing, "data_processing_options_state is required when data_processing_options_country is set (1000 = California, 0 = geolocate)")
			}
		}
	}

	if pr.code != "" {
		rejected := pr // only a rejection costs an allocation
		return p, &rejected
	}
	if hasUD {
		obj.set(member{key: "user_data", kind: userDataMember})
	}
	body, err := obj.encode(nested{obj: &cd, ud: &ud})
	if err != nil {
		return p, &problem{code: CodeInvalidPayload, reasons: []string{"payload cannot be encoded as JSON"}}
	}
	p.body = body
	p.key = c.stateKey(p.name, p.id)
	return p, nil
}

// actionSource returns s as a valid action_source, or "".
func actionSource(s string) string {
	src := strings.TrimSpace(s)
	if !slices.Contains(actionSources, src) {
		src = strings.ToLower(src)
		if !slices.Contains(actionSources, src) {
			return ""
		}
	}
	return src
}

// stateKey is the host state key of (pixel_id, event_name, event_id):
// a digest, so any event name or ID makes a valid key.
func (c *config) stateKey(name, id string) string {
	var buf [256]byte
	in := append(append(append(append(append(buf[:0], c.pixelID...), 0), name...), 0), id...)
	sum := sha256.Sum256(in)
	var out [len("dedupe.") + 40]byte
	copy(out[:], "dedupe.")
	hex.Encode(out[len("dedupe."):], sum[:20])
	return string(out[:])
}

// derivedEventID is a stable event_id for an event mapped without one:
// from the message ID, else from the payload itself.
func derivedEventID(e plugins.Event) string {
	src := []byte(e.MessageID)
	if e.MessageID == "" {
		src = e.Payload
	}
	sum := sha256.Sum256(src)
	return "sb-" + hex.EncodeToString(sum[:12])
}

// memberTime is eventTime of the event_time member, which it reads
// without boxing a number.
func memberTime(m *member) (int64, error) {
	if n, ok := m.number(); ok {
		return numberSeconds(n)
	}
	return eventTime(m.value())
}

// eventTime reads event_time: unix seconds (a number or a string of
// digits) or an RFC 3339 time.
func eventTime(v any) (int64, error) {
	switch t := v.(type) {
	case nil:
		return 0, fmt.Errorf("event_time is required (unix seconds or RFC 3339)")
	case json.Number:
		return numberSeconds(t)
	case string:
		s := strings.TrimSpace(t)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return checkSeconds(n)
		}
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("event_time %q is neither unix seconds nor an RFC 3339 time", clip(s))
		}
		return at.Unix(), nil
	}
	return 0, fmt.Errorf("event_time must be unix seconds or an RFC 3339 string")
}

func numberSeconds(t json.Number) (int64, error) {
	if n, err := t.Int64(); err == nil {
		return checkSeconds(n)
	}
	f, err := t.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > math.MaxInt64/2 {
		return 0, fmt.Errorf("event_time %s is not a unix time in seconds", clip(t.String()))
	}
	return checkSeconds(int64(f))
}

func checkSeconds(n int64) (int64, error) {
	if n > 100_000_000_000 { // after year 5138: milliseconds, surely
		return 0, fmt.Errorf("event_time %d looks like milliseconds; Meta expects unix seconds", n)
	}
	if n <= 0 {
		return 0, fmt.Errorf("event_time %d is not a unix time in seconds", n)
	}
	return n, nil
}

// number reads a JSON number or a numeric string, as the Node SDK's
// parseFloat does for custom_data.value (ref §5).
func number(v any) (json.Number, bool) {
	switch n := v.(type) {
	case json.Number:
		return finiteNumber(n)
	case string:
		return numericString(n)
	}
	return "", false
}

// finiteNumber returns n when it is a finite number.
func finiteNumber(n json.Number) (json.Number, bool) {
	if f, err := n.Float64(); err == nil && !math.IsInf(f, 0) {
		return n, true
	}
	return "", false
}

// numericString returns the number a numeric string s holds, written
// without an exponent as strconv.FormatFloat writes it: s itself (trimmed)
// when it is written so already, which costs no parsing or allocation.
func numericString(s string) (json.Number, bool) {
	s = strings.TrimSpace(s)
	if plainDecimal(s) {
		return json.Number(s), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	return json.Number(strconv.FormatFloat(f, 'f', -1, 64)), true
}

// plainDecimal reports whether s is a decimal that strconv.FormatFloat
// writes as it is, without parsing it: -?(0|[1-9][0-9]*)(.[0-9]*[1-9])?,
// of 15 digits at most. A float64 holds 15 significant digits exactly
// (any two such decimals parse to different float64s), so the shortest
// digits that parse back to s's float64 are s's own, and 'f' writes them
// with no leading or trailing zeros, as s has them.
func plainDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	digits := i - start
	if i < len(s) {
		if s[i] != '.' || s[len(s)-1] == '0' {
			return false
		}
		for i++; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
			digits++
		}
		if s[len(s)-1] == '.' {
			return false
		}
	}
	return digits <= 15
}

func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func currency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func nonEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case string:
		return t != ""
	case []string:
		return slices.ContainsFunc(t, func(s string) bool { return s != "" })
	case []any:
		return slices.ContainsFunc(t, nonEmpty)
	}
	return true
}

// keySet is a set of customerInfoKeys, one bit each (there are fewer than
// 64): prepare builds one per event, and a map cost several allocations.
type keySet uint64

// infoKeys lists customerInfoKeys sorted; a key's bit is its index.
var infoKeys = func() []string {
	keys := make([]string, 0, len(customerInfoKeys))
	for k := range customerInfoKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}()

// keyBit returns the bit of a customer information key, or 0 for other
// keys: its index in infoKeys, by a switch, which is faster than a map
// (TestKeySet checks the two agree).
func keyBit(k string) keySet {
	i := -1
	switch k {
	case "anon_id":
		i = 0
	case "app_user_id":
		i = 1
	case "client_ip_address":
		i = 2
	case "client_user_agent":
		i = 3
	case "country":
		i = 4
	case "ct":
		i = 5
	case "ctwa_clid":
		i = 6
	case "db":
		i = 7
	case "dobd":
		i = 8
	case "dobm":
		i = 9
	case "doby":
		i = 10
	case "em":
		i = 11
	case "external_id":
		i = 12
	case "f5first":
		i = 13
	case "f5last":
		i = 14
	case "fb_login_id":
		i = 15
	case "fbc":
		i = 16
	case "fbp":
		i = 17
	case "fi":
		i = 18
	case "fn":
		i = 19
	case "ge":
		i = 20
	case "ig_account_id":
		i = 21
	case "ig_sid":
		i = 22
	case "lead_id":
		i = 23
	case "ln":
		i = 24
	case "madid":
		i = 25
	case "page_id":
		i = 26
	case "page_scoped_user_id":
		i = 27
	case "ph":
		i = 28
	case "st":
		i = 29
	case "subscription_id":
		i = 30
	case "whatsapp_business_account_id":
		i = 31
	case "zp":
		i = 32
	}
	if i < 0 {
		return 0
	}
	return 1 << i
}

// matchBits are the bits of MatchKeys, and matchKeySet all of them.
var matchBits, matchKeySet = func() ([]keySet, keySet) {
	out, all := make([]keySet, len(MatchKeys)), keySet(0)
	for i, k := range MatchKeys {
		out[i] = keyBit(k)
		all |= out[i]
	}
	return out, all
}()

// invalidComboSets are the invalidCombinations as sets.
var invalidComboSets = func() []keySet {
	out := make([]keySet, len(invalidCombinations))
	for i, combo := range invalidCombinations {
		for _, k := range combo {
			out[i] = out[i].with(k)
		}
	}
	return out
}()

func (s keySet) with(k string) keySet { return s | keyBit(k) }

func (s keySet) has(k string) bool { return s&keyBit(k) != 0 }

// sorted lists the keys of s in order.
func (s keySet) sorted() []string {
	var out []string
	for i, k := range infoKeys {
		if s&(1<<i) != 0 {
			out = append(out, k)
		}
	}
	return out
}

func offlineHint(src string) string {
	if src == "physical_store" {
		return " for physical_store"
	}
	return ""
}

func dropHint(drops []normalize.Drop) string {
	if len(drops) == 0 {
		return ""
	}
	parts := make([]string, len(drops))
	for i, d := range drops {
		parts[i] = d.Key + ": " + d.Reason
	}
	return " (dropped: " + strings.Join(parts, ", ") + ")"
}

// clip bounds a user value quoted in a reason.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
