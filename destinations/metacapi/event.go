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
	keys      []string        // the MatchKeys it carries
	drops     []normalize.Drop
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
	obj, ok := decodePayload(e.Payload)
	if !ok {
		dec := json.NewDecoder(bytes.NewReader(e.Payload))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil || obj == nil {
			return p, &problem{code: CodeInvalidPayload, reasons: []string{"payload is not a JSON object"}}
		}
	}
	var pr problem

	// event_name (ref §3).
	if s, ok := obj["event_name"].(string); ok && strings.TrimSpace(s) != "" {
		p.name = strings.TrimSpace(s)
		if p.name != s { // an unchanged value is left as it is, not boxed again
			obj["event_name"] = p.name
		}
	} else {
		pr.add(CodeMissingEventName, "event_name is required and must be a non-empty string")
	}

	// action_source (ref §3): lower-cased as the Node SDK does.
	src := ""
	switch s, ok := obj["action_source"].(string); {
	case !ok || strings.TrimSpace(s) == "":
		pr.add(CodeInvalidActionSource, "action_source is required (one of %s)", strings.Join(actionSources, ", "))
	case !slices.Contains(actionSources, strings.ToLower(strings.TrimSpace(s))):
		pr.add(CodeInvalidActionSource, "action_source %q is not one of %s", clip(s), strings.Join(actionSources, ", "))
	default:
		src = strings.ToLower(strings.TrimSpace(s))
		if src != s {
			obj["action_source"] = src
		}
	}

	// event_time (ref §2, §3).
	var at time.Time
	if t, err := eventTime(obj["event_time"]); err != nil {
		pr.add(CodeInvalidEventTime, "%s", err)
	} else {
		at = time.Unix(t, 0)
		obj["event_time"] = t
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
	switch v := obj["event_id"].(type) {
	case string:
		p.id = strings.TrimSpace(v)
	case json.Number:
		p.id = v.String()
	case nil:
	default:
		badID = true
		pr.add(CodeInvalidField, "event_id must be a string")
	}
	if p.id == "" && !badID {
		p.id = derivedEventID(e)
		p.derivedID = true
	}
	if old, same := obj["event_id"].(string); p.id != "" && (!same || old != p.id) {
		obj["event_id"] = p.id // an unchanged string is left as it is, not boxed again
	}

	// user_data (ref §4).
	url, _ := obj["event_source_url"].(string)
	url = strings.TrimSpace(url)
	var (
		present keySet
		// Speed: user_data is normalised into a Result, not a map, and
		// written into the body by the Result itself (userDataJSON).
		ud    normalize.Result
		hasUD bool
	)
	switch in := obj["user_data"].(type) {
	case map[string]any:
		opts := c.normalize
		opts.Now = now
		ud.Normalize(in, opts)
		hasUD = true
		p.drops = ud.Drops()
		if !ud.Has("fbc") && url != "" && !at.IsZero() {
			if fbc := normalize.FBCFromURL(url, at); fbc != "" {
				ud.Set("fbc", fbc)
				p.fbcURL = true
			}
		}
		for k := range ud.HashedKeys() {
			present |= infoBits[k] // a hashed key holds at least one value
		}
		for _, f := range ud.Unhashed() {
			if bit := infoBits[f.Key]; bit != 0 && nonEmpty(f.Value) {
				present |= bit
			}
		}
	case nil:
		pr.add(CodeMissingUserData, "user_data is required")
	default:
		pr.add(CodeMissingUserData, "user_data must be an object")
	}
	for _, k := range MatchKeys {
		if present.has(k) {
			if p.keys == nil {
				p.keys = make([]string, 0, len(MatchKeys))
			}
			p.keys = append(p.keys, k)
		}
	}

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
			for _, combo := range invalidCombinations {
				if present.within(combo) {
					pr.add(CodeNoCustomerInfo, "user_data holds only %s, a combination Meta refuses as too broad to match (add em, ph, external_id, fbp, fbc or client_ip_address)%s",
						strings.Join(present.sorted(), "+"), dropHint(p.drops))
					break
				}
			}
		}
	}

	// custom_data: value as a number, currency upper case; Purchase needs
	// both (ref §3, §5).
	switch cd := obj["custom_data"].(type) {
	case map[string]any:
		if v, ok := cd["value"]; ok {
			if n, ok := number(v); ok {
				if old, same := v.(json.Number); !same || old != n {
					cd["value"] = n
				}
			} else if v != nil {
				pr.add(CodeInvalidField, "custom_data.value must be a number")
			}
		}
		if cur, ok := cd["currency"].(string); ok {
			if up := strings.ToUpper(strings.TrimSpace(cur)); up != cur {
				cd["currency"] = up
			}
		}
		if p.name == "Purchase" {
			if _, ok := number(cd["value"]); !ok {
				pr.add(CodePurchaseRequirements, "Purchase needs custom_data.value (a number)")
			}
			if cur, _ := cd["currency"].(string); !currency(cur) {
				pr.add(CodePurchaseRequirements, "Purchase needs custom_data.currency (an ISO 4217 code such as USD)")
			}
		}
	case nil:
		if p.name == "Purchase" {
			pr.add(CodePurchaseRequirements, "Purchase needs custom_data.value and custom_data.currency")
		}
	default:
		pr.add(CodeInvalidField, "custom_data must be an object")
	}

	// app_data: required for app events, with all 16 extinfo slots (ref §3).
	if src == "app" {
		ad, _ := obj["app_data"].(map[string]any)
		ext, _ := ad["extinfo"].([]any)
		if ad == nil {
			pr.add(CodeAppData, "app_data is required for action_source app")
		} else if len(ext) != 16 {
			pr.add(CodeAppData, "app_data.extinfo must have all 16 slots, has %d", len(ext))
		}
	}

	// Limited Data Use (ref §3).
	if v, ok := obj["data_processing_options"]; ok && v != nil {
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
		country, hasCountry := integer(obj["data_processing_options_country"])
		if ldu && !hasCountry {
			pr.add(CodeDataProcessing, "data_processing_options_country is required with LDU (1 = USA, 0 = geolocate)")
		}
		if hasCountry && country != 0 {
			if _, ok := integer(obj["data_processing_options_state"]); !ok {
				pr.add(CodeDataProcessing, "data_processing_options_state is required when data_processing_options_country is set (1000 = California, 0 = geolocate)")
			}
		}
	}

	if pr.code != "" {
		return p, &pr
	}
	if hasUD {
		obj["user_data"] = userDataJSON(&ud)
	}
	body, err := marshalJSON(obj)
	if err != nil {
		return p, &problem{code: CodeInvalidPayload, reasons: []string{"payload cannot be encoded as JSON"}}
	}
	p.body = body
	p.key = c.stateKey(p.name, p.id)
	return p, nil
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

// eventTime reads event_time: unix seconds (a number or a string of
// digits) or an RFC 3339 time.
func eventTime(v any) (int64, error) {
	switch t := v.(type) {
	case nil:
		return 0, fmt.Errorf("event_time is required (unix seconds or RFC 3339)")
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return checkSeconds(n)
		}
		f, err := t.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > math.MaxInt64/2 {
			return 0, fmt.Errorf("event_time %s is not a unix time in seconds", clip(t.String()))
		}
		return checkSeconds(int64(f))
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
		if f, err := n.Float64(); err == nil && !math.IsInf(f, 0) {
			return n, true
		}
	case string:
		s := strings.TrimSpace(n)
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return json.Number(strconv.FormatFloat(f, 'f', -1, 64)), true
		}
	}
	return "", false
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

// infoBits maps each of infoKeys to its bit.
var infoBits = func() map[string]keySet {
	m := make(map[string]keySet, len(infoKeys))
	for i, k := range infoKeys {
		m[k] = 1 << i
	}
	return m
}()

func keyBit(k string) keySet { return infoBits[k] }

func (s keySet) with(k string) keySet { return s | keyBit(k) }

func (s keySet) has(k string) bool { return s&keyBit(k) != 0 }

// within reports whether every key of s is in combo.
func (s keySet) within(combo []string) bool {
	var c keySet
	for _, k := range combo {
		c |= keyBit(k)
	}
	return s&^c == 0
}

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
