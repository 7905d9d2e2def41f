package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi"
	"github.com/switchboard-cdp/switchboard/destinations/metacapi/graphemu"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// TestMetaThroughTheWholeSystemAndQuality sends Segment calls through
// serve, the default-style Meta mapping and the meta-capi plugin to the
// Graph API emulator, then reads `switchboard quality`.
func TestMetaThroughTheWholeSystemAndQuality(t *testing.T) {
	emu := graphemu.New(graphemu.Options{Pixels: map[string]graphemu.Pixel{"1234567890": {Tokens: []string{"tok-secret-9"}}}})
	graph := httptest.NewServer(emu)
	t.Cleanup(graph.Close)
	dir := t.TempDir()
	y := fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
nats: {store_dir: %s}
sources:
  web: {type: segment, write_keys: [%q]}
destinations:
  meta:
    plugin: meta-capi
    settings: {pixel_id: "1234567890", access_token: tok-secret-9, graph_url: %q, default_country: US}
pipelines:
  web-to-meta:
    from: [web]
    to: meta
    when: type == "track" && event == "Order Completed"
    map:
      event_name: '"Purchase"'
      event_time: unix(timestamp)
      event_id: messageId
      action_source: '"website"'
      event_source_url: context.page.url
      user_data:
        em: context.traits.email
        ph: context.traits.phone
        external_id: userId
        client_ip_address: context.ip
        client_user_agent: context.userAgent
      custom_data: {value: properties.revenue, currency: properties.currency}
    batch: {max_events: 100, max_wait: 20ms}
`, filepath.Join(dir, "data"), testWriteKey, graph.URL)
	cfg := filepath.Join(dir, "pipelines.yaml")
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, cfg)
	var evs []string
	for i := range 10 {
		phone := ""
		if i%2 == 0 {
			phone = `,"phone":"(650) 555-12` + fmt.Sprintf("%02d", i) + `"`
		}
		evs = append(evs, fmt.Sprintf(`{"type":"track","event":"Order Completed","userId":"u%d","messageId":"m-%d",
			"context":{"ip":"203.0.113.9","userAgent":"Mozilla/5.0","page":{"url":"https://shop.example/"},"traits":{"email":"u%d@example.com"%s}},
			"properties":{"revenue":10,"currency":"USD"}}`, i, i, i, phone))
	}
	body := `{"batch":[` + strings.Join(evs, ",") + `]}`
	for range 2 { // the second time every event is a duplicate: stored once, sent once
		req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/batch", strings.NewReader(body))
		req.SetBasicAuth(testWriteKey, "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	waitFor(t, 30*time.Second, "10 events at the emulator", func() bool { return len(emu.Received("1234567890")) == 10 })
	if d := emu.Duplicates("1234567890"); len(d) != 0 {
		t.Fatalf("duplicates forwarded to Meta: %v", d)
	}
	var out string
	waitFor(t, 30*time.Second, "the quality report", func() bool {
		o, _, err := runCLI(t, "quality", "--server", s.url)
		out = o
		return err == nil && strings.Contains(o, "Purchase")
	})
	for _, want := range []string{"destination meta", "1234567890", "Purchase", "100%", "50% of Purchase events have no phone (ph)"} {
		if !strings.Contains(out, want) {
			t.Errorf("quality output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+s.logs.String(), "tok-secret-9") {
		t.Error("the access token leaked into logs or the quality report")
	}
}

// TestQualityReportsRejectedEventNames: an event name none of whose events
// Meta received shows its rejections, not shares of zero events and advice
// about them.
func TestQualityReportsRejectedEventNames(t *testing.T) {
	px := func(l map[string]string) map[string]string { l["pixel"] = "1"; return l }
	counters := []plugins.Counter{
		{Name: metacapi.CounterEvents, Labels: px(map[string]string{"event_name": "Purchase"}), Delta: 4},
		{Name: metacapi.CounterMatchKey, Labels: px(map[string]string{"event_name": "Purchase", "key": "em"}), Delta: 4},
		{Name: metacapi.CounterRejected, Labels: px(map[string]string{"event_name": "Purchase", "code": "stale_event"}), Delta: 1},
		{Name: metacapi.CounterRejected, Labels: px(map[string]string{"event_name": "PageView", "code": "website_requirements"}), Delta: 2},
	}
	var b strings.Builder
	printQuality(&b, "meta", counters, 3)
	out := b.String()
	for _, want := range []string{
		"REJECTED",
		"1 Purchase events rejected as stale_event",
		"2 PageView events rejected as website_requirements",
		"100% of Purchase events have no phone (ph)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("quality output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "of PageView events have no") {
		t.Errorf("advice about PageView events, none of which was sent:\n%s", out)
	}
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "PageView") && !strings.Contains(l, "rejected") {
			row = l
		}
	}
	if f := strings.Fields(row); len(f) < 5 || f[2] != "0" || f[3] != "2" || f[4] != "-" {
		t.Errorf("PageView row = %q, want 0 sent, 2 rejected and no score", row)
	}
}
