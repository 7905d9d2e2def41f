package metacapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

// FuzzPrepare: any payload is either rejected with a code and reason or
// encoded as a JSON object with an integer event_time and a non-empty
// event_id; prepare never panics.
func FuzzPrepare(f *testing.F) {
	for i, mods := range []map[string]any{
		nil,
		{"event_time": "2026-11-20T11:00:00Z"},
		{"event_id": nil, "user_data.ph": []any{"+1 650 555 1212", 42, nil}},
		{"user_data": "x"},
		{"custom_data": map[string]any{"value": "NaN"}},
		{"data_processing_options": []any{"LDU", 3}},
	} {
		f.Add([]byte(payload(i, mods)))
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"event_time":1e400}`))
	r := newRemote(f, "")
	d, _ := newDest(f, &destinationtest.MemoryHost{}, r, nil)
	c := d.config()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, prob := c.prepare(plugins.Event{ID: "f", MessageID: "m", Payload: data}, testNow)
		if prob != nil {
			if prob.code == "" || prob.reason() == "" {
				t.Fatalf("rejection without code or reason: %+v", prob)
			}
			return
		}
		var out map[string]any
		if err := json.Unmarshal(p.body, &out); err != nil {
			t.Fatalf("body is not a JSON object: %v", err)
		}
		ts, ok := out["event_time"].(float64)
		if !ok || ts != float64(int64(ts)) || time.Unix(int64(ts), 0).After(testNow.Add(futureTolerance)) {
			t.Fatalf("event_time %v", out["event_time"])
		}
		if id, _ := out["event_id"].(string); id == "" || p.key == "" {
			t.Fatalf("no event_id or key: %v", out["event_id"])
		}
	})
}
