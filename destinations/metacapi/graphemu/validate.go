package graphemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
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

type checker struct {
	index    int
	problems []Problem
	notes    []string
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

// event checks one server event against ref §2–§4 and returns what the
// emulator records of it, its problems and non-fatal diagnostics.
func (v validator) event(i int, raw json.RawMessage) (Event, []Problem, []string) {
	c := &checker{index: i}
	ev := Event{Index: i, Raw: bytes.Clone(raw)}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		c.fail("", "must be a JSON object")
		return ev, c.problems, c.notes
	}

	// event_name: required string (ref §3).
	if name, ok := stringField(obj, "event_name"); !ok || name == "" {
		c.fail("event_name", "is required and must be a non-empty string")
	} else {
		ev.EventName = name
	}

	// action_source: required, one of the allowed set (ref §3).
	src, ok := stringField(obj, "action_source")
	switch {
	case !ok || src == "":
		c.fail("action_source", "is required")
	case !actionSources[src]:
		c.fail("action_source", fmt.Sprintf("must be one of email, website, app, phone_call, chat, physical_store, system_generated, business_messaging, other; got %q", src))
	}
	ev.ActionSource = src

	// event_time: required unix seconds, at most 7 days old (62 for
	// physical_store), not in the future (ref §2, §3).
	if t, ok := intField(obj, "event_time"); !ok {
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
	if rawID, ok := obj["event_id"]; ok && !isNull(rawID) {
		if id, ok := stringField(obj, "event_id"); ok {
			ev.EventID = id
		} else if n, ok := intField(obj, "event_id"); ok {
			ev.EventID = strconv.FormatInt(n, 10)
		} else {
			c.fail("event_id", "must be a string")
		}
	}

	// event_source_url: required for website (ref §3).
	if src == "website" {
		if u, ok := stringField(obj, "event_source_url"); !ok || u == "" {
			c.fail("event_source_url", "is required for action_source website")
		}
	}

	v.userData(c, obj, src)
	v.customData(c, obj, ev.EventName)
	v.other(c, obj, src)
	return ev, c.problems, c.notes
}

// userData checks user_data (ref §3, §4).
func (v validator) userData(c *checker, obj map[string]json.RawMessage, src string) {
	raw, ok := obj["user_data"]
	var ud map[string]json.RawMessage
	if !ok || isNull(raw) {
		c.fail("user_data", "is required")
		return
	}
	if json.Unmarshal(raw, &ud) != nil {
		c.fail("user_data", "must be a JSON object")
		return
	}
	present := map[string]bool{}
	before := len(c.problems)
	for _, key := range sortedKeys(ud) {
		val := ud[key]
		field := "user_data." + key
		switch {
		case hashedKeys[key] || key == "external_id":
			vals, ok := stringList(val)
			if !ok {
				c.fail(field, "must be a string or a list of strings")
				continue
			}
			usable := false
			for _, s := range vals {
				if s == "" {
					continue
				}
				if key == "external_id" || hexRE.MatchString(s) {
					usable = true
					continue
				}
				if v.allowUnhashed {
					c.note("%s is not SHA-256 hex; ignored", field)
					continue
				}
				// Meta refuses unhashed contact information (ref §4); the
				// error text is not in the reference.
				c.fail(field, "must be hashed: SHA-256 as 64 lowercase hex characters")
				break
			}
			if usable {
				present[key] = true
			}
		case key == "client_ip_address":
			s, ok := scalarString(val)
			if !ok || s == "" {
				continue
			}
			if _, err := netip.ParseAddr(s); err != nil || strings.TrimSpace(s) != s {
				c.fail(field, "must be a valid IPv4 or IPv6 address")
				continue
			}
			present[key] = true
		case key == "fbc" || key == "fbp":
			s, ok := scalarString(val)
			if !ok || s == "" {
				continue
			}
			if !validClickCookie(s) {
				if key == "fbc" {
					// 100/2804001, e.g. an _fbc without its fbclid (ref §7 [ADSC-6]).
					c.failSub(field, "must be fb.{subdomainIndex}.{creationTime}.{fbclid} with an optional fifth segment", SubcodeClickID)
					continue
				}
				// Meta reports a malformed fbp as a diagnostic, not an
				// error (ref §10 [MC-2]).
				c.note("%s %q is malformed; Meta would show an Invalid fbp diagnostic", field, s)
				continue
			}
			present[key] = true
		case plainKeys[key]:
			if s, ok := scalarString(val); ok && s != "" {
				present[key] = true
			} else if vals, ok := stringList(val); ok && len(nonEmpty(vals)) > 0 {
				present[key] = true
			}
		default:
			c.note("unknown user_data key %q ignored (Meta's keys are em, ph, fn, …; ref §4)", key)
		}
	}
	if src == "website" && !present["client_user_agent"] {
		c.fail("user_data.client_user_agent", "is required for action_source website")
	}
	if len(c.problems) > before {
		// A key was refused; the customer-information verdict below
		// would only repeat it.
		return
	}
	if len(present) == 0 {
		c.failSub("user_data", "has no customer information parameter", SubcodeCustomerInfo)
		return
	}
	for _, combo := range invalidCombinations {
		if subset(present, combo) {
			c.failSub("user_data", "holds only "+strings.Join(keys(present), "+")+", a combination too broad to match (ref §4)", SubcodeCustomerInfo)
			return
		}
	}
}

// customData checks the requirements of standard events: Purchase needs
// value and currency (ref §3, §5, from the Pixel reference). Meta's reply
// for a violation is not in the reference.
func (v validator) customData(c *checker, obj map[string]json.RawMessage, name string) {
	raw, ok := obj["custom_data"]
	var cd map[string]json.RawMessage
	if ok && !isNull(raw) && json.Unmarshal(raw, &cd) != nil {
		c.fail("custom_data", "must be a JSON object")
		return
	}
	if name == "Purchase" {
		if _, ok := floatField(cd, "value"); !ok {
			c.fail("custom_data.value", "is required for Purchase and must be a number")
		}
		if cur, ok := stringField(cd, "currency"); !ok || cur == "" {
			c.fail("custom_data.currency", "is required for Purchase")
		}
	}
	if seg, ok := stringField(cd, "customer_segmentation"); ok && !customerSegments[seg] {
		c.fail("custom_data.customer_segmentation", fmt.Sprintf("has unknown value %q", seg))
	}
}

// other checks app_data for app events and the LDU fields (ref §3).
func (v validator) other(c *checker, obj map[string]json.RawMessage, src string) {
	if seg, ok := stringField(obj, "customer_segmentation"); ok && !customerSegments[seg] {
		c.fail("customer_segmentation", fmt.Sprintf("has unknown value %q", seg))
	}
	if src == "app" {
		var ad struct {
			Extinfo []json.RawMessage `json:"extinfo"`
		}
		raw, ok := obj["app_data"]
		switch {
		case !ok || isNull(raw):
			c.fail("app_data", "is required for action_source app")
		case json.Unmarshal(raw, &ad) != nil:
			c.fail("app_data", "must be a JSON object")
		case len(ad.Extinfo) != 16:
			c.fail("app_data.extinfo", fmt.Sprintf("must have all 16 slots, has %d", len(ad.Extinfo)))
		}
	}
	if raw, ok := obj["data_processing_options"]; ok && !isNull(raw) {
		opts, ok := stringList(raw)
		if !ok {
			c.fail("data_processing_options", "must be a list of strings")
			return
		}
		ldu := false
		for _, o := range opts {
			switch o {
			case "LDU":
				ldu = true
			case "":
			default:
				c.fail("data_processing_options", fmt.Sprintf("has unknown option %q", o))
			}
		}
		country, hasCountry := intField(obj, "data_processing_options_country")
		if ldu && !hasCountry {
			c.fail("data_processing_options_country", "is required when data_processing_options has LDU")
		}
		if hasCountry && country != 0 {
			if _, ok := intField(obj, "data_processing_options_state"); !ok {
				c.fail("data_processing_options_state", "is required when data_processing_options_country is set")
			}
		}
	}
}

// validClickCookie: fb.{subdomainIndex}.{creationTimeMs}.{value}, with an
// optional fifth appendix segment from the parameter builder (ref §9).
func validClickCookie(s string) bool {
	seg := strings.Split(s, ".")
	if len(seg) != 4 && len(seg) != 5 {
		return false
	}
	if seg[0] != "fb" || !digits(seg[1]) || !digits(seg[2]) || seg[3] == "" {
		return false
	}
	return len(seg) == 4 || seg[4] != ""
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func stringField(obj map[string]json.RawMessage, k string) (string, bool) {
	raw, ok := obj[k]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// intField reads an integer given as a JSON number or a digit string.
func intField(obj map[string]json.RawMessage, k string) (int64, bool) {
	raw, ok := obj[k]
	if !ok {
		return 0, false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		n = json.Number(strings.TrimSpace(s))
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	if f, err := n.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<62 {
		return int64(f), true
	}
	return 0, false
}

func floatField(obj map[string]json.RawMessage, k string) (float64, bool) {
	raw, ok := obj[k]
	if !ok {
		return 0, false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		n = json.Number(strings.TrimSpace(s))
	}
	f, err := n.Float64()
	return f, err == nil
}

func scalarString(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}

// stringList accepts a string or a list of strings (nulls allowed: the Node
// SDK sends "ge":[null], ref §4).
func stringList(raw json.RawMessage) ([]string, bool) {
	if isNull(raw) {
		return nil, true
	}
	if s, ok := scalarString(raw); ok {
		return []string{s}, true
	}
	var list []*string
	if json.Unmarshal(raw, &list) != nil {
		var nums []json.Number
		if json.Unmarshal(raw, &nums) != nil {
			return nil, false
		}
		out := make([]string, len(nums))
		for i, n := range nums {
			out[i] = n.String()
		}
		return out, true
	}
	out := make([]string, 0, len(list))
	for _, p := range list {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out, true
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func subset(present map[string]bool, combo []string) bool {
	allowed := map[string]bool{}
	for _, k := range combo {
		allowed[k] = true
	}
	for k := range present {
		if !allowed[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}

func sortedKeys(m map[string]json.RawMessage) []string {
	return slices.Sorted(maps.Keys(m))
}
