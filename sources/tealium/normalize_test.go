package tealium_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/event"
	"github.com/switchboard-cdp/switchboard/sources/tealium"
)

var received = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func testRequest() *tealium.Request {
	return &tealium.Request{Source: "tag", UserIDAttribute: "customer_id", Received: received, IP: "203.0.113.9", UserAgent: "Mozilla/5.0"}
}

// jsonAttrs parses a JSON object as a POST /event body would be.
func jsonAttrs(t *testing.T, s string) tealium.Attributes {
	t.Helper()
	a, err := tealium.ParseEvent([]byte(s))
	if err != nil {
		t.Fatalf("ParseEvent(%s): %v", s, err)
	}
	return a
}

// stored is ev as a pipeline reads it back: JSON through event.Event.
func stored(t *testing.T, ev *event.Event) map[string]any {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back event.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNormalizeMapping(t *testing.T) {
	cases := []struct {
		name string
		body string
		req  func(*tealium.Request)
		want string // the stored event's JSON, messageId and receivedAt left out
	}{
		{
			name: "utag.js view: page call, dom to context.page, tealium_* to context.tealium",
			body: `{"tealium_account":"acme","tealium_profile":"main","tealium_event":"view","tealium_visitor_id":"v-1","tealium_session_id":"1712000000000","tealium_trace_id":"tr-9","tealium_timestamp_epoch":"1772625500","tealium_random":"1234567890123456","dom.url":"https://shop.example/p/1?x=1","dom.referrer":"https://google.com/","dom.title":"Shoe","dom.pathname":"/p/1","dom.domain":"shop.example","page_type":"product"}`,
			want: `{"type":"page","anonymousId":"v-1","timestamp":"2026-03-04T11:58:20Z","originalTimestamp":"2026-03-04T11:58:20Z","properties":{"dom.domain":"shop.example","page_type":"product"},"context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","page":{"url":"https://shop.example/p/1?x=1","referrer":"https://google.com/","title":"Shoe","path":"/p/1"},"tealium":{"account":"acme","profile":"main","event":"view","visitor_id":"v-1","session_id":"1712000000000","trace_id":"tr-9","timestamp_epoch":"1772625500","random":"1234567890123456"}},"source":"tag"}`,
		},
		{
			name: "link: track call named link",
			body: `{"tealium_account":"acme","tealium_event":"link","tealium_visitor_id":"v-1","link_text":"Buy"}`,
			want: `{"type":"track","event":"link","anonymousId":"v-1","timestamp":"2026-03-04T12:00:00Z","properties":{"link_text":"Buy"},"context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","tealium":{"account":"acme","event":"link","visitor_id":"v-1"}},"source":"tag"}`,
		},
		{
			name: "purchase: customer_id is userId and stays a property; numbers keep every digit",
			body: `{"tealium_account":"acme","tealium_event":"purchase","tealium_visitor_id":"v-1","customer_id":"c-7","order_id":"o-1","order_total":"42.50","order_currency":"EUR","product_id":["p-1","p-2"],"product_quantity":[1,2],"big":123456789012345678901234567890}`,
			want: `{"type":"track","event":"purchase","userId":"c-7","anonymousId":"v-1","timestamp":"2026-03-04T12:00:00Z","properties":{"customer_id":"c-7","order_id":"o-1","order_total":"42.50","order_currency":"EUR","product_id":["p-1","p-2"],"product_quantity":[1,2],"big":123456789012345678901234567890},"context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","tealium":{"account":"acme","event":"purchase","visitor_id":"v-1"}},"source":"tag"}`,
		},
		{
			name: "another user id attribute; a numeric id becomes a string",
			body: `{"tealium_account":"acme","tealium_event":"user_login","email_address":"ada@example.com","customer_id":42}`,
			req:  func(r *tealium.Request) { r.UserIDAttribute = "email_address" },
			want: `{"type":"track","event":"user_login","userId":"ada@example.com","timestamp":"2026-03-04T12:00:00Z","properties":{"email_address":"ada@example.com","customer_id":42},"context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","tealium":{"account":"acme","event":"user_login"}},"source":"tag"}`,
		},
		{
			name: "a dom object: page keys out, the rest stays; a flattened key wins",
			body: `{"tealium_account":"acme","tealium_event":"view","customer_id":7,"dom":{"url":"https://a.example/","title":"A","viewport_width":1200},"dom.title":"B"}`,
			want: `{"type":"page","userId":"7","timestamp":"2026-03-04T12:00:00Z","properties":{"customer_id":7,"dom":{"viewport_width":1200}},"context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","page":{"url":"https://a.example/","title":"B"},"tealium":{"account":"acme","event":"view"}},"source":"tag"}`,
		},
		{
			name: "utag.js cookie visitor id when tealium_visitor_id is absent; no IP or UA known",
			body: `{"tealium_account":"acme","tealium_event":"view","cp.utag_main_v_id":"017f-cookie"}`,
			req:  func(r *tealium.Request) { r.IP, r.UserAgent = "", "" },
			want: `{"type":"page","anonymousId":"017f-cookie","timestamp":"2026-03-04T12:00:00Z","properties":{"cp.utag_main_v_id":"017f-cookie"},"context":{"tealium":{"account":"acme","event":"view"}},"source":"tag"}`,
		},
		{
			name: "a mobile SDK's screen view: screen call named by tealium_event; epoch milliseconds",
			body: `{"tealium_account":"acme","tealium_event":"Home","tealium_event_type":"view","tealium_visitor_id":"v","screen_title":"Home","tealium_timestamp_epoch_milliseconds":1772625500123,"tealium_timestamp_epoch":1772625500}`,
			want: `{"type":"screen","name":"Home","anonymousId":"v","timestamp":"2026-03-04T11:58:20.123Z","originalTimestamp":"2026-03-04T11:58:20.123Z","properties":{"screen_title":"Home"},"context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","tealium":{"account":"acme","event":"Home","event_type":"view","visitor_id":"v","timestamp_epoch_milliseconds":1772625500123,"timestamp_epoch":1772625500}},"source":"tag"}`,
		},
		{
			name: "a mobile SDK's event: track call",
			body: `{"tealium_account":"acme","tealium_event":"tap","tealium_event_type":"event","tealium_visitor_id":"v"}`,
			want: `{"type":"track","event":"tap","anonymousId":"v","timestamp":"2026-03-04T12:00:00Z","context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","tealium":{"account":"acme","event":"tap","event_type":"event","visitor_id":"v"}},"source":"tag"}`,
		},
		{
			name: "epoch in milliseconds",
			body: `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","tealium_timestamp_epoch":1772625500123}`,
			want: `{"type":"page","anonymousId":"v","timestamp":"2026-03-04T11:58:20.123Z","originalTimestamp":"2026-03-04T11:58:20.123Z","context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","tealium":{"account":"acme","event":"view","visitor_id":"v","timestamp_epoch":1772625500123}},"source":"tag"}`,
		},
		{
			name: "tealium_timestamp_utc when there is no epoch",
			body: `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","tealium_timestamp_utc":"2026-03-04T10:00:00.000Z"}`,
			want: `{"type":"page","anonymousId":"v","timestamp":"2026-03-04T10:00:00Z","originalTimestamp":"2026-03-04T10:00:00Z","context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","tealium":{"account":"acme","event":"view","visitor_id":"v","timestamp_utc":"2026-03-04T10:00:00.000Z"}},"source":"tag"}`,
		},
		{
			name: "a client clock ahead of ours: timestamp is receivedAt",
			body: `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","tealium_timestamp_epoch":"1772629200"}`,
			want: `{"type":"page","anonymousId":"v","timestamp":"2026-03-04T12:00:00Z","originalTimestamp":"2026-03-04T13:00:00Z","context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","tealium":{"account":"acme","event":"view","visitor_id":"v","timestamp_epoch":"1772629200"}},"source":"tag"}`,
		},
		{
			name: "an unreadable epoch is kept but not used",
			body: `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","tealium_timestamp_epoch":"soon"}`,
			want: `{"type":"page","anonymousId":"v","timestamp":"2026-03-04T12:00:00Z","context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","tealium":{"account":"acme","event":"view","visitor_id":"v","timestamp_epoch":"soon"}},"source":"tag"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := testRequest()
			if tc.req != nil {
				tc.req(req)
			}
			ev, err := tealium.Normalize(jsonAttrs(t, tc.body), req)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			got := stored(t, ev)
			if id, _ := got["messageId"].(string); !strings.HasPrefix(id, "tealium-") || len(id) != len("tealium-")+32 {
				t.Errorf("messageId %q", id)
			}
			if got["receivedAt"] != "2026-03-04T12:00:00Z" {
				t.Errorf("receivedAt %v", got["receivedAt"])
			}
			delete(got, "messageId")
			delete(got, "receivedAt")
			var want map[string]any
			dec := json.NewDecoder(strings.NewReader(tc.want))
			dec.UseNumber()
			if err := dec.Decode(&want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("stored\n%s\nwant\n%s", g, tc.want)
			}
		})
	}
}

func TestNormalizeRefuses(t *testing.T) {
	long := strings.Repeat("m", 100)
	cases := []struct {
		body, field, msg string
	}{
		{`{"tealium_account":"acme","tealium_visitor_id":"v"}`, "tealium_event", "tealium_event is required"},
		{`{"tealium_account":"acme","tealium_event":"","tealium_visitor_id":"v"}`, "tealium_event", "tealium_event is required"},
		{`{"tealium_account":"acme","tealium_event":["view"],"tealium_visitor_id":"v"}`, "tealium_event", "tealium_event must be a string or a number"},
		{`{"tealium_account":"acme","tealium_event":"view"}`, "tealium_visitor_id", "tealium_visitor_id or customer_id is required"},
		{`{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":true}`, "tealium_visitor_id", "tealium_visitor_id must be a string or a number"},
		{`{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","customer_id":{"id":1}}`, "customer_id", "customer_id must be a string or a number"},
		{`{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","messageId":"` + long + `"}`, "messageId", "messageId must be shorter than 100 characters"},
		{`{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","messageId":"a\nb"}`, "messageId", "messageId must not contain control characters"},
	}
	for _, tc := range cases {
		_, err := tealium.Normalize(jsonAttrs(t, tc.body), testRequest())
		if err == nil {
			t.Errorf("%s: accepted", tc.body)
			continue
		}
		if err.Status != 400 || err.Field != tc.field || !strings.HasPrefix(err.Msg, tc.msg) {
			t.Errorf("%s: %d field=%q %q; want 400 field=%q %q", tc.body, err.Status, err.Field, err.Msg, tc.field, tc.msg)
		}
	}
}

// TestDerivedMessageID: the messageId of an event without one depends on
// its attributes only, not on the route, the key order or the request's
// time, IP or User-Agent; any attribute changes it; an explicit messageId
// wins.
func TestDerivedMessageID(t *testing.T) {
	id := func(a tealium.Attributes, edit func(*tealium.Request)) string {
		t.Helper()
		req := testRequest()
		if edit != nil {
			edit(req)
		}
		ev, err := tealium.Normalize(a, req)
		if err != nil {
			t.Fatal(err)
		}
		return ev.MessageID
	}
	base := id(jsonAttrs(t, `{"tealium_account":"acme","tealium_event":"purchase","tealium_visitor_id":"v-1","order_id":"o-1","order_total":"9.5"}`), nil)
	query, qerr := tealium.ParseQuery("order_total=9.5&order_id=o-1&tealium_visitor_id=v-1&tealium_event=purchase&tealium_account=acme&key=secret")
	if qerr != nil {
		t.Fatal(qerr)
	}
	form := jsonAttrs(t, "tealium_event=purchase&tealium_account=acme&order_id=o-1&tealium_visitor_id=v-1&order_total=9.5")
	bulk, berr := tealium.ParseBulk([]byte(`{"shared":{"tealium_account":"acme","tealium_visitor_id":"v-1"},"events":[{"order_total":"9.5","tealium_event":"purchase","order_id":"o-1"}]}`), 1<<15, 10)
	if berr != nil {
		t.Fatal(berr)
	}
	for name, got := range map[string]string{
		"reordered JSON":           id(jsonAttrs(t, `{"order_total":"9.5","order_id":"o-1","tealium_visitor_id":"v-1","tealium_event":"purchase","tealium_account":"acme"}`), nil),
		"GET query (key left out)": id(query, nil),
		"form body":                id(form, nil),
		"bulk event with shared":   id(bulk[0], nil),
		"later, from elsewhere": id(jsonAttrs(t, `{"tealium_account":"acme","tealium_event":"purchase","tealium_visitor_id":"v-1","order_id":"o-1","order_total":"9.5"}`), func(r *tealium.Request) {
			r.Received, r.IP, r.UserAgent = received.Add(time.Hour), "198.51.100.1", "curl/8"
		}),
	} {
		if got != base {
			t.Errorf("%s: messageId %s, want %s", name, got, base)
		}
	}
	for name, body := range map[string]string{
		"another order":      `{"tealium_account":"acme","tealium_event":"purchase","tealium_visitor_id":"v-1","order_id":"o-2","order_total":"9.5"}`,
		"a number, not text": `{"tealium_account":"acme","tealium_event":"purchase","tealium_visitor_id":"v-1","order_id":"o-1","order_total":9.5}`,
		"tealium_random":     `{"tealium_account":"acme","tealium_event":"purchase","tealium_visitor_id":"v-1","order_id":"o-1","order_total":"9.5","tealium_random":"1"}`,
		"another visitor":    `{"tealium_account":"acme","tealium_event":"purchase","tealium_visitor_id":"v-2","order_id":"o-1","order_total":"9.5"}`,
	} {
		if got := id(jsonAttrs(t, body), nil); got == base {
			t.Errorf("%s: same messageId as the base event", name)
		}
	}
	if got := id(jsonAttrs(t, `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","messageId":"fb-evt-1"}`), nil); got != "fb-evt-1" {
		t.Errorf("explicit messageId: %s", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
		bulk             bool
	}{
		{"empty", "  ", "request body is empty", false},
		{"array", `[{"a":1}]`, "body must be one JSON object; send several events to /bulk-event", false},
		{"broken JSON", `{"a":`, "invalid JSON", false},
		{"trailing data", `{"a":1} {"b":2}`, "invalid JSON: data after the object", false},
		{"too deep", `{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, "invalid JSON: nested more than 64 levels deep", false},
		{"bad escape in form", "a=%zz", "invalid form encoding", false},
		{"bulk not an object", `[1]`, "body must be a JSON object", true},
		{"bulk without events", `{"shared":{}}`, "events is required", true},
		{"bulk events not a list", `{"events":{}}`, "events must be a list", true},
		{"bulk events empty", `{"events":[]}`, "events is empty", true},
		{"bulk shared not an object", `{"shared":[1],"events":[{}]}`, "shared must be a JSON object", true},
		{"bulk event not an object", `{"events":[{},5]}`, "events[1]: an event must be a JSON object", true},
		{"bulk too many", `{"events":[{},{},{},{}]}`, "4 events in one request; at most 3", true},
		{"bulk event too large", `{"events":[{"a":"` + strings.Repeat("x", 100) + `"}]}`, "events[0]: event larger than 64 bytes", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var msg string
			if tc.bulk {
				_, err := tealium.ParseBulk([]byte(tc.body), 64, 3)
				if err == nil {
					t.Fatal("accepted")
				}
				msg = err.Msg
			} else {
				_, err := tealium.ParseEvent([]byte(tc.body))
				if err == nil {
					t.Fatal("accepted")
				}
				msg = err.Msg
			}
			if !strings.HasPrefix(msg, tc.want) {
				t.Fatalf("error %q, want %q…", msg, tc.want)
			}
		})
	}
	if _, err := tealium.ParseBulk([]byte(`{"events":[{},{"a":`+strings.Repeat("[", 64)+strings.Repeat("]", 64)+`}]}`), 1<<15, 10); err == nil || err.Msg != "events[1]: invalid JSON: nested more than 64 levels deep" || err.Index != 1 {
		t.Fatalf("deep bulk event: %v", err)
	}
	// 63 levels inside the object are fine; brackets in strings do not count.
	if _, err := tealium.ParseEvent([]byte(`{"a":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `,"s":"[[[[{{{{\\\""}`)); err != nil {
		t.Fatalf("63 levels refused: %v", err)
	}
	// Repeated query keys give a list; key never becomes an attribute.
	a, err := tealium.ParseQuery("product_id=p-1&product_id=p-2&key=s3cret&x=")
	if err != nil {
		t.Fatal(err)
	}
	if want := (tealium.Attributes{"product_id": []any{"p-1", "p-2"}, "x": ""}); !reflect.DeepEqual(a, want) {
		t.Fatalf("ParseQuery = %#v", a)
	}
}
