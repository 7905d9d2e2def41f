package graphemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// benchBody is a 1,000-event JSON request of realistic website Purchases,
// as the meta-capi plugin sends them.
func benchBody(tb testing.TB, n int) []byte {
	tb.Helper()
	h := func(s string) []string {
		sum := sha256.Sum256([]byte(s))
		return []string{hex.EncodeToString(sum[:])}
	}
	now := time.Now().Unix()
	events := make([]any, n)
	for i := range events {
		events[i] = map[string]any{
			"event_name":       "Purchase",
			"event_time":       now,
			"event_id":         fmt.Sprintf("evt-%08d-%d", i, now),
			"action_source":    "website",
			"event_source_url": "https://shop.example.com/checkout/thanks?order=" + fmt.Sprint(i),
			"user_data": map[string]any{
				"em":                h(fmt.Sprintf("user%d@example.com", i)),
				"ph":                h(fmt.Sprintf("1555%07d", i)),
				"fn":                h("jane"),
				"ln":                h("doe"),
				"ct":                h("springfield"),
				"st":                h("il"),
				"zp":                h("62701"),
				"country":           h("us"),
				"external_id":       h(fmt.Sprintf("customer-%d", i)),
				"client_ip_address": "203.0.113.7",
				"client_user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
			},
			"custom_data": map[string]any{
				"value":       129.99,
				"currency":    "USD",
				"content_ids": []string{"sku-1", "sku-2"},
				"contents": []any{
					map[string]any{"id": "sku-1", "quantity": 1, "item_price": 99.99},
					map[string]any{"id": "sku-2", "quantity": 2, "item_price": 15},
				},
			},
		}
	}
	body, err := json.Marshal(map[string]any{"data": events, "access_token": "t"})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// BenchmarkEvents1000 measures the emulator's cost for one 1,000-event JSON
// request, the shape `switchboard bench all` sends.
//
//	go test -run '^$' -bench Events1000 -benchmem -count=3 ./destinations/metacapi/graphemu/
func BenchmarkEvents1000(b *testing.B) {
	const n = 1000
	body := benchBody(b, n)
	e := New(Options{Pixels: map[string]Pixel{"1": {Tokens: []string{"t"}}}})
	defer e.Close()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Reset()
		req := httptest.NewRequest(http.MethodPost, "/v25.0/1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/event")
}
