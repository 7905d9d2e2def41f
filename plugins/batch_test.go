package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	destinationv1 "github.com/switchboard-cdp/switchboard/plugins/proto/switchboard/destination/v1"
)

// throughWire encodes and decodes m, as gRPC does between host and plugin.
func throughWire[M proto.Message](t testing.TB, m M) M {
	t.Helper()
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(raw, out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

// deliverThroughWire sends batch to a destination returning results, the
// way the shim does, and returns what each side saw.
func deliverThroughWire(t testing.TB, batch []Event, results []Result) (gotEvents []Event, gotResults []Result) {
	t.Helper()
	req := &destinationv1.DeliverRequest{}
	if err := eventsToWire(req, batch); err != nil {
		t.Fatalf("eventsToWire: %v", err)
	}
	gotEvents, ids, err := eventsFromWire(throughWire(t, req))
	if err != nil {
		t.Fatalf("eventsFromWire: %v", err)
	}
	resp := throughWire(t, resultsToWire(results, ids))
	gotResults, err = resultsFromWire(resp, batch)
	if err != nil {
		t.Fatalf("resultsFromWire: %v", err)
	}
	return gotEvents, gotResults
}

// normalEvents is batch as the plugin should see it: empty payloads are
// nil, attempts are not negative.
func normalEvents(batch []Event) []Event {
	out := make([]Event, len(batch))
	for i, e := range batch {
		if len(e.Payload) == 0 {
			e.Payload = nil
		}
		e.Attempt = int(clampUint32(e.Attempt))
		out[i] = e
	}
	return out
}

func TestBatchRoundTrip(t *testing.T) {
	ev := func(id, payload string, attempt int, messageID string) Event {
		return Event{ID: id, Payload: json.RawMessage(payload), Attempt: attempt, MessageID: messageID}
	}
	three := []Event{ev("a", `{"n":1}`, 1, "m-a"), ev("b", `{}`, 2, "m-b"), ev("c", `[1,2,3]`, 3, "m-c")}
	tests := []struct {
		name    string
		batch   []Event
		results []Result
	}{
		{"empty batch", nil, nil},
		{"one event", []Event{ev("1", `{"id":12345678901234567890}`, 1, "m1")}, []Result{Delivered("1")}},
		{"in order", three, []Result{Delivered("a"), Delivered("b"), Delivered("c")}},
		{"any order", three, []Result{Delivered("c"), Rejected("a", "bad", "no"), Retry("b", time.Second, "http_429", "slow down")}},
		{"missing results", three, []Result{Delivered("b")}},
		{"no results", three, nil},
		{"a result twice", three, []Result{Delivered("a"), Rejected("a", "x", "y"), Delivered("b"), Delivered("c")}},
		{"foreign ids", three, []Result{Delivered("a"), Delivered("nope"), {ID: ""}, Delivered("c"), Retry("\xff", 0, "", "")}},
		{"every field", []Event{
			ev("", "", 0, ""), // all empty
			ev("ünïcødé-🦀", `{"ü":"🦀"}`, 7, "mëssage"),        // unicode
			ev("\xff\xfe", "\x00\x01", math.MaxInt32, "\xc3"), // not UTF-8
			ev("neg", "x", -3, ""),
			ev("empty-non-nil", "", 1, "m"),
		}, []Result{
			{ID: "", Outcome: OutcomeDelivered},
			Retry("ünïcødé-🦀", 1500*time.Millisecond, "http_503", "ünavailable"),
			Rejected("\xff\xfe", "\xc3", "body: \xff"),
			{ID: "neg", Outcome: Outcome(42), Code: "weird"}, // invalid outcome: crosses as none
			{ID: "empty-non-nil"},
		}},
		{"one reason for the batch", three, []Result{
			Rejected("a", "http_400", "400 Bad Request: {\"error\":\"bad batch\"}"),
			Rejected("b", "http_400", "400 Bad Request: {\"error\":\"bad batch\"}"),
			Rejected("c", "http_400", "400 Bad Request: {\"error\":\"bad batch\"}"),
		}},
		{"duplicate event ids", []Event{ev("d", "1", 1, ""), ev("d", "2", 1, "")}, []Result{Delivered("d"), Rejected("d", "c", "r")}},
		{"huge retry", three, []Result{Retry("a", math.MaxInt64, "", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotEvents, gotResults := deliverThroughWire(t, tt.batch, tt.results)
			if want := normalEvents(tt.batch); !reflect.DeepEqual(gotEvents, want) {
				t.Errorf("plugin got\n%+v\nwant\n%+v", gotEvents, want)
			}
			want := make([]Result, len(tt.results))
			for i, r := range tt.results {
				r.Outcome = outcomeFromWire(outcomeToWire(r.Outcome))
				r.RetryAfter = millisToDuration(durationToMillis(r.RetryAfter))
				want[i] = r
			}
			if !reflect.DeepEqual(gotResults, want) {
				t.Errorf("host got\n%+v\nwant\n%+v", gotResults, want)
			}
		})
	}
}

// TestBatchWireSize checks that a batch delivered in full, in order, sends
// nothing back but one outcome per event, and that a reason shared by a
// whole batch crosses once.
func TestBatchWireSize(t *testing.T) {
	batch := make([]Event, 1000)
	delivered := make([]Result, len(batch))
	rejected := make([]Result, len(batch))
	for i := range batch {
		batch[i] = Event{ID: strings.Repeat("x", 20) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Payload: json.RawMessage(`{}`)}
		delivered[i] = Delivered(batch[i].ID)
		rejected[i] = Rejected(batch[i].ID, "http_400", strings.Repeat("bad request ", 20))
	}
	ids := eventIDs{n: len(batch), lengths: make([]uint32, len(batch))}
	for i, e := range batch {
		ids.all += e.ID
		ids.lengths[i] = uint32(len(e.ID))
	}
	if size := proto.Size(resultsToWire(delivered, ids)); size > 1010 {
		t.Errorf("all delivered: %d bytes, want about 1 per event", size)
	}
	if size := proto.Size(resultsToWire(rejected, ids)); size > 3*1010+300 {
		t.Errorf("all rejected for one reason: %d bytes, want about 3 per event", size)
	}
}

// TestPayloadsDoNotOverlap checks that a destination appending to one
// payload cannot write into the next, which shares its buffer.
func TestPayloadsDoNotOverlap(t *testing.T) {
	batch := []Event{{ID: "1", Payload: json.RawMessage(`{"a":1}`)}, {ID: "2", Payload: json.RawMessage(`{"b":2}`)}}
	got, _ := deliverThroughWire(t, batch, nil)
	_ = append(got[0].Payload, "XXXXXXXX"...)
	if string(got[1].Payload) != `{"b":2}` {
		t.Errorf("appending to payload 0 changed payload 1 to %s", got[1].Payload)
	}
}

func TestEventsFromWireMalformed(t *testing.T) {
	tests := []struct {
		name string
		req  *destinationv1.DeliverRequest
		want string
	}{
		{"payloads without lengths", &destinationv1.DeliverRequest{Payloads: []byte("{}")}, "2 bytes of payloads but no payload lengths"},
		{"payload lengths too long", &destinationv1.DeliverRequest{Payloads: []byte("{}"), PayloadLengths: []uint32{3}}, "payload lengths add up to 3 bytes, but there are 2"},
		{"payload lengths too short", &destinationv1.DeliverRequest{Payloads: []byte("{}{}"), PayloadLengths: []uint32{2, 1}}, "add up to 3 bytes, but there are 4"},
		{"payload lengths overflow", &destinationv1.DeliverRequest{Payloads: []byte("{}"), PayloadLengths: []uint32{math.MaxUint32, 3}}, "add up to 4294967298"},
		{"ids without events", &destinationv1.DeliverRequest{Ids: []byte("a"), IdLengths: []uint32{1}}, "1 id lengths for 0 events"},
		{"too few id lengths", &destinationv1.DeliverRequest{PayloadLengths: []uint32{0, 0}, Ids: []byte("a"), IdLengths: []uint32{1}}, "1 id lengths for 2 events"},
		{"ids without lengths", &destinationv1.DeliverRequest{PayloadLengths: []uint32{0}, Ids: []byte("a")}, "1 bytes of ids but no id lengths"},
		{"id lengths too long", &destinationv1.DeliverRequest{PayloadLengths: []uint32{0}, Ids: []byte("a"), IdLengths: []uint32{2}}, "id lengths add up to 2 bytes, but there are 1"},
		{"message ids", &destinationv1.DeliverRequest{PayloadLengths: []uint32{0}, MessageIds: []byte("ab"), MessageIdLengths: []uint32{1}}, "message id lengths add up to 1 bytes, but there are 2"},
		{"attempts", &destinationv1.DeliverRequest{PayloadLengths: []uint32{0}, Attempts: []uint32{1, 2}}, "2 attempts for 1 events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := eventsFromWire(throughWire(t, tt.req))
			if !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("eventsFromWire = %v, want a malformed message error containing %q", err, tt.want)
			}
		})
	}
}

func TestResultsFromWireMalformed(t *testing.T) {
	batch := []Event{{ID: "a"}, {ID: "b"}}
	d := destinationv1.Outcome_OUTCOME_DELIVERED
	tests := []struct {
		name string
		resp *destinationv1.DeliverResponse
		want string
	}{
		{"fewer results without indexes", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d}}, "1 results for 2 events without event indexes"},
		{"more results without indexes", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d, d, d}}, "3 results for 2 events"},
		{"indexes count", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d}, EventIndexes: []uint32{0, 1}}, "2 event indexes for 1 results"},
		{"index out of range", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d}, EventIndexes: []uint32{2}}, "result 0 is for event 2 of 2"},
		{"foreign ids count", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d}, EventIndexes: []uint32{0}, ForeignResults: []uint32{0}}, "1 foreign results but 0 foreign ids"},
		{"foreign without indexes", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d, d}, ForeignResults: []uint32{0}, ForeignIds: [][]byte{[]byte("x")}}, "foreign results without event indexes"},
		{"foreign out of range", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d}, EventIndexes: []uint32{0}, ForeignResults: []uint32{1}, ForeignIds: [][]byte{[]byte("x")}}, "not increasing below 1"},
		{"foreign not increasing", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d, d}, EventIndexes: []uint32{0, 0}, ForeignResults: []uint32{1, 1}, ForeignIds: [][]byte{[]byte("x"), []byte("y")}}, "not increasing"},
		{"retry delays", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d, d}, RetryAfterMs: []uint64{1}}, "1 retry delays for 2 results"},
		{"codes", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d, d}, Codes: []uint32{1}, Strings: [][]byte{[]byte("c")}}, "1 codes for 2 results"},
		{"reasons", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d, d}, Reasons: []uint32{0, 0, 0}}, "3 reasons for 2 results"},
		{"string out of range", &destinationv1.DeliverResponse{Outcomes: []destinationv1.Outcome{d, d}, Codes: []uint32{0, 2}, Strings: [][]byte{[]byte("c")}}, "result 1 refers to string 2 of 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resultsFromWire(throughWire(t, tt.resp), batch)
			if !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("resultsFromWire = %v, want a malformed message error containing %q", err, tt.want)
			}
		})
	}
}

// FuzzEventsFromWire feeds arbitrary DeliverRequests to the plugin side's
// unpacking: it must refuse them with errMalformed or unpack events that
// pack back to the same events, never panic.
func FuzzEventsFromWire(f *testing.F) {
	seeds := []*destinationv1.DeliverRequest{
		{},
		{Payloads: []byte(`{}[]`), PayloadLengths: []uint32{2, 2}, Ids: []byte("ab"), IdLengths: []uint32{1, 1}, Attempts: []uint32{1, 9}},
		{Payloads: []byte(`{}`), PayloadLengths: []uint32{0, 2}, MessageIds: []byte("mü"), MessageIdLengths: []uint32{2, 1}},
		{Payloads: []byte(`{}`), PayloadLengths: []uint32{3}},
		{PayloadLengths: []uint32{0}, Ids: []byte("x"), IdLengths: []uint32{math.MaxUint32}},
	}
	for _, s := range seeds {
		raw, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var req destinationv1.DeliverRequest
		if proto.Unmarshal(raw, &req) != nil {
			return
		}
		events, ids, err := eventsFromWire(&req)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v is not errMalformed", err)
			}
			return
		}
		if len(events) != len(req.PayloadLengths) || ids.n != len(events) {
			t.Fatalf("%d events (%d ids) from %d payload lengths", len(events), ids.n, len(req.PayloadLengths))
		}
		var payloads bytes.Buffer
		for i, id := range ids.All() {
			if events[i].ID != id {
				t.Fatalf("event %d: id %q, ids say %q", i, events[i].ID, id)
			}
			if len(events[i].Payload) != int(req.PayloadLengths[i]) {
				t.Fatalf("event %d: %d bytes of payload, want %d", i, len(events[i].Payload), req.PayloadLengths[i])
			}
			payloads.Write(events[i].Payload)
		}
		if !bytes.Equal(payloads.Bytes(), req.Payloads) {
			t.Fatal("the payloads do not add up to the request's")
		}
		again := &destinationv1.DeliverRequest{}
		if err := eventsToWire(again, events); err != nil {
			t.Fatal(err)
		}
		events2, _, err := eventsFromWire(throughWire(t, again))
		if err != nil {
			t.Fatalf("repacked events do not unpack: %v", err)
		}
		if !reflect.DeepEqual(events, events2) {
			t.Fatalf("repacked events differ:\n%+v\n%+v", events, events2)
		}
	})
}

// FuzzResultsFromWire feeds arbitrary DeliverResponses for a batch of n
// events to the host side's unpacking: it must refuse them with
// errMalformed or unpack results that pack back to the same, never panic.
func FuzzResultsFromWire(f *testing.F) {
	d, r := destinationv1.Outcome_OUTCOME_DELIVERED, destinationv1.Outcome_OUTCOME_RETRY
	seeds := []*destinationv1.DeliverResponse{
		{},
		{Outcomes: []destinationv1.Outcome{d, r, 3}},
		{Outcomes: []destinationv1.Outcome{d, 9}, EventIndexes: []uint32{2, 0}, RetryAfterMs: []uint64{0, 1500}},
		{Outcomes: []destinationv1.Outcome{d, r}, EventIndexes: []uint32{0, 0}, ForeignResults: []uint32{1}, ForeignIds: [][]byte{[]byte("zz")}},
		{Outcomes: []destinationv1.Outcome{r, r, r}, Codes: []uint32{1, 1, 2}, Reasons: []uint32{2, 0, 1}, Strings: [][]byte{[]byte("c"), []byte("r")}},
		{Outcomes: []destinationv1.Outcome{d}, EventIndexes: []uint32{7}},
	}
	for _, s := range seeds {
		raw, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, uint8(3))
	}
	f.Fuzz(func(t *testing.T, raw []byte, n uint8) {
		var resp destinationv1.DeliverResponse
		if proto.Unmarshal(raw, &resp) != nil {
			return
		}
		batch := make([]Event, n)
		ids := eventIDs{n: int(n), lengths: make([]uint32, n)}
		for i := range batch {
			batch[i].ID = string(rune('a' + i%26))
			if i >= 26 {
				batch[i].ID += "-" + string(rune('a'+i/26))
			}
			ids.all += batch[i].ID
			ids.lengths[i] = uint32(len(batch[i].ID))
		}
		results, err := resultsFromWire(&resp, batch)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v is not errMalformed", err)
			}
			return
		}
		if len(results) != len(resp.Outcomes) {
			t.Fatalf("%d results from %d outcomes", len(results), len(resp.Outcomes))
		}
		again := throughWire(t, resultsToWire(results, ids))
		results2, err := resultsFromWire(again, batch)
		if err != nil {
			t.Fatalf("repacked results do not unpack: %v", err)
		}
		if !reflect.DeepEqual(results, results2) {
			t.Fatalf("repacked results differ:\n%+v\n%+v", results, results2)
		}
	})
}

// FuzzDeliverRoundTrip builds a batch and results from arbitrary bytes and
// checks that both cross exactly (but for the normalisations documented:
// empty payloads are nil, negative attempts 0, delays whole milliseconds,
// invalid outcomes none).
func FuzzDeliverRoundTrip(f *testing.F) {
	f.Add([]byte("\x03\x01a\x02{}\x01\x00\x02\x01b\x00\x05\x02mm\x03\x00\x01\x00\x00\x00\x01\x02\x01c\x01r"))
	f.Add([]byte("\x02\x04\xf0\x9f\xa6\x80\x00\x00\x00\x00\x00\x00\x00\x02\x07\x01\x05\x01z\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() int {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return int(b)
		}
		take := func() string {
			n := min(next(), len(data))
			s := string(data[:n])
			data = data[n:]
			return s
		}
		batch := make([]Event, next()%16)
		for i := range batch {
			batch[i] = Event{ID: take(), Payload: json.RawMessage(take()), Attempt: next() - 8, MessageID: take()}
		}
		results := make([]Result, next()%20)
		for i := range results {
			r := &results[i]
			if k := next(); k < len(batch) {
				r.ID = batch[k].ID
			} else {
				r.ID = take()
			}
			r.Outcome = Outcome(next()%6 - 1)
			r.RetryAfter = time.Duration(next()) * time.Millisecond
			r.Code, r.Reason = take(), take()
		}
		gotEvents, gotResults := deliverThroughWire(t, batch, results)
		if want := normalEvents(batch); !reflect.DeepEqual(gotEvents, want) {
			t.Fatalf("plugin got\n%+v\nwant\n%+v", gotEvents, want)
		}
		for i := range results {
			results[i].Outcome = outcomeFromWire(outcomeToWire(results[i].Outcome))
		}
		if len(results) == 0 {
			results = []Result{}
		}
		if !reflect.DeepEqual(gotResults, results) {
			t.Fatalf("host got\n%+v\nwant\n%+v", gotResults, results)
		}
	})
}
