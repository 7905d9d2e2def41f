package main

// End-to-end test of the Tealium source through serve: Tealium-shaped GET
// pixel, POST /event (JSON and form) and POST /bulk-event requests →
// embedded JetStream → a pipeline → the webhook plugin → an httptest
// receiver (newSink); then a stored Tealium purchase through the default
// pipelines.yaml's Meta mapping.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/core/gateway"
)

const tealiumTestKey = "zz-tealium-e2e-key"

func writeTealiumConfig(t *testing.T, dir, hookURL string) string {
	t.Helper()
	y := fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
nats:
  store_dir: %s
sources:
  tag:
    type: tealium
    account: acme
    key: %q
destinations:
  hook:
    plugin: webhook
    settings: {url: %q, mode: array}
pipelines:
  tealium-out:
    from: [tag]
    to: hook
    map:
      id: messageId
      type: type
      event: event
      name: name
      user: userId
      anon: anonymousId
      url: context.page.url
      title: context.page.title
      ip: context.ip
      ua: context.userAgent
      trace: context.tealium.trace_id
      profile: context.tealium.profile
      total: properties.order_total
      link: properties.link_id
      screen: properties.screen_title
      app: properties.app_version
    batch: {max_events: 50, max_wait: 50ms}
    retry: {max_attempts: 50, backoff: 50ms, max_backoff: 200ms}
`, filepath.Join(dir, "data"), tealiumTestKey, hookURL)
	p := filepath.Join(dir, "pipelines.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tealiumCall sends one request and returns its status, Content-Type and
// body.
func tealiumCall(t *testing.T, method, u, contentType, body string, hdr ...string) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (tealium e2e)")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestTealiumThroughAPipeline: GET pixel, POST event (JSON and form) and
// bulk-event into embedded JetStream and out through a pipeline to an
// httptest destination, with the fields where a Tealium user expects
// them; a retried pixel is delivered once; refusals are clean JSON.
func TestTealiumThroughAPipeline(t *testing.T) {
	dir := t.TempDir()
	sk, hook := newSink(t)
	s := startServe(t, writeTealiumConfig(t, dir, hook.URL))
	bearer := []string{"Authorization", "Bearer " + tealiumTestKey}

	// A pixel, sent twice as a retrying browser would.
	pixel := s.url + "/event?" + url.Values{
		"tealium_account": {"acme"}, "tealium_profile": {"main"}, "tealium_event": {"view"},
		"tealium_visitor_id": {"v-pixel"}, "tealium_trace_id": {"tr-1"}, "tealium_random": {"8364021937465521"},
		"dom.url": {"https://shop.example/"}, "dom.title": {"Shop"}, "key": {tealiumTestKey},
	}.Encode()
	for range 2 {
		code, ct, body := tealiumCall(t, http.MethodGet, pixel, "", "")
		if code != http.StatusOK || ct != "image/gif" || !strings.HasPrefix(body, "GIF89a") {
			t.Fatalf("pixel: %d %s %q", code, ct, body)
		}
	}
	// One JSON event, one form event, one bulk request of two.
	code, _, body := tealiumCall(t, http.MethodPost, s.url+"/event", "application/json",
		`{"tealium_account":"acme","tealium_event":"purchase","tealium_visitor_id":"v-1","customer_id":"c-1","order_id":"o-1","order_total":"42.50","order_currency":"EUR","dom.url":"https://shop.example/thanks"}`, bearer...)
	if code != http.StatusOK || body != `{"success":true}` {
		t.Fatalf("POST /event: %d %s", code, body)
	}
	code, _, body = tealiumCall(t, http.MethodPost, s.url+"/event?key="+tealiumTestKey, "application/x-www-form-urlencoded",
		url.Values{"tealium_account": {"acme"}, "tealium_event": {"link"}, "tealium_visitor_id": {"v-2"}, "link_id": {"buy-now"}}.Encode())
	if code != http.StatusOK {
		t.Fatalf("POST /event form: %d %s", code, body)
	}
	code, _, body = tealiumCall(t, http.MethodPost, s.url+"/bulk-event", "application/json",
		`{"shared":{"tealium_account":"acme","tealium_profile":"main","tealium_visitor_id":"v-app","app_version":"3.1"},"events":[{"tealium_event":"Home","tealium_event_type":"view","screen_title":"Home","tealium_random":"1"},{"tealium_event":"cart_add","tealium_event_type":"event","customer_id":"c-9","tealium_random":"2"}]}`, bearer...)
	if code != http.StatusOK {
		t.Fatalf("POST /bulk-event: %d %s", code, body)
	}

	// Refusals: no key, another account, malformed bodies. Nothing stored.
	for _, c := range []struct {
		method, path, body string
		hdr                []string
		code               int
		msg                string
	}{
		{http.MethodPost, "/event", `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v"}`, nil, 401, "missing or wrong key"},
		{http.MethodPost, "/event", `{"tealium_account":"other","tealium_event":"view","tealium_visitor_id":"v"}`, bearer, 404, `no source takes tealium_account \"other\"`},
		{http.MethodPost, "/event", `{"tealium_account":"acme","tealium_profile":"qa","tealium_event":"view","tealium_visitor_id":"v"}`, bearer, 404, "tealium_profile"},
		{http.MethodPost, "/event", `{"tealium_account":`, bearer, 400, "invalid JSON"},
		{http.MethodPost, "/bulk-event", `{"events":[]}`, bearer, 400, "events is empty"},
		{http.MethodGet, "/bulk-event", ``, bearer, 405, "not allowed"},
	} {
		code, ct, body := tealiumCall(t, c.method, s.url+c.path, "application/json", c.body, c.hdr...)
		if code != c.code || ct != "application/json" || !strings.Contains(body, `"success":false`) || !strings.Contains(body, c.msg) {
			t.Errorf("%s %s %s: %d %s %s; want %d and %q", c.method, c.path, c.body, code, ct, body, c.code, c.msg)
		}
		if strings.Contains(body, tealiumTestKey) {
			t.Errorf("an answer shows the key: %s", body)
		}
	}

	waitFor(t, 30*time.Second, "five distinct events delivered", func() bool { d, _ := sk.count(); return d >= 5 })
	sk.mu.Lock()
	byEvent := map[string]map[string]any{}
	for _, m := range sk.got {
		name, _ := m["event"].(string)
		switch m["type"] {
		case "page":
			name = "page:" + fmt.Sprint(m["anon"])
		case "screen":
			name = "screen:" + fmt.Sprint(m["name"])
		}
		byEvent[name] = m
	}
	sk.mu.Unlock()
	if len(byEvent) != 5 {
		t.Fatalf("delivered %d distinct events: %v", len(byEvent), byEvent)
	}
	check := func(name string, want map[string]any) {
		t.Helper()
		got := byEvent[name]
		if got == nil {
			t.Errorf("%s was not delivered", name)
			return
		}
		for k, v := range want {
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("%s: %s = %#v, want %#v (delivered %v)", name, k, got[k], v, got)
			}
		}
		if id, _ := got["id"].(string); !strings.HasPrefix(id, "tealium-") {
			t.Errorf("%s: id %q", name, id)
		}
		if got["ip"] != "127.0.0.1" || got["ua"] != "Mozilla/5.0 (tealium e2e)" {
			t.Errorf("%s: ip %v, ua %v", name, got["ip"], got["ua"])
		}
	}
	check("page:v-pixel", map[string]any{"anon": "v-pixel", "url": "https://shop.example/", "title": "Shop", "trace": "tr-1", "profile": "main"})
	check("purchase", map[string]any{"type": "track", "user": "c-1", "anon": "v-1", "total": "42.50", "url": "https://shop.example/thanks"})
	check("link", map[string]any{"type": "track", "anon": "v-2", "link": "buy-now"})
	check("screen:Home", map[string]any{"anon": "v-app", "screen": "Home", "app": "3.1"})
	check("cart_add", map[string]any{"type": "track", "user": "c-9", "anon": "v-app", "app": "3.1"})

	// Stored once each, the pixel retry included, and the key nowhere.
	stored := tealiumStored(t, s.url)
	if len(stored) != 5 {
		t.Fatalf("%d events stored, want 5", len(stored))
	}
	var purchase json.RawMessage
	for _, st := range stored {
		if strings.Contains(string(st.Event), tealiumTestKey) {
			t.Fatalf("the key was stored: %s", st.Event)
		}
		if strings.Contains(string(st.Event), `"event":"purchase"`) {
			purchase = st.Event
		}
	}

	// The stored purchase, as the Tealium source wrote it, reaches the
	// Meta mapping of the default pipelines.yaml.
	cfg, err := config.Load(filepath.Join("..", "..", "pipelines.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	progs, probs := compilePipelines(cfg)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	out, matched, err := progs["web-to-meta"].Apply(purchase)
	if err != nil || !matched {
		t.Fatalf("web-to-meta: matched %v, %v", matched, err)
	}
	var meta map[string]any
	if err := json.Unmarshal(out, &meta); err != nil {
		t.Fatal(err)
	}
	ud, _ := meta["user_data"].(map[string]any)
	cd, _ := meta["custom_data"].(map[string]any)
	if meta["event_name"] != "Purchase" || meta["event_source_url"] != "https://shop.example/thanks" || ud["external_id"] != "c-1" ||
		ud["client_ip_address"] != "127.0.0.1" || cd["value"] != "42.50" || cd["currency"] != "EUR" || cd["order_id"] != "o-1" {
		t.Fatalf("Meta mapping of the stored purchase: %s", out)
	}
}

// tealiumStored reads back the stored events of source tag.
func tealiumStored(t *testing.T, base string) []gateway.StoredEvent {
	t.Helper()
	resp, err := http.Get(base + "/api/events?source=tag&limit=100")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Events []gateway.StoredEvent `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Events
}
