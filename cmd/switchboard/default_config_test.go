package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultPipelinesYAML keeps the repository's pipelines.yaml — what
// `make run` serves — valid, and checks its Meta mapping on fixture events.
func TestDefaultPipelinesYAML(t *testing.T) {
	file := filepath.Join("..", "..", "pipelines.yaml")
	out, stderr, err := runCLI(t, "validate", "-c", file)
	if err != nil {
		t.Fatalf("validate %s: %v\n%s", file, err, stderr)
	}
	if !strings.Contains(out, "ok") {
		t.Fatalf("validate printed %q", out)
	}
	for _, tc := range []struct {
		name, event string
		want        []string // substrings of the mapped JSON, or "filtered"
	}{
		{"page", `{"type":"page","anonymousId":"a","messageId":"m1","timestamp":"2026-01-01T00:00:00Z","context":{"page":{"url":"https://x.example/"}}}`,
			[]string{`"event_name": "PageView"`, `"event_time": 1767225600`, `"external_id": "a"`, `"event_source_url": "https://x.example/"`}},
		{"search", `{"type":"track","event":"Products Searched","userId":"u","messageId":"m2","timestamp":"2026-01-01T00:00:00Z","properties":{"query":"shoes"}}`,
			[]string{`"event_name": "Search"`, `"search_string": "shoes"`}},
		{"view", `{"type":"track","event":"Product Viewed","userId":"u","messageId":"m3","timestamp":"2026-01-01T00:00:00Z","properties":{"product_id":"p1","price":9.5,"currency":"USD"}}`,
			[]string{`"event_name": "ViewContent"`, `"value": 9.5`, `"content_ids": [`}},
		{"add", `{"type":"track","event":"Product Added","userId":"u","messageId":"m4","timestamp":"2026-01-01T00:00:00Z"}`,
			[]string{`"event_name": "AddToCart"`}},
		{"checkout", `{"type":"track","event":"Checkout Started","userId":"u","messageId":"m5","timestamp":"2026-01-01T00:00:00Z"}`,
			[]string{`"event_name": "InitiateCheckout"`}},
		{"payment", `{"type":"track","event":"Payment Info Entered","userId":"u","messageId":"m6","timestamp":"2026-01-01T00:00:00Z"}`,
			[]string{`"event_name": "AddPaymentInfo"`}},
		{"wishlist", `{"type":"track","event":"Product Added to Wishlist","userId":"u","messageId":"m7","timestamp":"2026-01-01T00:00:00Z"}`,
			[]string{`"event_name": "AddToWishlist"`}},
		{"purchase", `{"type":"track","event":"Order Completed","userId":"u","messageId":"m8","timestamp":"2026-01-01T00:00:00Z","context":{"traits":{"email":"a@b.example"}},"properties":{"revenue":42.5,"currency":"EUR","products":[{"product_id":"p1","price":20,"quantity":2}]}}`,
			[]string{`"event_name": "Purchase"`, `"em": "a@b.example"`, `"value": 42.5`, `"currency": "EUR"`, `"item_price": 20`}},
		{"identify", `{"type":"identify","userId":"u","messageId":"m9"}`, []string{"filtered"}},
		{"other track", `{"type":"track","event":"Signed Up","userId":"u","messageId":"m10"}`, []string{"filtered"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := filepath.Join(t.TempDir(), "event.json")
			if err := os.WriteFile(ev, []byte(tc.event), 0o600); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := runCLI(t, "map", "-c", file, "--pipeline", "web-to-meta", ev)
			if err != nil {
				t.Fatalf("map: %v\n%s", err, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("mapped output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
