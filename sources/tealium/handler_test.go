package tealium_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"image/gif"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/bus/bustest"
	"github.com/switchboard-cdp/switchboard/core/event"
	"github.com/switchboard-cdp/switchboard/sources/ingest"
	"github.com/switchboard-cdp/switchboard/sources/segment"
	"github.com/switchboard-cdp/switchboard/sources/tealium"
)

const appKey = "zz-tealium-key-42"

type env struct {
	t   *testing.T
	bus *bus.Bus
	srv *httptest.Server
	reg *prometheus.Registry
}

// newEnv serves a Handler over a real bus at every path of
// tealium.Paths, with the sources
//
//	tag:    acme/main, any datasource
//	tagds:  acme/main, datasource ds1
//	app:    acme/mobile, key appKey, userId from email_address
//
// edit may change the options.
func newEnv(t *testing.T, edit func(*tealium.Options)) *env {
	t.Helper()
	b := bustest.Open(t, bus.Options{})
	reg := prometheus.NewRegistry()
	opts := tealium.Options{
		Sources: []tealium.Source{
			{Name: "tag", Account: "acme"},
			{Name: "tagds", Account: "acme", Profile: "main", Datasource: "ds1"},
			{Name: "app", Account: "acme", Profile: "mobile", Key: appKey, UserIDAttribute: "email_address"},
		},
		Publisher:  b,
		Registerer: reg,
		Now:        func() time.Time { return received },
	}
	if edit != nil {
		edit(&opts)
	}
	h, err := tealium.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	for _, p := range tealium.Paths() {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, bus: b, srv: srv, reg: reg}
}

type response struct {
	code   int
	header http.Header
	body   []byte
	json   map[string]any
}

func (e *env) do(method, path string, body io.Reader, hdr map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := response{code: res.StatusCode, header: res.Header, body: b}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.json); err != nil {
			e.t.Fatalf("%s %s answered bad JSON %q", method, path, b)
		}
	}
	return r
}

func (e *env) post(path, body string) response {
	e.t.Helper()
	return e.do(http.MethodPost, path, strings.NewReader(body), map[string]string{"Content-Type": "application/json", "User-Agent": "TealiumTest/1"})
}

// stored returns every event stored for source, oldest first, checking
// each one's subject.
func (e *env) stored(source string) []event.Event {
	e.t.Helper()
	msgs, err := e.bus.Recent(context.Background(), "events."+source+".>", 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]event.Event, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal(m.Data, &out[i]); err != nil {
			e.t.Fatalf("stored %s: %v", m.Data, err)
		}
		if want := event.Subject(source, out[i].Type); m.Subject != want {
			e.t.Fatalf("subject %s, want %s", m.Subject, want)
		}
	}
	return out
}

func wantStatus(t *testing.T, r response, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %s", r.code, code, r.body)
	}
	if code >= 400 && (r.json["success"] != false || r.json["error"] == "") {
		t.Fatalf("error body %s", r.body)
	}
}

func wantError(t *testing.T, r response, code int, field, msg string) {
	t.Helper()
	wantStatus(t, r, code)
	if got, _ := r.json["field"].(string); got != field {
		t.Errorf("field %q, want %q; body %s", got, field, r.body)
	}
	if got, _ := r.json["error"].(string); !strings.Contains(got, msg) {
		t.Errorf("error %q, want it to contain %q", got, msg)
	}
}

func TestPixel(t *testing.T) {
	e := newEnv(t, nil)
	q := url.Values{
		"tealium_account": {"acme"}, "tealium_profile": {"main"}, "tealium_event": {"view"},
		"tealium_visitor_id": {"v-1"}, "url": {"https://amp.example/a"}, "title": {"AMP"},
	}
	r := e.do(http.MethodGet, "/event?"+q.Encode(), nil, map[string]string{"User-Agent": "AMP/1", "Origin": "https://amp.example"})
	wantStatus(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "image/gif" {
		t.Fatalf("Content-Type %q", ct)
	}
	for _, h := range []string{"Cache-Control", "Pragma", "Expires"} {
		if r.header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	if r.header.Get("Access-Control-Allow-Origin") != "https://amp.example" {
		t.Errorf("no CORS headers: %v", r.header)
	}
	img, err := gif.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("not a GIF: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
		t.Fatalf("GIF is %v", b)
	}
	if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
		t.Fatalf("pixel alpha %d, want transparent", a)
	}
	evs := e.stored("tag")
	if len(evs) != 1 {
		t.Fatalf("%d events stored", len(evs))
	}
	ev := evs[0]
	if ev.Type != event.Page || ev.AnonymousID != "v-1" || ev.Properties["url"] != "https://amp.example/a" || ev.Context["userAgent"] != "AMP/1" || ev.Context["ip"] != "127.0.0.1" {
		t.Fatalf("stored %+v", ev)
	}
	// An error is still JSON, with the status a client can act on.
	r = e.do(http.MethodGet, "/event?tealium_event=view", nil, nil)
	wantError(t, r, http.StatusBadRequest, "tealium_account", "tealium_account is required")
	if !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		t.Errorf("error answer cacheable: %v", r.header)
	}
}

func TestPostEventJSONAndForm(t *testing.T) {
	e := newEnv(t, nil)
	r := e.post("/event", `{"tealium_account":"acme","tealium_event":"purchase","tealium_visitor_id":"v-1","customer_id":"c-1","order_id":"o-1","order_total":42.5,"order_currency":"EUR","dom.url":"https://shop.example/thanks"}`)
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != `{"success":true}` {
		t.Fatalf("body %s", r.body)
	}
	form := url.Values{"tealium_account": {"acme"}, "tealium_event": {"link"}, "tealium_visitor_id": {"v-2"}, "link_id": {"buy"}}.Encode()
	r = e.do(http.MethodPost, "/event", strings.NewReader(form), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	wantStatus(t, r, http.StatusOK)

	evs := e.stored("tag")
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	p := evs[0]
	if p.Type != event.Track || p.Event != "purchase" || p.UserID != "c-1" || p.AnonymousID != "v-1" {
		t.Fatalf("purchase %+v", p)
	}
	if p.Properties["order_total"] != json.Number("42.5") || p.Properties["order_id"] != "o-1" {
		t.Fatalf("properties %v", p.Properties)
	}
	if page, _ := p.Context["page"].(map[string]any); page["url"] != "https://shop.example/thanks" {
		t.Fatalf("context %v", p.Context)
	}
	if p.Context["userAgent"] != "TealiumTest/1" {
		t.Fatalf("context %v", p.Context)
	}
	l := evs[1]
	if l.Type != event.Track || l.Event != "link" || l.Properties["link_id"] != "buy" {
		t.Fatalf("link %+v", l)
	}
}

func TestBulkEvent(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"shared":{"tealium_account":"acme","tealium_profile":"mobile","tealium_visitor_id":"v-9","email_address":"ada@example.com","app_version":"1.2"},
	  "events":[{"tealium_event":"Home","tealium_event_type":"view","screen_title":"Home"},{"tealium_event":"cart_add","tealium_event_type":"event","product_id":["p-1"],"app_version":"1.3"}]}`
	r := e.do(http.MethodPost, "/bulk-event", strings.NewReader(body), map[string]string{"Authorization": "Bearer " + appKey})
	wantStatus(t, r, http.StatusOK)
	evs := e.stored("app")
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	if evs[0].Type != event.Screen || evs[0].Name != "Home" || evs[0].AnonymousID != "v-9" || evs[0].UserID != "ada@example.com" || evs[0].Properties["app_version"] != "1.2" {
		t.Fatalf("events[0] %+v", evs[0])
	}
	if evs[1].Event != "cart_add" || evs[1].UserID != "ada@example.com" || evs[1].Properties["app_version"] != "1.3" {
		t.Fatalf("events[1] %+v (the event's own value wins over shared)", evs[1])
	}
	// An error about one event names its index.
	r = e.do(http.MethodPost, "/bulk-event", strings.NewReader(`{"shared":{"tealium_account":"acme","tealium_visitor_id":"v"},"events":[{"tealium_event":"view"},{"x":1}]}`), nil)
	wantError(t, r, http.StatusBadRequest, "tealium_event", "events[1]: tealium_event is required")
	if r.json["index"] != float64(1) {
		t.Fatalf("index %v", r.json["index"])
	}
	// Events of two sources in one request are refused.
	r = e.do(http.MethodPost, "/bulk-event", strings.NewReader(`{"shared":{"tealium_account":"acme","tealium_visitor_id":"v","tealium_event":"view"},"events":[{},{"tealium_datasource":"ds1"}]}`), nil)
	wantError(t, r, http.StatusBadRequest, "tealium_account", "events[1]: names another source")
	if n := len(e.stored("tag")) + len(e.stored("tagds")); n != 0 {
		t.Fatalf("%d events stored from refused requests", n)
	}
}

func TestRoutingAndKeys(t *testing.T) {
	e := newEnv(t, nil)
	ev := func(extra string) string {
		return `{"tealium_event":"view","tealium_visitor_id":"v"` + extra + `}`
	}
	wantError(t, e.post("/event", ev(``)), 400, "tealium_account", "tealium_account is required")
	wantError(t, e.post("/event", ev(`,"tealium_account":["acme"]`)), 400, "tealium_account", "tealium_account must be a string")
	wantError(t, e.post("/event", ev(`,"tealium_account":"other"`)), 404, "tealium_account", `no source takes tealium_account "other"`)
	wantError(t, e.post("/event", ev(`,"tealium_account":"acme","tealium_profile":"dev"`)), 404, "tealium_profile", `no source takes tealium_profile "dev" of tealium_account "acme"`)

	// Datasource: the source that names it first, else the one that takes any.
	wantStatus(t, e.post("/event", ev(`,"tealium_account":"acme","tealium_datasource":"ds1","n":1`)), 200)
	wantStatus(t, e.post("/event", ev(`,"tealium_account":"acme","tealium_datasource":"zz","n":2`)), 200)
	if n, m := len(e.stored("tagds")), len(e.stored("tag")); n != 1 || m != 1 {
		t.Fatalf("tagds %d, tag %d events", n, m)
	}
	only := newEnv(t, func(o *tealium.Options) {
		o.Sources = []tealium.Source{{Name: "x", Account: "acme", Datasource: "ds1"}}
	})
	wantError(t, only.post("/event", ev(`,"tealium_account":"acme"`)), 404, "tealium_datasource", `no source takes a request without tealium_datasource for tealium_account "acme", tealium_profile "main"`)

	// The mobile profile wants its key.
	mobile := ev(`,"tealium_account":"acme","tealium_profile":"mobile"`)
	for name, hdr := range map[string]map[string]string{
		"no key":    nil,
		"wrong key": {"Authorization": "Bearer nope"},
		"basic":     {"Authorization": "Basic " + appKey},
	} {
		r := e.do(http.MethodPost, "/event", strings.NewReader(mobile), hdr)
		wantError(t, r, 401, "", "missing or wrong key")
		if strings.Contains(string(r.body), appKey) {
			t.Fatalf("%s: answer shows the key", name)
		}
	}
	wantStatus(t, e.do(http.MethodPost, "/event?key=nope", strings.NewReader(mobile), nil), 401)
	wantStatus(t, e.do(http.MethodPost, "/event", strings.NewReader(mobile), map[string]string{"Authorization": "bearer " + appKey}), 200)
	q := url.Values{"tealium_account": {"acme"}, "tealium_profile": {"mobile"}, "tealium_event": {"view"}, "tealium_visitor_id": {"v2"}, "key": {appKey}}
	wantStatus(t, e.do(http.MethodGet, "/event?"+q.Encode(), nil, nil), 200)
	msgs, err := e.bus.Recent(context.Background(), "events.app.>", 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d app events, %v", len(msgs), err)
	}
	for _, m := range msgs {
		if bytes.Contains(m.Data, []byte(appKey)) {
			t.Fatalf("the key was stored: %s", m.Data)
		}
	}
}

func TestRetriedBeaconStoredOnce(t *testing.T) {
	e := newEnv(t, nil)
	q := "/event?tealium_account=acme&tealium_event=view&tealium_visitor_id=v-1&tealium_random=42"
	for range 3 {
		wantStatus(t, e.do(http.MethodGet, q, nil, nil), 200)
	}
	// The same event posted as JSON is the same event.
	wantStatus(t, e.post("/event", `{"tealium_random":"42","tealium_visitor_id":"v-1","tealium_event":"view","tealium_account":"acme"}`), 200)
	if evs := e.stored("tag"); len(evs) != 1 {
		t.Fatalf("%d events stored, want 1", len(evs))
	}
	if got := (counter(t, e.reg, "switchboard_events_total", "duplicate", "tag", "page")); got != 3 {
		t.Fatalf("duplicates counted: %v", got)
	}
	wantStatus(t, e.do(http.MethodGet, strings.Replace(q, "=42", "=43", 1), nil, nil), 200)
	if evs := e.stored("tag"); len(evs) != 2 {
		t.Fatalf("%d events stored, want 2", len(evs))
	}
}

func TestBodiesAndLimits(t *testing.T) {
	e := newEnv(t, func(o *tealium.Options) {
		o.MaxRequestBytes = 4 << 10
		o.MaxEventBytes = 1 << 10
		o.MaxBulkEvents = 3
	})
	good := `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v"}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(good))
	_ = zw.Close()
	wantStatus(t, e.do(http.MethodPost, "/event", bytes.NewReader(gz.Bytes()), map[string]string{"Content-Encoding": "gzip", "Content-Type": "text/plain"}), 200)

	var bomb bytes.Buffer
	zw = gzip.NewWriter(&bomb)
	_, _ = zw.Write(bytes.Repeat([]byte(" "), 1<<20))
	_ = zw.Close()
	wantError(t, e.do(http.MethodPost, "/bulk-event", bytes.NewReader(bomb.Bytes()), map[string]string{"Content-Encoding": "gzip"}), 400, "", "request body larger than 4096 bytes")
	wantError(t, e.do(http.MethodPost, "/event", strings.NewReader("x"), map[string]string{"Content-Encoding": "br"}), 415, "", "unsupported Content-Encoding")
	wantError(t, e.do(http.MethodPost, "/event", strings.NewReader("\x1f\x8b\x08garbage"), map[string]string{"Content-Encoding": "gzip"}), 400, "", "invalid gzip body")

	big := `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v","pad":"` + strings.Repeat("x", 1100) + `"}`
	wantError(t, e.post("/event", big), 400, "", "event larger than 1024 bytes")
	wantError(t, e.do(http.MethodGet, "/event?tealium_account=acme&pad="+strings.Repeat("x", 1100), nil, nil), 400, "", "query string larger than 1024 bytes")
	wantError(t, e.post("/bulk-event", `{"shared":{"tealium_account":"acme"},"events":[`+big+`]}`), 400, "", "events[0]: event larger than 1024 bytes")
	wantError(t, e.post("/bulk-event", `{"events":[{},{},{},{}]}`), 400, "events", "4 events in one request; at most 3")

	for _, body := range []string{``, `nonsense{`, `{"a":`, `[` + good + `]`, `null`, `{"a":1}garbage`, "\x00\x01\x02"} {
		r := e.post("/event", body)
		if r.code != 400 || r.json["success"] != false {
			t.Errorf("%q: %d %s", body, r.code, r.body)
		}
	}
	for _, body := range []string{``, `{}`, `{"events":"x"}`, `{"events":[1]}`, `{"shared":5,"events":[{}]}`, `{"events":[{}]`, `[]`} {
		r := e.post("/bulk-event", body)
		if r.code != 400 || r.json["success"] != false {
			t.Errorf("bulk %q: %d %s", body, r.code, r.body)
		}
	}
	if n := len(e.stored("tag")); n != 1 {
		t.Fatalf("%d events stored", n)
	}
}

func TestMethodsPathsAndCORS(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(http.MethodPut, "/event", strings.NewReader("{}"), nil)
	wantStatus(t, r, 405)
	if r.header.Get("Allow") != "GET, POST, OPTIONS" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	r = e.do(http.MethodGet, "/bulk-event", nil, nil)
	wantStatus(t, r, 405)
	if r.header.Get("Allow") != "POST, OPTIONS" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	r = e.do(http.MethodOptions, "/bulk-event", nil, map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"})
	if r.code != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Access-Control-Allow-Headers") != "authorization, content-type" {
		t.Fatalf("preflight %d %v", r.code, r.header)
	}
}

func TestRateLimitAndUnavailable(t *testing.T) {
	e := newEnv(t, func(o *tealium.Options) { o.Sources[0].RateLimit, o.Sources[0].Burst = 1, 1 })
	body := `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v"}`
	wantStatus(t, e.post("/event", body), 200)
	r := e.post("/event", body)
	wantStatus(t, r, 429)
	if r.header.Get("Retry-After") == "" || r.header.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("429 headers %v", r.header)
	}

	down := newEnv(t, func(o *tealium.Options) { o.Publisher = failing{} })
	r = down.post("/event", body)
	wantStatus(t, r, 503)
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %v", r.header)
	}
	r = down.do(http.MethodGet, "/event?tealium_account=acme&tealium_event=view&tealium_visitor_id=v", nil, nil)
	wantStatus(t, r, 503)
}

// TestGateTurnsAwayWhenFull: with the server's in-flight budget taken (here
// by the test), a pixel and a POST wait out the gate's wait, get 503 with
// Retry-After and are not stored; with it free they are.
func TestGateTurnsAwayWhenFull(t *testing.T) {
	reg := prometheus.NewRegistry()
	gate, err := ingest.NewGate(4<<10, 50*time.Millisecond, reg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *tealium.Options) { o.Gate = gate })
	held, ok := gate.Enter(context.Background(), 1)
	if !ok {
		t.Fatal("the test could not take the gate")
	}
	pixel := "/event?tealium_account=acme&tealium_event=view&tealium_visitor_id=v"
	for _, r := range []response{e.do(http.MethodGet, pixel, nil, nil), e.post("/event", `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v"}`)} {
		wantStatus(t, r, 503)
		if r.header.Get("Retry-After") != "1" {
			t.Fatalf("503 without Retry-After: %v", r.header)
		}
	}
	if n := len(e.stored("tag")); n != 0 {
		t.Fatalf("%d events stored from requests answered 503", n)
	}
	if got := counter(t, reg, "switchboard_ingest_requests_busy_total"); got != 2 {
		t.Fatalf("busy %v, want 2", got)
	}
	gate.Leave(held)
	wantStatus(t, e.do(http.MethodGet, pixel, nil, nil), 200)
	if n := len(e.stored("tag")); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}

type failing struct{}

func (failing) Publish(context.Context, []bus.Message) (bus.PublishResult, error) {
	return bus.PublishResult{}, errors.New("jetstream down")
}

// counter is the value of the counter name whose label values, in the
// order of their names, are labels (0 when there is none).
func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, lp := range m.GetLabel() {
				vals = append(vals, lp.GetValue())
			}
			if strings.Join(vals, "\x00") == strings.Join(labels, "\x00") {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestMetricsSharedWithSegment: both sources register on one registry and
// count into the same collectors, told apart by the source label.
func TestMetricsSharedWithSegment(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := segment.New(segment.Options{Publisher: e.bus, Registerer: e.reg, Sources: []segment.Source{{Name: "web", WriteKeys: []string{"k"}}}}); err != nil {
		t.Fatalf("segment on the same registry: %v", err)
	}
	wantStatus(t, e.post("/event", `{"tealium_account":"acme","tealium_event":"view","tealium_visitor_id":"v"}`), 200)
	wantStatus(t, e.post("/event", `{"tealium_account":"nope","tealium_event":"view","tealium_visitor_id":"v"}`), 404)
	// labels sorted by name: code, route, source
	if got := (counter(t, e.reg, "switchboard_http_requests_total", "200", "event", "tag")); got != 1 {
		t.Fatalf("requests 200: %v", got)
	}
	if got := (counter(t, e.reg, "switchboard_http_requests_total", "404", "event", "")); got != 1 {
		t.Fatalf("requests 404: %v", got)
	}
	if got := (counter(t, e.reg, "switchboard_events_total", "stored", "tag", "page")); got != 1 {
		t.Fatalf("events stored: %v", got)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	pub := bustest.Open(t, bus.Options{})
	for name, o := range map[string]tealium.Options{
		"no publisher":   {Sources: []tealium.Source{{Name: "a", Account: "x"}}},
		"dotted name":    {Publisher: pub, Sources: []tealium.Source{{Name: "a.b", Account: "x"}}},
		"no account":     {Publisher: pub, Sources: []tealium.Source{{Name: "a"}}},
		"twice":          {Publisher: pub, Sources: []tealium.Source{{Name: "a", Account: "x"}, {Name: "a", Account: "y"}}},
		"same profile":   {Publisher: pub, Sources: []tealium.Source{{Name: "a", Account: "x"}, {Name: "b", Account: "x", Profile: "main", Key: "zz-secret"}}},
		"negative rate":  {Publisher: pub, Sources: []tealium.Source{{Name: "a", Account: "x", RateLimit: -1}}},
		"negative burst": {Publisher: pub, Sources: []tealium.Source{{Name: "a", Account: "x", Burst: -1}}},
	} {
		if _, err := tealium.New(o); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "zz-secret") {
			t.Errorf("%s: error shows the key: %v", name, err)
		}
	}
}
