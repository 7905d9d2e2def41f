package metacapi

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi/graphemu"
	"github.com/switchboard-cdp/switchboard/destinations/metacapi/normalize"
	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestContract(t *testing.T) {
	emu := graphemu.New(graphemu.Options{Pixels: map[string]graphemu.Pixel{testPixel: {Tokens: []string{testToken}}}})
	t.Cleanup(emu.Close)
	destinationtest.Run(t, destinationtest.Factory{
		New: func(testing.TB) plugins.Destination { return New() },
		Settings: func(_ testing.TB, r destinationtest.Remote) map[string]any {
			return map[string]any{"pixel_id": testPixel, "access_token": testToken, "graph_url": r.URL, "timeout": "10s"}
		},
		Accept: emu,
		Refuse: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804050,"error_user_msg":"This event has too little customer information.","fbtrace_id":"X"}}`))
		}),
		Payload: func(i int) json.RawMessage {
			// No event_id: it is derived from the message ID, unique per check.
			return json.RawMessage(fmt.Sprintf(`{"event_name":"Lead","event_time":%d,"action_source":"website",`+
				`"event_source_url":"https://example.com/p/%d","user_data":{"em":"user%d@example.com","client_user_agent":"UA"}}`,
				time.Now().Unix(), i, i))
		},
	})
}

// TestGoldenRequestBody sends a full batch and compares the request body
// with testdata/request.golden; every hashed value must equal what
// normalize computes for the raw input.
func TestGoldenRequestBody(t *testing.T) {
	r := newRemote(t, testAppSecret)
	host := &destinationtest.MemoryHost{}
	d, _ := newDest(t, host, r, map[string]any{"app_secret": testAppSecret, "test_event_code": "TEST123", "partner_agent": "switchboard"})
	batch := []plugins.Event{
		{ID: "a", MessageID: "m-a", Payload: payload(1, nil)},
		{ID: "b", MessageID: "m-b", Payload: payload(2, map[string]any{
			"event_name": "ViewContent", "event_id": nil, "custom_data": nil,
			"event_time":        testNow.Add(-2 * time.Minute).Format(time.RFC3339),
			"user_data.em":      []any{"John_Smith@gmail.com", "john_smith@gmail.com "},
			"user_data.ph":      "+44 (0)20 7946 0958",
			"user_data.db":      "2/16/1997",
			"user_data.ge":      "Female",
			"user_data.fn":      "Valéry",
			"user_data.fbc":     "fb.1.1554763741205.AbCdEf",
			"user_data.zp":      "SW1A 1AA",
			"user_data.st":      "London",
			"user_data.ct":      "London",
			"user_data.country": "gb",
		})},
		{ID: "c", MessageID: "m-c", Payload: payload(3, map[string]any{
			"event_name": "Lead", "action_source": "System_Generated", "event_source_url": nil, "custom_data": nil,
			"user_data.em": "E323EC626319CA94EE8BFF2E4C87CF613BE6EA19919ED1364124E16807AB3176",
			"user_data.ph": "not a phone",
		})},
	}
	results := deliver(t, d, batch)
	wantAll(t, results, plugins.OutcomeDelivered)

	if r.requests() != 1 {
		t.Fatalf("%d requests, want 1", r.requests())
	}
	var got bytes.Buffer
	if err := json.Indent(&got, r.bodies[0], "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	golden := filepath.Join("testdata", "request.golden")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("request body differs from %s:\n%s", golden, got.String())
	}

	// Every user_data value is exactly normalize's output for the raw input.
	var sent struct {
		Data           []map[string]any `json:"data"`
		AppSecretProof string           `json:"appsecret_proof"`
		TestEventCode  string           `json:"test_event_code"`
		PartnerAgent   string           `json:"partner_agent"`
	}
	if err := json.Unmarshal(r.bodies[0], &sent); err != nil {
		t.Fatal(err)
	}
	if sent.AppSecretProof != graphemu.AppSecretProof(testAppSecret, testToken) {
		t.Errorf("appsecret_proof = %q", sent.AppSecretProof)
	}
	if sent.TestEventCode != "TEST123" || sent.PartnerAgent != "switchboard" {
		t.Errorf("test_event_code %q, partner_agent %q", sent.TestEventCode, sent.PartnerAgent)
	}
	for i, e := range batch {
		var in map[string]any
		dec := json.NewDecoder(bytes.NewReader(e.Payload))
		dec.UseNumber()
		_ = dec.Decode(&in)
		want, _ := normalize.UserData(in["user_data"].(map[string]any), normalize.Options{DefaultCountry: "us", HashExternalID: true, Now: testNow})
		gotUD := sent.Data[i]["user_data"].(map[string]any)
		for k, v := range want {
			wj, _ := json.Marshal(v)
			gj, _ := json.Marshal(gotUD[k])
			if !bytes.Equal(wj, gj) {
				t.Errorf("event %s user_data.%s = %s, normalize gives %s", e.ID, k, gj, wj)
			}
		}
	}
	// Spot checks against the reference's test vectors (§12).
	ud1 := sent.Data[1]["user_data"].(map[string]any)
	for k, want := range map[string]string{
		"em": "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f", // row 1, ✓doc, deduplicated
		"ph": "35e206e5dec4c89b9e8b71b8c32724a5bb518483ac5a20c6617d738375b3b823", // row 7: Meta's rule drops the trunk 0
		"db": "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c", // rows 36/37: parsed, as the doc asks
		"fn": "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c", // row 16, ✓doc
		"ge": "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111", // row 33
		"zp": "830e1d4b9838bab1f5c2acdb23e0b502ff13a9832c4632e8d67a1d43d3b7f614", // row 29
	} {
		if l, _ := ud1[k].([]any); len(l) != 1 || l[0] != want {
			t.Errorf("event b user_data.%s = %v, want [%s]", k, ud1[k], want)
		}
	}
	if ud1["fbc"] != "fb.1.1554763741205.AbCdEf" {
		t.Errorf("given fbc replaced: %v", ud1["fbc"])
	}
	ud0 := sent.Data[0]["user_data"].(map[string]any)
	if want := normalize.FBCFromURL("https://shop.example.com/thanks?fbclid=IwAR1AbC", testNow.Add(-time.Hour)); ud0["fbc"] != want || want == "" {
		t.Errorf("fbc from fbclid = %v, want %q", ud0["fbc"], want)
	}
	if id, _ := sent.Data[1]["event_id"].(string); id != derivedEventID(batch[1]) {
		t.Errorf("derived event_id = %q", id)
	}
	if host.Counter(CounterDropped, map[string]string{"pixel": testPixel, "key": "ph", "reason": "invalid_phone"}) != 1 {
		t.Errorf("dropped phone not counted: %v", host.Counters())
	}
}

func TestSplitsIntoRequestsOfAtMost1000(t *testing.T) {
	r := newRemote(t, "")
	d, _ := newDest(t, &destinationtest.MemoryHost{}, r, map[string]any{"timeout": "30s"}) // a shared 2-core machine under -race
	results := deliver(t, d, events(2500, "big"))
	wantAll(t, results, plugins.OutcomeDelivered)
	reqs := r.emu.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	total := 0
	for _, q := range reqs {
		if q.EventCount > 1000 || q.EventsAccepted != q.EventCount {
			t.Errorf("request %d: %d events, %d accepted", q.ID, q.EventCount, q.EventsAccepted)
		}
		total += q.EventsAccepted
	}
	if total != 2500 || len(r.emu.Received(testPixel)) != 2500 {
		t.Errorf("%d events accepted, want 2500", total)
	}

	// max_batch smaller than 1000.
	r2 := newRemote(t, "")
	d2, _ := newDest(t, &destinationtest.MemoryHost{}, r2, map[string]any{"max_batch": 7})
	wantAll(t, deliver(t, d2, events(20, "small")), plugins.OutcomeDelivered)
	if n := len(r2.emu.Requests()); n != 3 {
		t.Errorf("%d requests for 20 events at max_batch 7, want 3", n)
	}
}

func TestStaleEventRejectedAlone(t *testing.T) {
	r := newRemote(t, "")
	d, _ := newDest(t, &destinationtest.MemoryHost{}, r, nil)
	batch := events(6, "s")
	batch[2].Payload = payload(2, map[string]any{"event_time": testNow.Add(-8 * 24 * time.Hour).Unix()})
	// 30 days old is fine for a store purchase (62-day limit).
	batch[4].Payload = payload(4, map[string]any{"event_time": testNow.Add(-30 * 24 * time.Hour).Unix(), "action_source": "physical_store"})
	results := deliver(t, d, batch)
	for _, e := range batch {
		res := results[e.ID]
		if e.ID == "s-2" {
			if res.Outcome != plugins.OutcomeRejected || res.Code != CodeEventTooOld || !strings.Contains(res.Reason, "at most 7 days") {
				t.Errorf("stale event: %+v", res)
			}
			continue
		}
		if res.Outcome != plugins.OutcomeDelivered {
			t.Errorf("%s: %+v", e.ID, res)
		}
	}
	if n := len(r.emu.Received(testPixel)); n != 5 || len(r.emu.Requests()) != 1 {
		t.Errorf("%d events received in %d requests, want 5 in 1", n, len(r.emu.Requests()))
	}
}

func TestFaultsAreRetriedWithoutDuplicates(t *testing.T) {
	cases := []struct {
		fault     graphemu.Fault
		code      string
		wantDelay time.Duration
	}{
		{graphemu.Throttle(17), CodeThrottled, throttleDelay},
		{graphemu.Throttle(613), CodeThrottled, throttleDelay},
		{graphemu.Throttle(80004), CodeThrottled, throttleDelay},
		{graphemu.Throttle(4), CodeThrottled, throttleDelay},
		{graphemu.Transient(2), CodeTransient, transientDelay},
		{graphemu.Transient(1), CodeTransient, transientDelay},
		{graphemu.ServerError(503), CodeHTTPError, transientDelay},
		{graphemu.Hang(0), CodeTimeout, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s_%d", tc.fault.Kind, tc.fault.Code), func(t *testing.T) {
			r := newRemote(t, "")
			timeout := "10s" // generous: a shared machine under -race
			if tc.fault.Kind == graphemu.FaultHang {
				timeout = "300ms"
			}
			d, logs := newDest(t, &destinationtest.MemoryHost{}, r, map[string]any{"timeout": timeout})
			if err := r.emu.Inject(tc.fault); err != nil {
				t.Fatal(err)
			}
			batch := events(30, "f")
			for _, res := range deliver(t, d, batch) {
				if res.Outcome != plugins.OutcomeRetry || res.Code != tc.code || res.RetryAfter != tc.wantDelay {
					t.Fatalf("first attempt: %+v, want retry %s after %s", res, tc.code, tc.wantDelay)
				}
			}
			for i := range batch {
				batch[i].Attempt = 2
			}
			wantAll(t, deliver(t, d, batch), plugins.OutcomeDelivered)
			if dup := r.emu.Duplicates(testPixel); len(dup) != 0 {
				t.Errorf("sent twice: %v", dup)
			}
			if n := len(r.emu.Received(testPixel)); n != 30 {
				t.Errorf("%d events received, want 30", n)
			}
			if strings.Contains(logs.String(), testToken) {
				t.Error("token in logs")
			}
		})
	}
}

func TestConfigurationErrorsHoldEvents(t *testing.T) {
	cases := []struct {
		name  string
		fault graphemu.Fault
		token string
		code  string
		log   string
	}{
		{"expired", graphemu.TokenExpired(), testToken, CodeTokenInvalid, "access token"},
		{"wrong token", graphemu.Fault{}, "EAAB-wrong-token-0000", CodeTokenInvalid, "access token"},
		{"permission", graphemu.Fault{Kind: graphemu.FaultError, Code: 200, Message: "Permissions error"}, testToken, CodePermission, "permission"},
		{"unknown pixel", graphemu.Fault{Kind: graphemu.FaultError, Code: 100, Subcode: 33, Type: graphemu.TypeMethod, Message: "Unsupported post request."}, testToken, CodeUnknownPixel, "pixel_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRemote(t, "")
			d, logs := newDest(t, &destinationtest.MemoryHost{}, r, map[string]any{"access_token": tc.token})
			if tc.fault.Kind != "" {
				if err := r.emu.Inject(tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			results := deliver(t, d, events(10, "tok"))
			for _, res := range results {
				if res.Outcome != plugins.OutcomeHold || res.Code != tc.code || res.RetryAfter != configDelay {
					t.Errorf("%+v, want hold %s after %s", res, tc.code, configDelay)
				}
				if strings.Contains(res.Reason, tc.token) {
					t.Errorf("token in reason %q", res.Reason)
				}
			}
			out := logs.String()
			if !strings.Contains(out, `"level":"ERROR"`) || !strings.Contains(out, tc.log) {
				t.Errorf("no actionable error log:\n%s", out)
			}
			if strings.Count(out, `"level":"ERROR"`) != 1 {
				t.Errorf("want exactly one error line per batch:\n%s", out)
			}
			if strings.Contains(out, tc.token) || strings.Contains(out, testToken) {
				t.Errorf("token in logs:\n%s", out)
			}
			if len(r.emu.Received(testPixel)) != 0 {
				t.Error("events accepted")
			}
		})
	}
}

func TestDuplicatesAreNotSentAgain(t *testing.T) {
	r := newRemote(t, "")
	host := &destinationtest.MemoryHost{}
	d, _ := newDest(t, host, r, nil)

	// Twice in one batch: sent once, both delivered.
	batch := events(3, "first")
	batch = append(batch, plugins.Event{ID: "again", MessageID: "m-again", Payload: batch[1].Payload})
	results := deliver(t, d, batch)
	wantAll(t, results, plugins.OutcomeDelivered)
	if results["again"].Code != CodeDuplicate {
		t.Errorf("in-batch duplicate: %+v", results["again"])
	}
	if n := len(r.emu.Received(testPixel)); n != 3 {
		t.Fatalf("%d events received, want 3", n)
	}

	// In a later call, and after a restart with the same host state.
	later := []plugins.Event{{ID: "later", MessageID: "m-later", Payload: payload(1, nil)}, {ID: "new", MessageID: "m-new", Payload: payload(7, nil)}}
	res := deliver(t, d, later)
	if res["later"].Outcome != plugins.OutcomeDelivered || res["later"].Code != CodeDuplicate || res["new"].Outcome != plugins.OutcomeDelivered {
		t.Errorf("later call: %+v", res)
	}
	restarted, _ := newDest(t, host, r, nil)
	res = deliver(t, restarted, []plugins.Event{{ID: "restart", MessageID: "m-r", Payload: payload(2, nil)}})
	if res["restart"].Outcome != plugins.OutcomeDelivered || res["restart"].Code != CodeDuplicate {
		t.Errorf("after restart: %+v", res)
	}
	if n := len(r.emu.Received(testPixel)); n != 4 {
		t.Errorf("%d events received, want 4", n)
	}
	if dup := r.emu.Duplicates(testPixel); len(dup) != 0 {
		t.Errorf("sent twice: %v", dup)
	}
	if got := host.Counter(CounterDedupeHits, map[string]string{"pixel": testPixel, "event_name": "Purchase"}); got != 3 {
		t.Errorf("dedupe hits %v, want 3", got)
	}
	// One Seen and one MarkSeen per Deliver.
	if host.Calls("Seen") != 3 || host.Calls("MarkSeen") != 2 {
		t.Errorf("Seen %d, MarkSeen %d calls", host.Calls("Seen"), host.Calls("MarkSeen"))
	}
	// Only after acceptance: a failed send marks nothing.
	if err := r.emu.Inject(graphemu.Transient(2)); err != nil {
		t.Fatal(err)
	}
	res = deliver(t, d, []plugins.Event{{ID: "x", MessageID: "m-x", Payload: payload(40, nil)}})
	if res["x"].Outcome != plugins.OutcomeRetry {
		t.Fatalf("%+v", res["x"])
	}
	res = deliver(t, d, []plugins.Event{{ID: "x", MessageID: "m-x", Payload: payload(40, nil)}})
	if res["x"].Outcome != plugins.OutcomeDelivered || res["x"].Code == CodeDuplicate {
		t.Errorf("retry after a failed send: %+v", res["x"])
	}
}

// TestBisectIsolatesMetaRejection: Meta refuses a batch (code 100) for an
// event the local checks let through (an unknown customer_segmentation);
// the destination isolates it and delivers the rest.
func TestBisectIsolatesMetaRejection(t *testing.T) {
	r := newRemote(t, "")
	d, _ := newDest(t, &destinationtest.MemoryHost{}, r, nil)
	batch := events(37, "bi")
	bad := map[string]bool{"bi-5": true, "bi-30": true}
	batch[5].Payload = payload(5, map[string]any{"custom_data": map[string]any{"value": 1, "currency": "EUR", "customer_segmentation": "bogus"}})
	batch[30].Payload = payload(30, map[string]any{"custom_data": map[string]any{"value": 1, "currency": "EUR", "customer_segmentation": "nope"}})
	results := deliver(t, d, batch)
	for id, res := range results {
		if bad[id] {
			if res.Outcome != plugins.OutcomeRejected || res.Code != CodeMetaInvalid || !strings.Contains(res.Reason, "customer_segmentation") {
				t.Errorf("%s: %+v", id, res)
			}
		} else if res.Outcome != plugins.OutcomeDelivered {
			t.Errorf("%s: %+v", id, res)
		}
	}
	if n := len(r.emu.Received(testPixel)); n != 35 {
		t.Errorf("%d received, want 35", n)
	}
	if dup := r.emu.Duplicates(testPixel); len(dup) != 0 {
		t.Errorf("sent twice while bisecting: %v", dup)
	}
	t.Logf("%d requests to isolate 2 bad events among 37", len(r.emu.Requests()))
}

func TestValidation(t *testing.T) {
	old := testNow.Add(-8 * 24 * time.Hour).Unix()
	cases := []struct {
		name string
		mods map[string]any
		code string
		in   string // in the reason
	}{
		{"no event_name", map[string]any{"event_name": nil}, CodeMissingEventName, "event_name"},
		{"no event_time", map[string]any{"event_time": nil}, CodeInvalidEventTime, "required"},
		{"bad event_time", map[string]any{"event_time": "yesterday"}, CodeInvalidEventTime, "RFC 3339"},
		{"milliseconds", map[string]any{"event_time": testNow.UnixMilli()}, CodeInvalidEventTime, "milliseconds"},
		{"too old", map[string]any{"event_time": old}, CodeEventTooOld, "7 days"},
		{"too old offline", map[string]any{"event_time": testNow.Add(-63 * 24 * time.Hour).Unix(), "action_source": "physical_store"}, CodeEventTooOld, "62 days"},
		{"future", map[string]any{"event_time": testNow.Add(time.Hour).Unix()}, CodeEventInFuture, "future"},
		{"no action_source", map[string]any{"action_source": nil}, CodeInvalidActionSource, "required"},
		{"bad action_source", map[string]any{"action_source": "web"}, CodeInvalidActionSource, `"web"`},
		{"website no url", map[string]any{"event_source_url": nil}, CodeWebsiteRequirements, "event_source_url"},
		{"website no ua", map[string]any{"user_data.client_user_agent": nil}, CodeWebsiteRequirements, "client_user_agent"},
		{"purchase no value", map[string]any{"custom_data": map[string]any{"currency": "USD"}}, CodePurchaseRequirements, "value"},
		{"purchase no currency", map[string]any{"custom_data": map[string]any{"value": 3}}, CodePurchaseRequirements, "currency"},
		{"no user_data", map[string]any{"user_data": nil}, CodeMissingUserData, "user_data"},
		{"only unusable", map[string]any{"action_source": "email", "event_source_url": nil,
			"user_data": map[string]any{"em": "not-an-email", "ph": "12"}}, CodeNoCustomerInfo, "invalid_email"},
		{"only fn+ge", map[string]any{"action_source": "email", "event_source_url": nil, "user_data": map[string]any{"fn": "Mary", "ge": "f"}}, CodeNoCustomerInfo, "fn+ge"},
		{"only address+ua", map[string]any{"event_source_url": "https://example.com/", "user_data": map[string]any{"ct": "Paris", "country": "FR", "client_user_agent": "UA"}}, CodeNoCustomerInfo, "client_user_agent+country+ct"},
		{"app without app_data", map[string]any{"action_source": "app"}, CodeAppData, "app_data"},
		{"LDU without country", map[string]any{"data_processing_options": []any{"LDU"}}, CodeDataProcessing, "data_processing_options_country"},
	}
	r := newRemote(t, "")
	d, _ := newDest(t, &destinationtest.MemoryHost{}, r, nil)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := deliver(t, d, []plugins.Event{{ID: "v", MessageID: "m-" + tc.name, Payload: payload(i, tc.mods)}})["v"]
			if res.Outcome != plugins.OutcomeRejected || res.Code != tc.code || !strings.Contains(res.Reason, tc.in) {
				t.Errorf("%+v, want rejected %s mentioning %q", res, tc.code, tc.in)
			}
		})
	}
	if n := len(r.emu.Requests()); n != 0 {
		t.Errorf("%d requests for invalid events", n)
	}
	// Valid edge cases: RFC 3339 time, string value, LDU complete, number event_id.
	ok := []map[string]any{
		{"event_time": testNow.Add(-time.Minute).Format(time.RFC3339Nano)},
		{"event_time": fmt.Sprint(testNow.Unix())},
		{"data_processing_options": []any{"LDU"}, "data_processing_options_country": 1, "data_processing_options_state": 1000},
		{"event_id": 12345},
		{"action_source": "app", "event_source_url": nil, "app_data": map[string]any{"extinfo": make([]any, 16)}},
	}
	for i, mods := range ok {
		for j := range 16 {
			if ad, has := mods["app_data"].(map[string]any); has {
				ad["extinfo"].([]any)[j] = ""
			}
		}
		res := deliver(t, d, []plugins.Event{{ID: "ok", MessageID: fmt.Sprint("ok-", i), Payload: payload(100+i, mods)}})["ok"]
		if res.Outcome != plugins.OutcomeDelivered {
			t.Errorf("valid case %d: %+v", i, res)
		}
	}
}

func TestCounters(t *testing.T) {
	r := newRemote(t, "")
	host := &destinationtest.MemoryHost{}
	d, _ := newDest(t, host, r, nil)
	batch := events(4, "c")
	batch[0].Payload = payload(0, map[string]any{"user_data.ph": "nope", "event_id": nil})
	batch[1].Payload = payload(1, map[string]any{"event_time": testNow.Add(-9 * 24 * time.Hour).Unix()})
	deliver(t, d, batch)
	if host.Calls("AddCounters") != 1 {
		t.Errorf("AddCounters called %d times, want 1", host.Calls("AddCounters"))
	}
	l := func(kv ...string) map[string]string {
		m := map[string]string{"pixel": testPixel}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{CounterEvents, l("event_name", "Purchase"), 3},
		{CounterMatchKey, l("event_name", "Purchase", "key", "em"), 3},
		{CounterMatchKey, l("event_name", "Purchase", "key", "ph"), 2},
		{CounterMatchKey, l("event_name", "Purchase", "key", "fbc"), 3},
		{CounterDropped, l("key", "ph", "reason", "invalid_phone"), 1},
		{CounterMissingEventID, l("event_name", "Purchase"), 1},
		{CounterFBCFromURL, l("event_name", "Purchase"), 3},
		{CounterRejected, l("event_name", "Purchase", "code", CodeEventTooOld), 1},
	} {
		if got := host.Counter(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, c := range host.Counters() {
		for _, v := range c.Labels {
			if strings.Contains(v, testToken) {
				t.Error("token in a counter label")
			}
		}
	}
}

// TestStatsMatchesReference: stats gives the counters, in the order they
// were first added, that one map of every counter gives.
func TestStatsMatchesReference(t *testing.T) {
	type counter struct {
		k statKey
		v float64
	}
	var ref []counter
	refAdd := func(k statKey) {
		for i := range ref {
			if ref[i].k == k {
				ref[i].v++
				return
			}
		}
		ref = append(ref, counter{k, 1})
	}
	s := newStats(testPixel)
	names := []string{"Purchase", "Lead", "", strings.Repeat("x", 70)}
	for i := range 200 {
		p := &prepared{name: names[i%len(names)], keys: keySet(i*2654435761) & matchKeySet,
			derivedID: i%3 == 0, fbcURL: i%5 == 0}
		if i%7 == 0 {
			p.drops = []normalize.Drop{{Key: "ph", Reason: "invalid_phone"}}
		}
		accepted := i%4 != 1
		s.final(p, accepted)
		for _, d := range p.drops {
			refAdd(statKey{name: CounterDropped, key: d.Key, reason: d.Reason})
		}
		if !accepted {
			s.rejected(p.name, CodeEventTooOld)
			refAdd(statKey{name: CounterRejected, eventName: labelName(p.name), code: CodeEventTooOld})
			continue
		}
		name := labelName(p.name)
		refAdd(statKey{name: CounterEvents, eventName: name})
		for _, k := range MatchKeys {
			if p.keys.has(k) {
				refAdd(statKey{name: CounterMatchKey, eventName: name, key: k})
			}
		}
		if p.derivedID {
			refAdd(statKey{name: CounterMissingEventID, eventName: name})
		}
		if p.fbcURL {
			refAdd(statKey{name: CounterFBCFromURL, eventName: name})
		}
	}
	got := s.counters()
	if len(got) != len(ref) {
		t.Fatalf("%d counters, want %d", len(got), len(ref))
	}
	for i, c := range ref {
		want := map[string]string{"pixel": testPixel}
		for label, v := range map[string]string{"event_name": c.k.eventName, "key": c.k.key, "reason": c.k.reason, "code": c.k.code} {
			if v != "" {
				want[label] = v
			}
		}
		if g := got[i]; g.Name != c.k.name || g.Delta != c.v || fmt.Sprint(g.Labels) != fmt.Sprint(want) {
			t.Fatalf("counter %d = %s%v %v, want %s%v %v", i, g.Name, g.Labels, g.Delta, c.k.name, want, c.v)
		}
	}
}

func TestConfigure(t *testing.T) {
	cases := []struct {
		name     string
		settings string
		fields   []string
	}{
		{"missing", `{}`, []string{"pixel_id", "access_token"}},
		{"numeric pixel", `{"pixel_id":1234,"access_token":"t"}`, nil},
		{"bad pixel", `{"pixel_id":"abc/../x","access_token":"t"}`, []string{"pixel_id"}},
		{"bad values", `{"pixel_id":"1","access_token":"t","api_version":"25","graph_url":"ftp://x","timeout":"-1s","max_batch":1001,"default_country":"Atlantis","dedupe_window":"forever"}`,
			[]string{"api_version", "graph_url", "timeout", "max_batch", "default_country", "dedupe_window"}},
		{"unknown", `{"pixel_id":"1","access_token":"t","pixel":"2"}`, []string{"pixel"}},
		{"type", `{"pixel_id":"1","access_token":"t","max_batch":"many"}`, []string{"max_batch"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := New().Configure(context.Background(), plugins.Config{Settings: json.RawMessage(tc.settings), Host: &destinationtest.MemoryHost{}})
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("Configure: %v", err)
				}
				return
			}
			fe, ok := err.(plugins.FieldErrors)
			if !ok {
				t.Fatalf("error %v (%T), want FieldErrors", err, err)
			}
			var got []string
			for _, e := range fe {
				got = append(got, e.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("fields %v, want %v (%v)", got, tc.fields, fe)
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	s := secret(testToken)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(out, testToken) {
			t.Errorf("secret printed: %s", out)
		}
	}
	b, _ := json.Marshal(struct{ T secret }{s})
	if strings.Contains(string(b), testToken) {
		t.Errorf("secret in JSON: %s", b)
	}
}

func TestScore(t *testing.T) {
	all := map[string]float64{}
	for _, k := range MatchKeys {
		all[k] = 1
	}
	if got := Score(all); got != 10 {
		t.Errorf("full coverage scores %v, want 10", got)
	}
	if got := Score(nil); got != 0 {
		t.Errorf("no coverage scores %v", got)
	}
	if got := Score(map[string]float64{"em": 1, "client_ip_address": 1, "client_user_agent": 1, "fbp": 0.5}); got != 4.3 {
		t.Errorf("score %v, want 4.3", got)
	}
	if got := Score(map[string]float64{"em": 7, "ph": -1}); got != 2.5 {
		t.Errorf("clamped score %v, want 2.5", got)
	}
	recs := Recommendations("Purchase", map[string]float64{"em": 1, "ph": 0.62, "fbc": 0.95, "event_id": 0.5}, 3)
	want := []string{
		"50% of Purchase events have no event_id: map the browser pixel's eventID so Meta can deduplicate browser and server events",
		"100% of Purchase events have no external ID (external_id)",
		"100% of Purchase events have no IP address (client_ip_address)",
	}
	if strings.Join(recs, "\n") != strings.Join(want, "\n") {
		t.Errorf("recommendations:\n%s", strings.Join(recs, "\n"))
	}
	recs = Recommendations("Purchase", map[string]float64{"em": 1, "ph": 0.62, "external_id": 1, "client_ip_address": 1, "fbc": 1, "fbp": 1}, 1)
	if len(recs) != 1 || recs[0] != "38% of Purchase events have no phone (ph)" {
		t.Errorf("recommendations: %q", recs)
	}
}

func BenchmarkDeliver1000(b *testing.B) {
	r := newRemote(b, "")
	d, _ := newDest(b, &destinationtest.MemoryHost{}, r, nil)
	payloads := make([]json.RawMessage, 1000)
	for i := range payloads {
		payloads[i] = payload(i, nil)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		batch := make([]plugins.Event, 1000)
		for i := range batch {
			// Fresh event_ids so nothing is deduplicated away.
			id := fmt.Sprintf("%d-%d", n, i)
			batch[i] = plugins.Event{ID: id, MessageID: id,
				Payload: bytes.Replace(payloads[i], []byte(`"order-`), []byte(`"o`+fmt.Sprint(n)+`-`), 1)}
		}
		results, err := d.Deliver(context.Background(), batch)
		if err != nil || len(results) != 1000 || results[0].Outcome != plugins.OutcomeDelivered {
			b.Fatalf("Deliver: %v %v", err, results[0])
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPrepare measures the destination's own per-event work:
// decoding, normalising and hashing, validating and encoding one event.
func BenchmarkPrepare(b *testing.B) {
	r := newRemote(b, "")
	d, _ := newDest(b, &destinationtest.MemoryHost{}, r, nil)
	c := d.config()
	e := plugins.Event{ID: "p", MessageID: "m", Payload: payload(1, nil)}
	b.ReportAllocs()
	for b.Loop() {
		if _, prob := c.prepare(e, testNow); prob != nil {
			b.Fatal(prob.reason())
		}
	}
}

// BenchmarkPrepareMappedOrder is BenchmarkPrepare with the members in the
// order a pipeline's map: writes them (not sorted, as json.Marshal's are),
// as events arrive from serve.
func BenchmarkPrepareMappedOrder(b *testing.B) {
	r := newRemote(b, "")
	d, _ := newDest(b, &destinationtest.MemoryHost{}, r, nil)
	c := d.config()
	data := fmt.Sprintf(`{"event_name":"Purchase","event_time":%d,"event_id":"order-1",`+
		`"event_source_url":"https://shop.example.com/thanks?fbclid=IwAR1AbC","action_source":"website",`+
		`"user_data":{"em":"  User1@Example.COM ","ph":"(650) 555-1201","fn":"Mary","ln":"O'Brien",`+
		`"ct":"St. Louis","st":"Missouri","zp":"63101-1234","country":"USA","external_id":"User-1",`+
		`"client_ip_address":"2001:db8::1","client_user_agent":"Mozilla/5.0","fbp":"fb.1.1596403881668.1116446470"},`+
		`"custom_data":{"value":"123.45","currency":"usd"}}`, testNow.Add(-time.Hour).Unix())
	e := plugins.Event{ID: "p", MessageID: "m", Payload: json.RawMessage(data)}
	b.ReportAllocs()
	for b.Loop() {
		if _, prob := c.prepare(e, testNow); prob != nil {
			b.Fatal(prob.reason())
		}
	}
}

func TestQualityFromCounters(t *testing.T) {
	r := newRemote(t, "")
	host := &destinationtest.MemoryHost{}
	d, _ := newDest(t, host, r, nil)
	batch := events(4, "q")
	batch[0].Payload = payload(0, map[string]any{"user_data.ph": nil, "event_id": nil})
	batch[1].Payload = payload(1, map[string]any{"user_data.ph": "bad phone"})
	batch[3].Payload = payload(3, map[string]any{"event_name": "Lead", "custom_data": nil})
	deliver(t, d, batch)
	deliver(t, d, batch[2:3]) // a dedupe hit
	qs, dropped := Quality(host.Counters())
	if len(qs) != 2 || qs[0].EventName != "Purchase" || qs[0].Events != 3 || qs[1].EventName != "Lead" {
		t.Fatalf("quality: %+v", qs)
	}
	p := qs[0]
	if math.Abs(p.Coverage["ph"]-1.0/3) > 1e-9 || p.Coverage["em"] != 1 || math.Abs(p.Coverage["event_id"]-2.0/3) > 1e-9 || p.DedupeHits != 1 {
		t.Errorf("coverage %v, dedupe %v", p.Coverage, p.DedupeHits)
	}
	if p.Score != Score(p.Coverage) || p.Score <= 0 || p.Score > 10 {
		t.Errorf("score %v", p.Score)
	}
	if dropped[testPixel]["ph"]["invalid_phone"] != 1 {
		t.Errorf("dropped %v", dropped)
	}
	recs := Recommendations(p.EventName, p.Coverage, 2)
	if len(recs) != 2 || !strings.Contains(recs[0], "33% of Purchase events have no event_id") || recs[1] != "67% of Purchase events have no phone (ph)" {
		t.Errorf("recommendations %q", recs)
	}
}

func TestHashExternalIDOff(t *testing.T) {
	r := newRemote(t, "")
	d, _ := newDest(t, &destinationtest.MemoryHost{}, r, map[string]any{"hash_external_id": false})
	wantAll(t, deliver(t, d, events(1, "x")), plugins.OutcomeDelivered)
	var ev struct {
		UserData map[string]any `json:"user_data"`
	}
	if err := json.Unmarshal(r.emu.Received(testPixel)[0].Raw, &ev); err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(ev.UserData["external_id"]); string(got) != `["User-0"]` {
		t.Errorf("external_id = %s, want it raw", got)
	}
}

// failingHost fails the seen-set calls it is told to.
type failingHost struct {
	destinationtest.MemoryHost
	failGet, failCreate bool
}

func (h *failingHost) Seen(ctx context.Context, keys []string) ([]bool, error) {
	if h.failGet {
		return nil, fmt.Errorf("seen set unavailable")
	}
	return h.MemoryHost.Seen(ctx, keys)
}

func (h *failingHost) MarkSeen(ctx context.Context, keys []string, ttl time.Duration) error {
	if h.failCreate {
		return fmt.Errorf("seen set unavailable")
	}
	return h.MemoryHost.MarkSeen(ctx, keys, ttl)
}

func TestStateFailures(t *testing.T) {
	r := newRemote(t, "")
	host := &failingHost{failGet: true}
	d, logs := newDest(t, host, r, nil)
	for _, res := range deliver(t, d, events(3, "sg")) {
		if res.Outcome != plugins.OutcomeRetry || res.Code != CodeStateError {
			t.Errorf("state unavailable: %+v", res)
		}
	}
	if r.requests() != 0 {
		t.Error("sent without checking for duplicates")
	}
	host.failGet, host.failCreate = false, true
	wantAll(t, deliver(t, d, events(3, "sc")), plugins.OutcomeDelivered)
	if !strings.Contains(logs.String(), "cannot record sent events") || host.Counter(CounterStateErrors, map[string]string{"pixel": testPixel}) != 1 {
		t.Errorf("state error not logged or counted:\n%s", logs.String())
	}
}

func TestAppSecretProofVector(t *testing.T) {
	// ref §1, executed against the SDKs.
	if got := appSecretProof("app_secret_example", "EAAB_example_token"); got != "e1382c887ec2ca9e3be0caa9e1119037c9a808c4466cada48c02113d80d02146" {
		t.Errorf("appsecret_proof = %s", got)
	}
}
