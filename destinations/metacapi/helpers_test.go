package metacapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi/graphemu"
	"github.com/switchboard-cdp/switchboard/internal/syncio"
	"github.com/switchboard-cdp/switchboard/plugins"
)

const (
	testPixel     = "1234567890"
	testToken     = "EAAB-test-token-9f8e7d6c5b4a"
	testAppSecret = "app-secret-0a1b2c3d"
)

// testNow is the fixed clock of most tests.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// remote is an emulator behind a real HTTP server, recording request
// bodies.
type remote struct {
	emu *graphemu.Emulator
	srv *httptest.Server

	mu     sync.Mutex
	bodies [][]byte
}

func newRemote(t testing.TB, appSecret string) *remote {
	t.Helper()
	r := &remote{emu: graphemu.New(graphemu.Options{
		Pixels:  map[string]graphemu.Pixel{testPixel: {Tokens: []string{testToken}, AppSecret: appSecret}},
		Now:     func() time.Time { return testNow },
		TraceID: func() string { return "TRACE" },
	})}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.emu.ServeHTTP(w, req)
	}))
	t.Cleanup(func() { r.emu.Close(); r.srv.Close() })
	return r
}

func (r *remote) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

// newDest configures a destination against r with the fixed clock.
func newDest(t testing.TB, host plugins.Host, r *remote, extra map[string]any) (*Destination, *syncio.Buffer) {
	t.Helper()
	s := map[string]any{
		"pixel_id":        testPixel,
		"access_token":    testToken,
		"graph_url":       r.srv.URL,
		"default_country": "US",
		"timeout":         "10s", // generous: a shared machine under -race
	}
	for k, v := range extra {
		s[k] = v
	}
	raw, _ := json.Marshal(s)
	logs := &syncio.Buffer{}
	d := New()
	d.now = func() time.Time { return testNow }
	err := d.Configure(context.Background(), plugins.Config{
		Destination: "meta", Settings: raw, Host: host,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d, logs
}

// payload is a valid website Purchase with raw user data; mods change it
// (a nil value deletes the key; "user_data.x" addresses user_data).
func payload(i int, mods map[string]any) json.RawMessage {
	ud := map[string]any{
		"em":                fmt.Sprintf("  User%d@Example.COM ", i),
		"ph":                "(650) 555-12" + fmt.Sprintf("%02d", i%100),
		"fn":                "Mary",
		"ln":                "O'Brien",
		"ct":                "St. Louis",
		"st":                "Missouri",
		"zp":                "63101-1234",
		"country":           "USA",
		"external_id":       fmt.Sprintf("User-%d", i),
		"client_ip_address": "2001:db8::1",
		"client_user_agent": "Mozilla/5.0",
		"fbp":               "fb.1.1596403881668.1116446470",
	}
	ev := map[string]any{
		"event_name":       "Purchase",
		"event_time":       testNow.Add(-time.Hour).Unix(),
		"event_id":         fmt.Sprintf("order-%d", i),
		"event_source_url": fmt.Sprintf("https://shop.example.com/thanks?fbclid=IwAR%dAbC", i),
		"action_source":    "website",
		"user_data":        ud,
		"custom_data":      map[string]any{"value": "123.45", "currency": "usd"},
	}
	for k, v := range mods {
		m := ev
		if key, ok := strings.CutPrefix(k, "user_data."); ok {
			m, k = ud, key
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(ev)
	return b
}

func events(n int, prefix string) []plugins.Event {
	out := make([]plugins.Event, n)
	for i := range out {
		out[i] = plugins.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Payload: payload(i, nil), Attempt: 1, MessageID: fmt.Sprintf("msg-%s-%d", prefix, i)}
	}
	return out
}

func deliver(t testing.TB, d *Destination, batch []plugins.Event) map[string]plugins.Result {
	t.Helper()
	results, err := d.Deliver(context.Background(), batch)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if len(results) != len(batch) {
		t.Fatalf("got %d results for %d events", len(results), len(batch))
	}
	byID := make(map[string]plugins.Result, len(results))
	for _, r := range results {
		byID[r.ID] = r
	}
	return byID
}

func wantAll(t testing.TB, results map[string]plugins.Result, want plugins.Outcome) {
	t.Helper()
	for id, r := range results {
		if r.Outcome != want {
			t.Errorf("event %s: %v (%s: %s), want %v", id, r.Outcome, r.Code, r.Reason, want)
		}
	}
}
