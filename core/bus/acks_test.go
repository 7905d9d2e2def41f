package bus

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

var pubAckSeeds = []string{
	`{"stream":"EVENTS","seq":42}`,
	`{"stream":"EVENTS","seq":42,"duplicate":true}`,
	`{"stream":"EVENTS","domain":"hub","seq":7,"duplicate":false}`,
	` {"stream":"EVENTS","seq":1} `,
	`{"stream":"EVENTS", "seq":1}`,
	`{"stream":"EV\"ENTS","seq":1}`,
	`{"stream":"EVENTS","seq":1,"batch":"x","count":3}`,
	`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"EVENTS","seq":0}`,
	`{"stream":"EVENTS","seq":-1}`,
	`{"stream":"EVENTS","seq":1,"duplicate":"yes"}`,
	`{"seq":1}`,
	`{}`,
	`not json`,
	``,
}

// TestParsePubAck: the fast reading agrees with encoding/json wherever it
// answers, and errors come back as JetStream's API errors.
func TestParsePubAck(t *testing.T) {
	var ack jetstream.PubAck
	if err := parsePubAck([]byte(pubAckSeeds[1]), &ack); err != nil || ack.Stream != "EVENTS" || ack.Sequence != 42 || !ack.Duplicate {
		t.Errorf("duplicate ack read as %+v, %v", ack, err)
	}
	err := parsePubAck([]byte(pubAckSeeds[7]), &ack)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 {
		t.Errorf("stream full answer read as %v", err)
	}
	for _, bad := range []string{`{"seq":1}`, `not json`, ``} {
		if err := parsePubAck([]byte(bad), &ack); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, s := range pubAckSeeds {
		checkFastPubAck(t, []byte(s))
	}
}

func FuzzParsePubAck(f *testing.F) {
	for _, s := range pubAckSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastPubAck(t, data)
	})
}

func checkFastPubAck(t *testing.T, data []byte) {
	t.Helper()
	var fast jetstream.PubAck
	if !fastPubAck(data, &fast) {
		return
	}
	var want jetstream.PubAck
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", data, err)
	}
	if fast != want {
		t.Fatalf("%q: fast path %+v, encoding/json %+v", data, fast, want)
	}
}

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		in    string
		id    uint64
		i     int
		valid bool
	}{
		{"12.0", 12, 0, true},
		{"1.99", 1, 99, true},
		{".1", 0, 0, false},
		{"1.", 0, 0, false},
		{"x.1", 0, 0, false},
		{"1.-1", 0, 0, false},
		{"17", 0, 0, false},
	} {
		id, i, ok := parseReply(tc.in)
		if ok != tc.valid || ok && (id != tc.id || i != tc.i) {
			t.Errorf("parseReply(%q) = %d, %d, %v", tc.in, id, i, ok)
		}
	}
}
