package metacapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi/normalize"
	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

// prepare must decide every event as it did before its speed-ups (fast
// JSON decoding and encoding, a bit set of keys, values left in place when
// unchanged): prepareRef below is that version, and the two are compared on
// the test payloads and on fuzzed ones.

func comparePrepare(t *testing.T, c *config, payload []byte) {
	t.Helper()
	e := plugins.Event{ID: "x", MessageID: "m-1", Payload: payload}
	got, gp := c.prepare(e, testNow)
	want, wp := c.prepareRef(e, testNow)
	describe := func(p *prepared, pr *problem) string {
		drops := slices.Clone(p.drops)
		sort.Slice(drops, func(i, j int) bool { return fmt.Sprint(drops[i]) < fmt.Sprint(drops[j]) })
		s := fmt.Sprintf("name=%q id=%q derived=%v fbcURL=%v key=%q keys=%v drops=%v body=%s", p.name, p.id, p.derivedID, p.fbcURL, p.key, p.keys.sorted(), drops, p.body)
		if pr != nil {
			s += fmt.Sprintf(" problem=%s %q", pr.code, pr.reasons)
		}
		return s
	}
	g, w := describe(got, gp), describe(want, wp)
	if g != w && !sameButDropOrder(gp, wp, g, w) {
		t.Fatalf("prepare(%s):\n got %s\nwant %s", payload, g, w)
	}
}

// sameButDropOrder accepts reasons that differ only in the order of the
// dropped keys they list (map order).
func sameButDropOrder(gp, wp *problem, g, w string) bool {
	if gp == nil || wp == nil || gp.code != wp.code {
		return false
	}
	a, b := []byte(g), []byte(w)
	slices.Sort(a)
	slices.Sort(b)
	return bytes.Equal(a, b)
}

func TestPrepareMatchesReference(t *testing.T) {
	r := newRemote(t, "")
	d, _ := newDest(t, &destinationtest.MemoryHost{}, r, nil)
	c := d.config()
	mods := []map[string]any{
		nil, {"event_id": ""}, {"event_id": " a "}, {"event_id": json.Number("12")}, {"event_id": 5}, {"event_id": nil},
		{"event_name": " Lead "}, {"event_name": ""}, {"action_source": "WEBSITE"}, {"action_source": "app"},
		{"action_source": "physical_store", "event_time": "2026-10-01T00:00:00Z"}, {"event_time": "x"}, {"event_time": 1e12},
		{"custom_data": map[string]any{"value": 12.5, "currency": "eur"}}, {"custom_data": map[string]any{"value": "x"}},
		{"custom_data": nil}, {"custom_data": "x"}, {"user_data": nil}, {"user_data": "x"}, {"user_data.ph": "bad"},
		{"user_data": map[string]any{"ct": "Paris", "country": "fr"}}, {"user_data": map[string]any{"fn": "A", "ge": "f"}},
		{"user_data.fbc": "fb.1.1.x"}, {"data_processing_options": []any{"LDU"}}, {"data_processing_options": []any{"LDU"}, "data_processing_options_country": 1},
		{"app_data": map[string]any{"extinfo": []any{"a"}}, "action_source": "app"}, {"event_source_url": "<&>"},
		{"user_data.em": []any{"A@b.co", "a@b.co", 7}}, {"x": "\u2028<b>&"},
	}
	for i, m := range mods {
		comparePrepare(t, c, payload(i, m))
	}
	for _, s := range []string{`{}`, `[]`, `null`, `{"a":1} x`, `{"event_name":"Purchase","event_time":1795168800}`, "{\"event_name\":\"\xff\"}"} {
		comparePrepare(t, c, []byte(s))
	}
}

func FuzzPrepareMatchesReference(f *testing.F) {
	for i := range 4 {
		f.Add([]byte(payload(i, nil)))
	}
	f.Add([]byte(`{"action_source":"weBsite","event_id":"","event_name":"0","event_source_url":"0","event_time":"2026-11-20T00:00:00Z","user_data":{"client_user_agent":"0","ph":"1000000A0000"}}`))
	r := newRemote(f, "")
	d, _ := newDest(f, &destinationtest.MemoryHost{}, r, nil)
	c := d.config()
	f.Fuzz(func(t *testing.T, payload []byte) { comparePrepare(t, c, payload) })
}

func (c *config) prepareRef(e plugins.Event, now time.Time) (*prepared, *problem) {
	p := &prepared{ev: e}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(e.Payload))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return p, &problem{code: CodeInvalidPayload, reasons: []string{"payload is not a JSON object"}}
	}
	var pr problem

	// event_name (ref §3).
	if s, ok := obj["event_name"].(string); ok && strings.TrimSpace(s) != "" {
		p.name = strings.TrimSpace(s)
		obj["event_name"] = p.name
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
		obj["action_source"] = src
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
	if p.id != "" {
		obj["event_id"] = p.id
	}

	// user_data (ref §4).
	url, _ := obj["event_source_url"].(string)
	url = strings.TrimSpace(url)
	present := map[string]bool{}
	switch ud := obj["user_data"].(type) {
	case map[string]any:
		opts := c.normalize
		opts.Now = now
		out, drops := normalize.UserData(ud, opts)
		p.drops = drops
		if _, has := out["fbc"]; !has && url != "" && !at.IsZero() {
			if fbc := normalize.FBCFromURL(url, at); fbc != "" {
				out["fbc"] = fbc
				p.fbcURL = true
			}
		}
		for k, v := range out {
			if customerInfoKeys[k] && nonEmpty(v) {
				present[k] = true
			}
		}
		obj["user_data"] = out
	case nil:
		pr.add(CodeMissingUserData, "user_data is required")
	default:
		pr.add(CodeMissingUserData, "user_data must be an object")
	}
	for _, k := range MatchKeys {
		if present[k] {
			p.keys |= keyBit(k)
		}
	}

	// Website events need the browser's URL and user agent (ref §3).
	if src == "website" {
		if url == "" {
			pr.add(CodeWebsiteRequirements, "event_source_url is required for action_source website")
		}
		if !present["client_user_agent"] {
			pr.add(CodeWebsiteRequirements, "user_data.client_user_agent is required for action_source website")
		}
	}

	// Enough customer information (ref §4).
	if _, isObj := obj["user_data"].(map[string]any); isObj {
		if len(present) == 0 {
			pr.add(CodeNoCustomerInfo, "user_data has no usable customer information parameter%s", dropHint(p.drops))
		} else {
			for _, combo := range invalidCombinations {
				if subsetRef(present, combo) {
					pr.add(CodeNoCustomerInfo, "user_data holds only %s, a combination Meta refuses as too broad to match (add em, ph, external_id, fbp, fbc or client_ip_address)%s",
						strings.Join(sortedKeysRef(present), "+"), dropHint(p.drops))
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
				cd["value"] = n
			} else if v != nil {
				pr.add(CodeInvalidField, "custom_data.value must be a number")
			}
		}
		if cur, ok := cd["currency"].(string); ok {
			cd["currency"] = strings.ToUpper(strings.TrimSpace(cur))
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
	body, err := json.Marshal(obj)
	if err != nil {
		return p, &problem{code: CodeInvalidPayload, reasons: []string{"payload cannot be encoded as JSON"}}
	}
	p.body = body
	p.key = c.stateKeyRef(p.name, p.id)
	return p, nil
}
func (c *config) stateKeyRef(name, id string) string {
	h := sha256.New()
	h.Write([]byte(c.pixelID))
	h.Write([]byte{0})
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return "dedupe." + hex.EncodeToString(h.Sum(nil)[:20])
}
func subsetRef(present map[string]bool, combo []string) bool {
	for k := range present {
		if !slices.Contains(combo, k) {
			return false
		}
	}
	return true
}
func sortedKeysRef(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// numericStringRef is numericString as it was before plainDecimal.
func numericStringRef(s string) (json.Number, bool) {
	s = strings.TrimSpace(s)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	return json.Number(strconv.FormatFloat(f, 'f', -1, 64)), true
}

var numericSeeds = []string{
	"123.45", " 123.45 ", "0", "-0", "0.5", "-0.5", "10", "100", "1.0", "1.50", "01", "00", ".5", "5.", "-", "",
	"123456789012345", "1234567890123456", "12345678901234567", "0.00000000000001", "0.000000000000001",
	"99999999999999.9", "999999999999999.9", "0.1", "0.3", "0.30000000000000004", "1e2", "1E2", "+1", "0x1p-2",
	"Inf", "NaN", "1_0", "١", "9007199254740993", "4.35", "2.675",
}

func checkNumericString(t *testing.T, s string) {
	t.Helper()
	got, gok := numericString(s)
	want, wok := numericStringRef(s)
	if got != want || gok != wok {
		t.Fatalf("numericString(%q) = %q, %v; want %q, %v", s, got, gok, want, wok)
	}
}

func TestNumericStringMatchesReference(t *testing.T) {
	for _, s := range numericSeeds {
		checkNumericString(t, s)
	}
	// The common price takes the fast path.
	if !plainDecimal("123.45") || plainDecimal("1.50") || plainDecimal("1234567890123456") {
		t.Fatal("plainDecimal")
	}
	// Every decimal of up to 15 digits, at random, is written as it is.
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		n := r.Uint64N(1_000_000_000_000_000)
		s := strconv.FormatUint(n, 10)
		if dot := r.IntN(len(s) + 1); dot < len(s) {
			s = strings.TrimRight(s[:dot]+"."+s[dot:], "0")
			if s[0] == '.' {
				s = "0" + s
			}
		}
		checkNumericString(t, s)
	}
}

func FuzzNumericString(f *testing.F) {
	for _, s := range numericSeeds {
		f.Add(s)
	}
	f.Fuzz(checkNumericString)
}
