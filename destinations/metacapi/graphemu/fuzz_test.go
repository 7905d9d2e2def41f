package graphemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzEvents feeds arbitrary data arrays through the handler: it must never
// panic, always answer with valid JSON, and record exactly events_received
// events on success and none on failure.
func FuzzEvents(f *testing.F) {
	good, _ := json.Marshal([]any{goodEvent("z")})
	for _, seed := range []string{string(good), `[]`, `[{}]`, `{"a":1}`, `"[]"`, `[{"event_name":"X","event_time":"1","user_data":{"em":[null]}}]`, `[1,2,3]`, `null`} {
		f.Add(seed, "application/json")
		f.Add(seed, "application/x-www-form-urlencoded")
	}
	f.Fuzz(func(t *testing.T, data, ctype string) {
		emu := New(Options{
			Pixels: map[string]Pixel{pixelA: {Tokens: []string{tokenA}}},
			Now:    func() time.Time { return testNow },
		})
		var body string
		switch ctype {
		case "application/json":
			body = `{"data":` + data + `}`
			if !json.Valid([]byte(body)) {
				body = data
			}
		default:
			body = "data=" + strings.ReplaceAll(data, "&", "%26")
		}
		req := httptest.NewRequest(http.MethodPost, "/v25.0/"+pixelA+"/events?access_token="+tokenA, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		emu.ServeHTTP(rec, req)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("invalid JSON answer: %q", rec.Body.String())
		}
		got := len(emu.Received(pixelA))
		if rec.Code == http.StatusOK {
			var s Success
			json.Unmarshal(rec.Body.Bytes(), &s)
			if s.EventsReceived != got || got == 0 || got > MaxEvents {
				t.Fatalf("events_received %d, recorded %d", s.EventsReceived, got)
			}
		} else if got != 0 {
			t.Fatalf("status %d but %d events recorded", rec.Code, got)
		}
	})
}
