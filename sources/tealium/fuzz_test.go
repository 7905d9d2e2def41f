package tealium_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-cdp/switchboard/core/event"
	"github.com/switchboard-cdp/switchboard/sources/tealium"
)

// Routes of FuzzParse's second argument (modulo 3).
const (
	fuzzQuery = iota // GET /event's query string
	fuzzEvent        // POST /event's body
	fuzzBulk         // POST /bulk-event's body
)

// fuzzSeeds reach every branch of the parsers and of Normalize.
var fuzzSeeds = []struct {
	route uint8
	data  string
}{
	{fuzzQuery, "tealium_account=acme&tealium_event=view&tealium_visitor_id=v-1&dom.url=https%3A%2F%2Fa.example%2F&dom.title=A"},
	{fuzzQuery, "tealium_account=acme&tealium_event=purchase&customer_id=c1&product_id=p1&product_id=p2&key=secret&order_total=9.50"},
	{fuzzQuery, "tealium_account=acme&tealium_event=view&tealium_visitor_id=v&tealium_timestamp_epoch=1772625500.5"},
	{fuzzQuery, "a=%zz"},
	{fuzzQuery, "a;b=c"},
	{fuzzQuery, ""},
	{fuzzEvent, `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v-1","dom":{"url":"u","referrer":"r","x":1},"dom.title":"t"}`},
	{fuzzEvent, `{"tealium_account":"acme","tealium_event":"link","cp.utag_main_v_id":"c","customer_id":123456789012345678901234567890,"n":1.5e300}`},
	{fuzzEvent, `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","messageId":"m-1","tealium_timestamp_utc":"2026-01-01T00:00:00Z"}`},
	{fuzzEvent, `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","tealium_timestamp_epoch":"1e300"}`},
	{fuzzEvent, `{"tealium_account":"acme","tealium_event":["x"],"tealium_visitor_id":true}`},
	{fuzzEvent, `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","messageId":"a` + "\\u0000" + `"}`},
	{fuzzEvent, "tealium_account=acme&tealium_event=view&tealium_visitor_id=v"},
	{fuzzEvent, "\xef\xbb\xbf{\"tealium_event\":\"view\",\"tealium_visitor_id\":\"\\ud800\",\"tealium_\":1}"},
	{fuzzEvent, `[{"a":1}]`},
	{fuzzEvent, `{"a":1} x`},
	{fuzzEvent, `null`},
	{fuzzBulk, `{"shared":{"tealium_account":"acme","tealium_visitor_id":"v"},"events":[{"tealium_event":"view"},{"tealium_event":"cart_add","product_id":["p"]}]}`},
	{fuzzBulk, `{"shared":{"tealium_account":"acme","tealium_visitor_id":"v","tealium_library_name":"android"},"events":[{"tealium_event":"Home","tealium_event_type":"view","screen_title":"Home","tealium_timestamp_epoch_milliseconds":1772625500123},{"tealium_event":"tap","tealium_event_type":"event"}]}`},
	{fuzzBulk, `{"shared":null,"events":[{"tealium_account":"acme","tealium_event":"view","customer_id":"c"}]}`},
	{fuzzBulk, `{"events":[]}`},
	{fuzzBulk, `{"events":[1]}`},
	{fuzzBulk, `{"shared":[1],"events":[{}]}`},
	{fuzzBulk, `{"events":{}}`},
	{fuzzBulk, `[]`},
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz/FuzzParse from fuzzSeeds")

// FuzzParse feeds arbitrary query strings and bodies to the parsers and
// every parsed event to Normalize. Nothing may panic; a refusal is a 400
// with a message; an accepted event is valid, survives the JSON round
// trip a pipeline makes, keeps no key, and gets the same messageId every
// time.
func FuzzParse(f *testing.F) {
	if *updateCorpus {
		writeCorpus(f)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s.data), s.route)
	}
	f.Fuzz(func(t *testing.T, data []byte, route uint8) {
		var events []tealium.Attributes
		switch route % 3 {
		case fuzzQuery:
			a, err := tealium.ParseQuery(string(data))
			if err != nil {
				checkRefusal(t, err.Status, err.Msg)
				return
			}
			if _, ok := a["key"]; ok {
				t.Fatal("the key parameter became an attribute")
			}
			events = []tealium.Attributes{a}
		case fuzzEvent:
			a, err := tealium.ParseEvent(data)
			if err != nil {
				checkRefusal(t, err.Status, err.Msg)
				return
			}
			events = []tealium.Attributes{a}
		default:
			evs, err := tealium.ParseBulk(data, 1<<15, 10)
			if err != nil {
				checkRefusal(t, err.Status, err.Msg)
				return
			}
			if len(evs) == 0 || len(evs) > 10 {
				t.Fatalf("%d events accepted", len(evs))
			}
			events = evs
		}
		for _, a := range events {
			if a == nil {
				t.Fatal("nil attributes accepted")
			}
			req := testRequest()
			ev, err := tealium.Normalize(a, req)
			if err != nil {
				checkRefusal(t, err.Status, err.Msg)
				continue
			}
			if verr := ev.Validate(); verr != nil {
				t.Fatalf("accepted an invalid event: %v", verr)
			}
			name, _ := a["tealium_event"].(string)
			kind, _ := a["tealium_event_type"].(string)
			want := event.Track
			switch {
			case name == "view":
				want = event.Page
			case kind == "view" && ev.Name == fmt.Sprint(a["tealium_event"]):
				want = event.Screen
			}
			if ev.Type != want {
				t.Fatalf("type %s for tealium_event %#v, tealium_event_type %#v", ev.Type, a["tealium_event"], a["tealium_event_type"])
			}
			if _, explicit := a["messageId"]; !explicit && !strings.HasPrefix(ev.MessageID, "tealium-") {
				t.Fatalf("derived messageId %q", ev.MessageID)
			}
			again, _ := tealium.Normalize(a, req)
			if again == nil || again.MessageID != ev.MessageID {
				t.Fatal("messageId differs between two runs")
			}
			b, merr := json.Marshal(ev)
			if merr != nil {
				t.Fatalf("marshal: %v", merr)
			}
			if !utf8.Valid(b) {
				t.Fatalf("stored JSON is not UTF-8: %q", b)
			}
			var back event.Event
			if uerr := json.Unmarshal(b, &back); uerr != nil {
				t.Fatalf("stored event does not read back: %v\n%s", uerr, b)
			}
			if back.MessageID != ev.MessageID || back.Type != ev.Type || back.Event != ev.Event || back.UserID != ev.UserID || back.AnonymousID != ev.AnonymousID || !back.Timestamp.Equal(ev.Timestamp) {
				t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, back)
			}
			if ev.Timestamp.After(req.Received) {
				t.Fatalf("timestamp %v after receivedAt", ev.Timestamp)
			}
		}
	})
}

func checkRefusal(t *testing.T, status int, msg string) {
	t.Helper()
	if status != 400 || msg == "" {
		t.Fatalf("refusal %d %q", status, msg)
	}
}

// writeCorpus writes fuzzSeeds as files in testdata/fuzz/FuzzParse, so the
// seeds also run as plain test cases and a fuzzing run starts from them.
func writeCorpus(f *testing.F) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	for i, s := range fuzzSeeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nuint8(%d)\n", strconv.Quote(s.data), s.route)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}
