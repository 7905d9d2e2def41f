package main

// End-to-end tests of the Meta Conversions API path through a real
// `switchboard serve` process: Segment /v1/batch in → JetStream → pipeline
// → meta-capi plugin process → the Graph API emulator (graphemu), run in
// this process so the tests can inject faults and read what it accepted.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/pipeline"
	"github.com/switchboard-cdp/switchboard/destinations/metacapi/graphemu"
)

const (
	metaPixel     = "1234567890"
	metaToken     = "EAAGe2eTok3nZq81xVbW"
	metaAppSecret = "e2e-app-s3cret-77f0c1"
	metaPipeline  = "purchases"
)

// metaProof is the appsecret_proof the plugin sends: a credential too.
func metaProof() string {
	m := hmac.New(sha256.New, []byte(metaAppSecret))
	m.Write([]byte(metaToken))
	return hex.EncodeToString(m.Sum(nil))
}

// newMetaEmulator runs a Graph API emulator that knows metaPixel, with
// metaToken and metaAppSecret (so appsecret_proof is checked), and returns
// it with its URL.
func newMetaEmulator(t *testing.T) (*graphemu.Emulator, string) {
	t.Helper()
	emu := graphemu.New(graphemu.Options{Pixels: map[string]graphemu.Pixel{
		metaPixel: {Tokens: []string{metaToken}, AppSecret: metaAppSecret},
	}})
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { emu.Close(); srv.Close() })
	return emu, srv.URL
}

// writeMetaConfig writes a pipelines.yaml sending Order Completed to the
// meta-capi destination at graphURL. event_id is properties.order_id, else the
// messageId. segment, when not empty, is the expression mapped to
// custom_data.customer_segmentation.
func writeMetaConfig(t *testing.T, dir, graphURL, segment string) string {
	t.Helper()
	seg := ""
	if segment != "" {
		seg = "\n        customer_segmentation: " + segment
	}
	y := fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
nats: {store_dir: %s}
sources:
  web: {type: segment, write_keys: [%q]}
destinations:
  meta:
    plugin: meta-capi
    settings:
      pixel_id: %q
      access_token: %q
      app_secret: %q
      graph_url: %q
      default_country: US
      timeout: 10s
pipelines:
  %s:
    from: [web]
    to: meta
    when: type == "track" && event == "Order Completed"
    map:
      event_name: '"Purchase"'
      event_time: unix(timestamp)
      event_id: properties.order_id ?? messageId
      action_source: '"website"'
      event_source_url: context.page.url
      user_data:
        em: context.traits.email
        external_id: userId
        client_ip_address: context.ip
        client_user_agent: context.userAgent
      custom_data:
        value: properties.revenue
        currency: properties.currency%s
    batch: {max_events: 100, max_wait: 50ms}
    retry: {max_attempts: 50, backoff: 50ms, max_backoff: 200ms}
`, filepath.Join(dir, "data"), testWriteKey, metaPixel, metaToken, metaAppSecret, graphURL, metaPipeline, seg)
	p := filepath.Join(dir, "pipelines.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startMetaServe starts `switchboard serve` as a child process at debug
// level (the most it ever logs), with the meta-capi retry-afters divided by
// metaRetryDivisor.
func startMetaServe(t *testing.T, cfg string) *proc {
	t.Helper()
	return startProcessEnv(t, []string{metaRetryDivisorEnv + "=" + strconv.Itoa(metaRetryDivisor)},
		"serve", "--log-level", "debug", "-c", cfg)
}

// metaEvent is one Order Completed call.
type metaEvent struct {
	msgID   string
	orderID string    // event_id when set, else msgID
	at      time.Time // timestamp; zero: a minute ago
	segment string    // properties.segment
}

func (e metaEvent) eventID() string {
	if e.orderID != "" {
		return e.orderID
	}
	return e.msgID
}

// postMetaEvents sends evs in one /v1/batch; the API must answer 200.
func postMetaEvents(t *testing.T, base string, evs ...metaEvent) {
	t.Helper()
	var batch []map[string]any
	for i, e := range evs {
		at := e.at
		if at.IsZero() {
			at = time.Now().Add(-time.Minute)
		}
		props := map[string]any{"revenue": 10 + i, "currency": "USD"}
		if e.orderID != "" {
			props["order_id"] = e.orderID
		}
		if e.segment != "" {
			props["segment"] = e.segment
		}
		batch = append(batch, map[string]any{
			"type": "track", "event": "Order Completed", "userId": "user-" + e.msgID, "messageId": e.msgID,
			"timestamp":  at.UTC().Format(time.RFC3339),
			"properties": props,
			"context": map[string]any{
				"ip": "203.0.113.7", "userAgent": "Mozilla/5.0 (e2e)",
				"page":   map[string]any{"url": "https://shop.example/checkout/done"},
				"traits": map[string]any{"email": " " + e.msgID + "@Example.com"},
			},
		})
	}
	body, _ := json.Marshal(map[string]any{"batch": batch})
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/batch", strings.NewReader(string(body)))
	req.SetBasicAuth(testWriteKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post batch: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("post batch: %s %s", resp.Status, b)
	}
}

// numbered returns n events prefix-0 … prefix-(n-1).
func numbered(prefix string, n int) []metaEvent {
	out := make([]metaEvent, n)
	for i := range out {
		out[i] = metaEvent{msgID: fmt.Sprintf("%s-%d", prefix, i)}
	}
	return out
}

// metaDeadLetters reads the pipeline's dead letters through the admin API.
func metaDeadLetters(t *testing.T, base string) []pipeline.DeadLetter {
	t.Helper()
	resp, err := http.Get(base + "/api/pipelines/" + metaPipeline + "/dlq?limit=10000")
	if err != nil {
		t.Fatalf("GET dlq: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		DeadLetters []pipeline.DeadLetter `json:"dead_letters"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET dlq: %s %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.DeadLetters
}

// metaStatus is the pipeline's line of `switchboard status --json`.
func metaStatus(t *testing.T, base string) pipeline.Status {
	t.Helper()
	out, stderr, err := runCLI(t, "status", "--json", "--server", base)
	if err != nil {
		t.Fatalf("switchboard status: %v\n%s", err, stderr)
	}
	var resp struct {
		Pipelines []pipeline.Status `json:"pipelines"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("switchboard status --json: %v\n%s", err, out)
	}
	for _, s := range resp.Pipelines {
		if s.Pipeline == metaPipeline {
			return s
		}
	}
	t.Fatalf("switchboard status has no pipeline %s:\n%s", metaPipeline, out)
	return pipeline.Status{}
}

// settled reports whether the pipeline has nothing pending.
func settled(t *testing.T, base string) bool {
	return metaStatus(t, base).Pending == 0
}

// scrape returns /metrics.
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricSum adds the values of the samples of name whose labels contain
// every one of labels (`key="value"`).
func metricSum(metrics, name string, labels ...string) float64 {
	var sum float64
next:
	for _, line := range strings.Split(metrics, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		lbls, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(lbls, l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// checkAccounted checks the guarantee for every acknowledged event: the
// emulator accepted its event_id exactly once, or it sits in the
// dead-letter stream with a reason, never both. It returns the dead letters
// by messageId.
func checkAccounted(t *testing.T, emu *graphemu.Emulator, base string, acked []metaEvent) map[string]pipeline.DeadLetter {
	t.Helper()
	counts := emu.Counts(metaPixel)
	dead := map[string]pipeline.DeadLetter{}
	for _, d := range metaDeadLetters(t, base) {
		if _, dup := dead[d.MessageID]; dup {
			t.Errorf("messageId %s is dead-lettered twice", d.MessageID)
		}
		dead[d.MessageID] = d
	}
	for _, e := range acked {
		n := counts[graphemu.Key{EventName: "Purchase", EventID: e.eventID()}]
		d, isDead := dead[e.msgID]
		switch {
		case isDead && d.Reason == "":
			t.Errorf("messageId %s is dead-lettered without a reason: %+v", e.msgID, d)
		case isDead && n != 0:
			t.Errorf("messageId %s is dead-lettered and was accepted by Meta %d times", e.msgID, n)
		case !isDead && n != 1:
			t.Errorf("messageId %s (event_id %s) was accepted by Meta %d times, want exactly once (or a dead letter)", e.msgID, e.eventID(), n)
		}
	}
	if d := emu.Duplicates(metaPixel); len(d) != 0 {
		t.Errorf("events forwarded to Meta twice: %v", d)
	}
	return dead
}

// checkNoSecrets fails when a credential appears in text.
func checkNoSecrets(t *testing.T, where, text string) {
	t.Helper()
	for name, s := range map[string]string{"access token": metaToken, "app secret": metaAppSecret, "appsecret_proof": metaProof()} {
		if strings.Contains(text, s) {
			t.Errorf("the %s appears in %s", name, where)
		}
	}
}

// checkNoSecretsAnywhere greps serve's output (its own logs and its
// plugins'), /metrics, the status and the dead letters for the
// credentials.
func checkNoSecretsAnywhere(t *testing.T, p *proc) {
	t.Helper()
	checkNoSecrets(t, "serve's stderr", p.logs.String())
	checkNoSecrets(t, "/metrics", scrape(t, p.url))
	st, _ := json.Marshal(metaStatus(t, p.url))
	checkNoSecrets(t, "switchboard status", string(st))
	dl, _ := json.Marshal(metaDeadLetters(t, p.url))
	checkNoSecrets(t, "the dead letters", string(dl))
}

// faultsFired returns the emulator's requests answered by a fault whose
// description starts with kind.
func faultsFired(emu *graphemu.Emulator, kind string) []graphemu.Request {
	var out []graphemu.Request
	for _, r := range emu.Requests() {
		if strings.HasPrefix(r.Fault, kind) {
			out = append(out, r)
		}
	}
	return out
}

// TestMetaE2EThrottlesAndTransientFaults injects Meta's throttles (17 and
// 613) and temporary downtime (code 2) while events flow: every event is
// accepted by Meta exactly once, nothing is dead-lettered, and the retries
// show in `switchboard status` and on /metrics with their causes.
func TestMetaE2EThrottlesAndTransientFaults(t *testing.T) {
	emu, graph := newMetaEmulator(t)
	p := startMetaServe(t, writeMetaConfig(t, t.TempDir(), graph, ""))
	if err := emu.Inject(graphemu.Throttle(17), graphemu.Throttle(613), graphemu.Transient(2), graphemu.Transient(2)); err != nil {
		t.Fatal(err)
	}
	var acked []metaEvent
	for i := range 6 {
		evs := numbered(fmt.Sprintf("f%d", i), 50)
		postMetaEvents(t, p.url, evs...)
		acked = append(acked, evs...)
	}
	waitFor(t, 45*time.Second, "every event accepted by the emulator", func() bool {
		return len(emu.Received(metaPixel)) >= len(acked) && settled(t, p.url)
	})
	if f := emu.Faults(); len(f) != 0 {
		t.Fatalf("faults not consumed: %+v", f)
	}
	if n17, n613, n2 := len(faultsFired(emu, "throttle 17")), len(faultsFired(emu, "throttle 613")), len(faultsFired(emu, "transient 2")); n17 != 1 || n613 != 1 || n2 != 2 {
		t.Fatalf("faults fired: 17×%d, 613×%d, 2×%d; want 1, 1, 2", n17, n613, n2)
	}
	if dead := checkAccounted(t, emu, p.url, acked); len(dead) != 0 {
		t.Fatalf("%d events dead-lettered; throttles and transient errors must only be retried", len(dead))
	}
	// The throttled events waited for the destination's throttle delay
	// (60s, divided by metaRetryDivisor: 600ms), not for the pipeline's
	// 50–200ms backoff.
	throttled := faultsFired(emu, "throttle 17")[0].Time
	var last time.Time
	for _, e := range emu.Received(metaPixel) {
		if e.Received.After(last) {
			last = e.Received
		}
	}
	if wait := time.Minute / metaRetryDivisor; last.Sub(throttled) < wait*9/10 {
		t.Errorf("the last event was accepted %s after the first throttle, want ≥ %s", last.Sub(throttled), wait)
	}
	if got := len(emu.Received(metaPixel)); got != len(acked) {
		t.Errorf("the emulator accepted %d events, want %d", got, len(acked))
	}

	st := metaStatus(t, p.url)
	if st.Retried < 4 || st.Delivered != uint64(len(acked)) || st.DeadLetters != 0 || st.Pending != 0 {
		t.Errorf("status: retried %d (want ≥ 4: one event at least per fault), delivered %d (want %d), dead letters %d, pending %d",
			st.Retried, st.Delivered, len(acked), st.DeadLetters, st.Pending)
	}
	if !strings.Contains(st.LastError, "Meta error") {
		t.Errorf("status last error %q does not name Meta's error", st.LastError)
	}
	m := scrape(t, p.url)
	for _, code := range []string{"meta_throttled", "meta_transient"} {
		if metricSum(m, "switchboard_plugin_results_total", `destination="meta"`, `outcome="retry"`, `code="`+code+`"`) < 1 {
			t.Errorf("no retry with code %s on /metrics:\n%s", code, grepLines(m, "switchboard_plugin_results_total"))
		}
	}
	if got := metricSum(m, "switchboard_pipeline_events_total", `pipeline="purchases"`, `outcome="retried"`); got != float64(st.Retried) {
		t.Errorf("/metrics counts %v retried events, status %d", got, st.Retried)
	}
	checkNoSecretsAnywhere(t, p)
}

// TestMetaE2ETokenErrorHeldAndLoggedWithoutSecrets has Meta refuse the
// access token (190) until the test "renews" it: the events are held, not
// dead-lettered, retried only after the long delay, with one loud log line
// per refused request that says what to do and holds no credential; once
// Meta takes the token again they are delivered.
func TestMetaE2ETokenErrorHeldAndLoggedWithoutSecrets(t *testing.T) {
	emu, graph := newMetaEmulator(t)
	p := startMetaServe(t, writeMetaConfig(t, t.TempDir(), graph, ""))
	expired := graphemu.TokenExpired()
	expired.Times = 1000 // every request, until ClearFaults
	if err := emu.Inject(expired); err != nil {
		t.Fatal(err)
	}
	acked := numbered("tok", 5)
	postMetaEvents(t, p.url, acked...)

	// While refused: pending, counted as retried, not dead-lettered, and
	// the status says why.
	waitFor(t, 30*time.Second, "status to show the held events", func() bool {
		st := metaStatus(t, p.url)
		return st.Retried >= 5 && strings.Contains(st.LastError, "190")
	})
	refusals := faultsFired(emu, "token_expired")
	if len(refusals) == 0 {
		t.Fatal("status shows retries but Meta refused no request")
	}
	first := refusals[0].Time
	st := metaStatus(t, p.url)
	if st.Pending != 5 || st.DeadLetters != 0 || st.Delivered != 0 || st.Retried != 5 {
		t.Errorf("while the token is refused: pending %d (want 5), retried %d (want 5), dead letters %d, delivered %d",
			st.Pending, st.Retried, st.DeadLetters, st.Delivered)
	}
	if m := scrape(t, p.url); metricSum(m, "switchboard_plugin_results_total", `outcome="hold"`, `code="meta_token_invalid"`) != 5 {
		t.Errorf("want 5 holds with code meta_token_invalid on /metrics:\n%s", grepLines(m, "switchboard_plugin_results_total"))
	}
	var line string
	waitFor(t, 10*time.Second, "the log line about the token", func() bool {
		line = grepLines(p.logs.String(), "Meta refused the access token")
		return line != ""
	})
	t.Logf("the token error's log line: %s", line)
	for _, want := range []string{"level=ERROR", "Generate access token", "settings.access_token", "graph_code=190", "pixel=" + metaPixel} {
		if !strings.Contains(line, want) {
			t.Errorf("the token error's log line lacks %q:\n%s", want, line)
		}
	}
	if n, want := strings.Count(p.logs.String(), "Meta refused the access token"), len(faultsFired(emu, "token_expired")); n != want {
		t.Errorf("the token error is logged %d times for %d refused requests, want once each", n, want)
	}

	emu.ClearFaults() // the token is valid again
	waitFor(t, 30*time.Second, "the held events delivered after the delay", func() bool {
		return len(emu.Received(metaPixel)) == len(acked) && settled(t, p.url)
	})
	// The retry waited for the destination's long delay (10m, divided by
	// metaRetryDivisor: 6s), not for the pipeline's 50–200ms backoff.
	var retried time.Time
	for _, r := range emu.Requests() {
		if r.Fault == "" && r.Time.After(first) {
			retried = r.Time
			break
		}
	}
	wantDelay := 10 * time.Minute / metaRetryDivisor
	if gap := retried.Sub(first); gap < wantDelay*9/10 {
		t.Errorf("the first retry Meta answered came %s after the first token error, want ≥ %s", gap, wantDelay)
	}
	if n := len(faultsFired(emu, "token_expired")); n != len(refusals) {
		t.Errorf("%d requests refused in all, %d when the events were first held: retried before the delay", n, len(refusals))
	}
	if dead := checkAccounted(t, emu, p.url, acked); len(dead) != 0 {
		t.Errorf("%d events dead-lettered after a token error; they must be held", len(dead))
	}
	checkNoSecretsAnywhere(t, p)
}

// TestMetaE2EStaleAndPoisonEventsDeadLetteredRestDelivered sends, inside
// one good batch, an event older than Meta's 7 days (refused by the plugin)
// and one Meta itself refuses (an unknown customer_segmentation, code 100):
// both are dead-lettered with precise reasons while the rest of the batch
// is delivered. After the mapping is fixed and serve restarted, `dlq
// replay` delivers the poison event; the stale one is dead again.
func TestMetaE2EStaleAndPoisonEventsDeadLetteredRestDelivered(t *testing.T) {
	emu, graph := newMetaEmulator(t)
	dir := t.TempDir()
	p := startMetaServe(t, writeMetaConfig(t, dir, graph, "properties.segment"))

	acked := numbered("good", 20)
	stale := metaEvent{msgID: "stale-1", at: time.Now().Add(-8 * 24 * time.Hour)}
	poison := metaEvent{msgID: "poison-1", segment: "vip_gold_tier"}
	batch := append(append(append([]metaEvent{}, acked[:10]...), stale, poison), acked[10:]...)
	acked = batch
	postMetaEvents(t, p.url, batch...)

	waitFor(t, 30*time.Second, "20 events delivered and 2 dead-lettered", func() bool {
		return len(emu.Received(metaPixel)) == 20 && len(metaDeadLetters(t, p.url)) == 2 && settled(t, p.url)
	})
	dead := checkAccounted(t, emu, p.url, acked)
	t.Logf("dead letters: stale %s %q; poison %s %q", dead[stale.msgID].Code, dead[stale.msgID].Reason, dead[poison.msgID].Code, dead[poison.msgID].Reason)
	if d := dead[stale.msgID]; d.Cause != pipeline.CauseRejected || d.Code != "event_too_old" ||
		!strings.Contains(d.Reason, "Meta accepts events at most 7 days old") || !strings.Contains(d.Reason, "event_time") {
		t.Errorf("stale event's dead letter: cause %q code %q reason %q", d.Cause, d.Code, d.Reason)
	}
	if d := dead[poison.msgID]; d.Cause != pipeline.CauseRejected || d.Code != "meta_invalid_parameter" ||
		!strings.Contains(d.Reason, "customer_segmentation") || !strings.Contains(d.Reason, "vip_gold_tier") {
		t.Errorf("poison event's dead letter: cause %q code %q reason %q", d.Cause, d.Code, d.Reason)
	}
	for _, d := range dead {
		if len(d.Mapped) == 0 || len(d.Event) == 0 {
			t.Errorf("dead letter %s lacks the original or mapped event", d.MessageID)
		}
	}
	if m := scrape(t, p.url); metricSum(m, "switchboard_plugin_meta_rejected_total", `code="event_too_old"`) != 1 ||
		metricSum(m, "switchboard_plugin_meta_rejected_total", `code="meta_invalid_parameter"`) != 1 {
		t.Errorf("rejections by code are not on /metrics:\n%s", grepLines(m, "meta_rejected"))
	}
	checkNoSecretsAnywhere(t, p)

	// Fix the mapping (no customer_segmentation), restart, replay. A
	// graceful stop: acks JetStream has not written yet would otherwise
	// keep events pending until the ack wait (100s) redelivers them.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve did not stop cleanly: %v\n%s", err, p.logs)
	}
	p = startMetaServe(t, writeMetaConfig(t, dir, graph, ""))
	out, stderr, err := runCLI(t, "dlq", "replay", "--pipeline", metaPipeline, "--server", p.url)
	if err != nil || !strings.Contains(out, "replayed 2 dead letters") {
		t.Fatalf("dlq replay: %v\n%s%s", err, out, stderr)
	}
	waitFor(t, 30*time.Second, "the poison event delivered and the stale one dead again", func() bool {
		return len(emu.Received(metaPixel)) == 21 && len(metaDeadLetters(t, p.url)) == 1 && settled(t, p.url)
	})
	dead = checkAccounted(t, emu, p.url, acked)
	if _, ok := dead[stale.msgID]; !ok || len(dead) != 1 {
		t.Errorf("after the replay the dead letters are %v, want only %s", dead, stale.msgID)
	}
	if d := dead[stale.msgID]; !strings.Contains(d.Reason, "7 days") {
		t.Errorf("the replayed stale event's reason: %q", d.Reason)
	}
	checkNoSecretsAnywhere(t, p)
}

// TestMetaE2EDuplicateEventIDAfterKill9 delivers an event, kills serve with
// SIGKILL, restarts it on the same store and sends the same event_id under
// a new messageId: Meta gets it once, the repeat is reported delivered as a
// duplicate (the dedupe state lives in JetStream KV, not in the process).
func TestMetaE2EDuplicateEventIDAfterKill9(t *testing.T) {
	emu, graph := newMetaEmulator(t)
	cfg := writeMetaConfig(t, t.TempDir(), graph, "")
	p := startMetaServe(t, cfg)
	first := []metaEvent{{msgID: "d-1", orderID: "order-A"}, {msgID: "d-2", orderID: "order-B"}}
	postMetaEvents(t, p.url, first...)
	// Settled: acknowledged, so the plugin had recorded them as sent (it
	// does so before it answers).
	waitFor(t, 30*time.Second, "the first events delivered", func() bool {
		return len(emu.Received(metaPixel)) == 2 && settled(t, p.url)
	})
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p = startMetaServe(t, cfg)
	second := []metaEvent{{msgID: "d-3", orderID: "order-A"}, {msgID: "d-4", orderID: "order-C"}}
	postMetaEvents(t, p.url, second...)
	// Not "nothing pending": acks JetStream had not written to disk when
	// serve was killed come back after the ack wait (100s here), and those
	// redeliveries are held back by the same dedupe state.
	waitFor(t, 30*time.Second, "the second events delivered", func() bool {
		return metaStatus(t, p.url).Delivered >= 2
	})
	counts := emu.Counts(metaPixel)
	if n := counts[graphemu.Key{EventName: "Purchase", EventID: "order-A"}]; n != 1 {
		t.Errorf("event_id order-A reached Meta %d times, want once", n)
	}
	if n := counts[graphemu.Key{EventName: "Purchase", EventID: "order-C"}]; n != 1 {
		t.Errorf("event_id order-C reached Meta %d times, want once", n)
	}
	checkAccounted(t, emu, p.url, append(first, second...))
	// After the restart exactly one event is new to Meta (order-C); every
	// other delivery is a duplicate held back by the dedupe state: order-A
	// under its new messageId, plus any of d-1/d-2 whose ack the kill lost
	// and that JetStream therefore handed out again.
	st := metaStatus(t, p.url)
	m := scrape(t, p.url)
	dups := metricSum(m, "switchboard_plugin_results_total", `outcome="delivered"`, `code="duplicate"`)
	fresh := metricSum(m, "switchboard_plugin_results_total", `outcome="delivered"`, `code=""`)
	hits := metricSum(m, "switchboard_plugin_meta_dedupe_hits_total", `event_name="Purchase"`)
	if st.DeadLetters != 0 || fresh != 1 || dups < 1 || int64(st.Delivered) != int64(fresh+dups) {
		t.Errorf("after restart: delivered %d = %v new + %v duplicates (want 1 new, at least 1 duplicate), dead letters %d:\n%s",
			st.Delivered, fresh, dups, st.DeadLetters, grepLines(m, "switchboard_plugin_results_total"))
	}
	if hits != dups {
		t.Errorf("dedupe hits %v, duplicate results %v: want them equal:\n%s", hits, dups, grepLines(m, "dedupe"))
	}
	checkNoSecretsAnywhere(t, p)
}
