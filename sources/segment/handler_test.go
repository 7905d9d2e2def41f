package segment_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/bus/bustest"
	"github.com/switchboard-cdp/switchboard/core/event"
	"github.com/switchboard-cdp/switchboard/sources/ingest"
	"github.com/switchboard-cdp/switchboard/sources/segment"
)

const (
	webKey  = "wk-web-5f1c9a"
	appKey1 = "wk-app-one-77"
	appKey2 = "wk-app-two-88"
)

// fixedNow is the receivedAt of every request in these tests.
var fixedNow = time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)

type env struct {
	t   *testing.T
	bus *bus.Bus
	h   *segment.Handler
	srv *httptest.Server
	reg *prometheus.Registry
}

// newEnv serves a Handler over a real bus with the sources "web" (webKey)
// and "app" (appKey1, appKey2). edit may change the options.
func newEnv(t *testing.T, edit func(*segment.Options)) *env {
	t.Helper()
	b := bustest.Open(t, bus.Options{})
	reg := prometheus.NewRegistry()
	opts := segment.Options{
		Sources: []segment.Source{
			{Name: "web", WriteKeys: []string{webKey}},
			{Name: "app", WriteKeys: []string{appKey1, appKey2}},
		},
		Publisher:  b,
		Registerer: reg,
		Now:        func() time.Time { return fixedNow },
	}
	if edit != nil {
		edit(&opts)
	}
	h, err := segment.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, bus: b, h: h, srv: srv, reg: reg}
}

type response struct {
	code   int
	header http.Header
	body   string
	json   map[string]any
}

// do sends a request to the test server; hdr values of "" are skipped.
func (e *env) do(method, path string, body io.Reader, hdr map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := response{code: res.StatusCode, header: res.Header, body: string(b)}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.json); err != nil {
			e.t.Fatalf("%s %s answered non-JSON %q", method, path, b)
		}
	}
	return r
}

// post sends body to path with the web source's Basic auth.
func (e *env) post(path, body string) response {
	e.t.Helper()
	return e.do(http.MethodPost, path, strings.NewReader(body), map[string]string{"Authorization": basic(webKey + ":")})
}

func basic(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

// stored returns every event stored for source, oldest first.
func (e *env) stored(source string) []event.Event {
	e.t.Helper()
	msgs, err := e.bus.Recent(context.Background(), "events."+source+".>", 100000)
	if err != nil {
		e.t.Fatalf("Recent: %v", err)
	}
	out := make([]event.Event, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal(m.Data, &out[i]); err != nil {
			e.t.Fatalf("stored event %s: %v", m.Data, err)
		}
		if want := event.Subject(source, out[i].Type); m.Subject != want {
			e.t.Fatalf("subject %s, want %s", m.Subject, want)
		}
	}
	return out
}

// find returns the stored event of source with messageID.
func (e *env) find(source, messageID string) (event.Event, bool) {
	e.t.Helper()
	for _, ev := range e.stored(source) {
		if ev.MessageID == messageID {
			return ev, true
		}
	}
	return event.Event{}, false
}

func (e *env) mustFind(source, messageID string) event.Event {
	e.t.Helper()
	ev, ok := e.find(source, messageID)
	if !ok {
		e.t.Fatalf("no stored %s event with messageId %s", source, messageID)
	}
	return ev
}

func wantStatus(t *testing.T, r response, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %s", r.code, code, r.body)
	}
	if code == 200 && r.body != `{"success":true}` {
		t.Fatalf("200 body %q", r.body)
	}
	if code >= 400 && (r.json["success"] != false || r.json["error"] == "") {
		t.Fatalf("error body %s", r.body)
	}
}

func TestRoutesStoreEachType(t *testing.T) {
	e := newEnv(t, nil)
	single := []struct {
		path string
		typ  event.Type
		body string
	}{
		{"track", event.Track, `"event":"Clicked"`},
		{"identify", event.Identify, `"traits":{"email":"a@b.c"}`},
		{"page", event.Page, `"name":"Home"`},
		{"screen", event.Screen, `"name":"Home"`},
		{"group", event.Group, `"groupId":"g1"`},
		{"alias", event.Alias, `"previousId":"old"`},
		{"t", event.Track, `"event":"Clicked"`},
		{"i", event.Identify, `"traits":{}`},
		{"p", event.Page, `"properties":{"url":"u"}`},
		{"s", event.Screen, `"name":"S"`},
		{"g", event.Group, `"groupId":"g1"`},
		{"a", event.Alias, `"previousId":"old"`},
	}
	for _, tc := range single {
		t.Run(tc.path, func(t *testing.T) {
			id := "route-" + tc.path
			r := e.post("/v1/"+tc.path, `{"userId":"u1","messageId":"`+id+`",`+tc.body+`}`)
			wantStatus(t, r, 200)
			if ev := e.mustFind("web", id); ev.Type != tc.typ || ev.Source != "web" {
				t.Fatalf("stored type %q source %q, want %q web", ev.Type, ev.Source, tc.typ)
			}
		})
	}
	for _, path := range []string{"batch", "import", "b"} {
		t.Run(path, func(t *testing.T) {
			id := "route-" + path
			r := e.post("/v1/"+path, `{"batch":[{"type":"track","event":"E","userId":"u","messageId":"`+id+`-1"},{"type":"page","anonymousId":"a","messageId":"`+id+`-2"}]}`)
			wantStatus(t, r, 200)
			if ev := e.mustFind("web", id+"-1"); ev.Type != event.Track {
				t.Fatalf("type %q", ev.Type)
			}
			if ev := e.mustFind("web", id+"-2"); ev.Type != event.Page {
				t.Fatalf("type %q", ev.Type)
			}
		})
	}
	t.Run("matching body type", func(t *testing.T) {
		wantStatus(t, e.post("/v1/t", `{"type":"track","event":"E","userId":"u"}`), 200)
	})
	t.Run("contradicting body type", func(t *testing.T) {
		r := e.post("/v1/t", `{"type":"identify","event":"E","userId":"u"}`)
		wantStatus(t, r, 400)
		if r.json["field"] != "type" || r.json["index"] != nil {
			t.Fatalf("body %s", r.body)
		}
	})
}

func TestMetricsRouteAcceptsAndDrops(t *testing.T) {
	e := newEnv(t, nil)
	before := len(e.stored("web"))
	r := e.do(http.MethodPost, "/v1/m", strings.NewReader(`{"series":[{"type":"Counter","metric":"analytics_js.invoke","value":1}]}`), map[string]string{"Content-Type": "text/plain"})
	wantStatus(t, r, 200)
	if after := len(e.stored("web")); after != before {
		t.Fatalf("/v1/m stored %d events", after-before)
	}
}

func TestWrongMethodAndUnknownPath(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(http.MethodGet, "/v1/track", nil, nil)
	wantStatus(t, r, 405)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "POST") {
		t.Fatalf("Allow %q", allow)
	}
	r = e.do(http.MethodPut, "/v1/projects/"+webKey+"/settings", nil, nil)
	wantStatus(t, r, 405)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Fatalf("Allow %q", allow)
	}
	for _, p := range []string{"/v1/nope", "/v1/", "/v1/projects/x/settings/more", "/v2/track"} {
		r := e.do(http.MethodPost, p, strings.NewReader(`{}`), nil)
		wantStatus(t, r, 404)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, nil)
	mk := func(id string) string { return `{"userId":"u","event":"E","messageId":"` + id + `"` }
	cases := []struct {
		name   string
		path   string
		body   string // without the closing brace when single
		hdr    map[string]string
		code   int
		source string
	}{
		{"basic with colon", "/v1/track", mk("a1") + `}`, map[string]string{"Authorization": basic(webKey + ":")}, 200, "web"},
		{"basic without colon", "/v1/track", mk("a2") + `}`, map[string]string{"Authorization": basic(webKey)}, 200, "web"},
		{"basic lower-case scheme, no padding", "/v1/track", mk("a3") + `}`, map[string]string{"Authorization": "basic " + strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(appKey2+":")), "=")}, 200, "app"},
		{"bearer and body writeKey", "/v1/track", mk("a4") + `,"writeKey":"` + appKey1 + `"}`, map[string]string{"Authorization": "Bearer some.oauth.token", "X-Write-Key": "wrong"}, 200, "app"},
		{"bearer falls back to X-Write-Key", "/v1/track", mk("a5") + `}`, map[string]string{"Authorization": "Bearer t", "X-Write-Key": webKey}, 200, "web"},
		{"X-Write-Key", "/v1/track", mk("a6") + `}`, map[string]string{"X-Write-Key": webKey}, 200, "web"},
		{"query", "/v1/track?writeKey=" + appKey1, mk("a7") + `}`, nil, 200, "app"},
		{"body of a single event", "/v1/t", mk("a8") + `,"writeKey":"` + webKey + `"}`, nil, 200, "web"},
		{"body of a batch envelope", "/v1/b", `{"writeKey":"` + appKey2 + `","batch":[{"type":"track","event":"E","userId":"u","messageId":"a9"}]}`, nil, 200, "app"},
		{"wrong key", "/v1/track", mk("x1") + `}`, map[string]string{"Authorization": basic("nope:")}, 401, ""},
		{"wrong header key beats a right body key", "/v1/track", mk("x2") + `,"writeKey":"` + webKey + `"}`, map[string]string{"X-Write-Key": "nope"}, 401, ""},
		{"wrong body key", "/v1/b", `{"writeKey":"nope","batch":[{"type":"track","event":"E","userId":"u"}]}`, nil, 401, ""},
		{"missing key", "/v1/track", mk("x3") + `}`, nil, 401, ""},
		{"bearer without any key", "/v1/track", mk("x4") + `}`, map[string]string{"Authorization": "Bearer t"}, 401, ""},
		{"undecodable basic", "/v1/track", mk("x5") + `}`, map[string]string{"Authorization": "Basic !!!"}, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, tc.path, strings.NewReader(tc.body), tc.hdr)
			wantStatus(t, r, tc.code)
			if tc.code != 200 {
				return
			}
			var id string
			if strings.Contains(tc.body, `"messageId":"`) {
				id = strings.SplitN(strings.SplitN(tc.body, `"messageId":"`, 2)[1], `"`, 2)[0]
			}
			if _, ok := e.find(tc.source, id); !ok {
				t.Fatalf("event %s not stored under %s", id, tc.source)
			}
		})
	}
}

func TestContentTypesAreIgnored(t *testing.T) {
	e := newEnv(t, nil)
	for i, ct := range []string{"application/json", "application/json;charset=UTF-8", "text/plain", "application/x-www-form-urlencoded", ""} {
		t.Run(ct, func(t *testing.T) {
			id := fmt.Sprintf("ct-%d", i)
			r := e.do(http.MethodPost, "/v1/batch", strings.NewReader(`{"batch":[{"type":"track","event":"E","userId":"u","messageId":"`+id+`"}]}`),
				map[string]string{"Authorization": basic(webKey + ":"), "Content-Type": ct})
			wantStatus(t, r, 200)
			e.mustFind("web", id)
		})
	}
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGzip(t *testing.T) {
	e := newEnv(t, func(o *segment.Options) { o.MaxRequestBytes = 64 << 10 })
	auth := basic(webKey + ":")
	body := []byte(`{"batch":[{"type":"track","event":"E","userId":"u","messageId":"gz-1"}]}`)
	zipped := gz(t, body)

	r := e.do(http.MethodPost, "/v1/batch", bytes.NewReader(zipped), map[string]string{"Authorization": auth, "Content-Encoding": "gzip", "Content-Type": "application/x-www-form-urlencoded"})
	wantStatus(t, r, 200)
	e.mustFind("web", "gz-1")

	r = e.do(http.MethodPost, "/v1/batch", bytes.NewReader(zipped[:len(zipped)-9]), map[string]string{"Authorization": auth, "Content-Encoding": "gzip"})
	wantStatus(t, r, 400)
	if !strings.Contains(r.json["error"].(string), "gzip") {
		t.Fatalf("truncated gzip: %s", r.body)
	}

	r = e.do(http.MethodPost, "/v1/batch", strings.NewReader("not gzip at all"), map[string]string{"Authorization": auth, "Content-Encoding": "gzip"})
	wantStatus(t, r, 400)

	// A bomb: a few KB on the wire, far more than the cap once inflated.
	bomb := gz(t, append(append([]byte(`{"batch":[`), bytes.Repeat([]byte(" "), 1<<20)...), `]}`...))
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb is %d bytes compressed", len(bomb))
	}
	r = e.do(http.MethodPost, "/v1/batch", bytes.NewReader(bomb), map[string]string{"Authorization": auth, "Content-Encoding": "gzip"})
	wantStatus(t, r, 400)
	if !strings.Contains(r.json["error"].(string), "larger than") {
		t.Fatalf("bomb: %s", r.body)
	}

	r = e.do(http.MethodPost, "/v1/batch", bytes.NewReader(body), map[string]string{"Authorization": auth, "Content-Encoding": "br"})
	wantStatus(t, r, 415)
}

func TestNumericIDsAndNumbersKeepEveryDigit(t *testing.T) {
	e := newEnv(t, nil)
	r := e.post("/v1/batch", `{"batch":[
		{"type":"alias","userId":12345678901234567890123,"previousId":-7,"messageId":"num-1"},
		{"type":"group","anonymousId":1.5e3,"groupId":42,"messageId":"num-2","traits":{"big":123456789012345678901234567890,"f":0.1000000000000000055511151231257827}}
	]}`)
	wantStatus(t, r, 200)
	a := e.mustFind("web", "num-1")
	if a.UserID != "12345678901234567890123" || a.PreviousID != "-7" {
		t.Fatalf("alias ids %q %q", a.UserID, a.PreviousID)
	}
	g := e.mustFind("web", "num-2")
	if g.AnonymousID != "1.5e3" || g.GroupID != "42" {
		t.Fatalf("group ids %q %q", g.AnonymousID, g.GroupID)
	}
	if g.Traits["big"] != json.Number("123456789012345678901234567890") || g.Traits["f"] != json.Number("0.1000000000000000055511151231257827") {
		t.Fatalf("traits %#v", g.Traits)
	}
}

func TestBatchContextAndIntegrationsMerge(t *testing.T) {
	e := newEnv(t, nil)
	r := e.post("/v1/batch", `{
		"context":{"library":{"name":"analytics-go","version":"3.3.0"},"locale":"en-US","page":{"title":"batch title","path":"/b"}},
		"integrations":{"All":false,"Mixpanel":{"a":1}},
		"batch":[
			{"type":"track","event":"E","userId":"u","messageId":"merge-1","context":{"page":{"url":"https://x.example/p","path":"/own"},"locale":"de-DE"},"integrations":{"Mixpanel":{"b":2}}},
			{"type":"track","event":"E","userId":"u","messageId":"merge-2"}
		]}`)
	wantStatus(t, r, 200)
	ev := e.mustFind("web", "merge-1")
	lib, _ := ev.Context["library"].(map[string]any)
	page, _ := ev.Context["page"].(map[string]any)
	if lib["name"] != "analytics-go" || lib["version"] != "3.3.0" {
		t.Fatalf("library not merged: %v", ev.Context)
	}
	if page["url"] != "https://x.example/p" || page["path"] != "/own" || page["title"] != "batch title" {
		t.Fatalf("page not merged with the event's keys winning: %v", page)
	}
	if ev.Context["locale"] != "de-DE" {
		t.Fatalf("event's locale lost: %v", ev.Context["locale"])
	}
	mp, _ := ev.Integrations["Mixpanel"].(map[string]any)
	if ev.Integrations["All"] != false || mp["a"] != json.Number("1") || mp["b"] != json.Number("2") {
		t.Fatalf("integrations %v", ev.Integrations)
	}
	ev2 := e.mustFind("web", "merge-2")
	if ev2.Context["locale"] != "en-US" || ev2.Integrations["All"] != false {
		t.Fatalf("batch context not applied to an event without one: %v %v", ev2.Context, ev2.Integrations)
	}
}

func TestTimeCorrection(t *testing.T) {
	e := newEnv(t, nil)
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name       string
		envelope   string // extra envelope members
		fields     string // extra event members
		wantTS     string
		wantOrig   string
		wantSentAt string
	}{
		{"client clock 1h fast, batch sentAt", `,"sentAt":"2024-05-06T13:00:05Z"`, `,"timestamp":"2024-05-06T13:00:00Z"`,
			"2024-05-06T11:59:55Z", "2024-05-06T13:00:00Z", "2024-05-06T13:00:05Z"},
		{"event sentAt beats batch sentAt", `,"sentAt":"2030-01-01T00:00:00Z"`, `,"timestamp":"2024-05-06T11:59:00Z","sentAt":"2024-05-06T11:59:30Z"`,
			"2024-05-06T11:59:30Z", "2024-05-06T11:59:00Z", "2024-05-06T11:59:30Z"},
		{"originalTimestamp beats timestamp", ``, `,"originalTimestamp":"2024-05-06T11:00:00Z","timestamp":"2024-05-06T10:00:00Z","sentAt":"2024-05-06T11:30:00Z"`,
			"2024-05-06T11:30:00Z", "2024-05-06T11:00:00Z", "2024-05-06T11:30:00Z"},
		{"no times at all", ``, ``,
			"2024-05-06T12:00:00Z", "2024-05-06T12:00:00Z", "2024-05-06T12:00:00Z"},
		{"no sentAt: timestamp kept", ``, `,"timestamp":"2024-05-06T11:00:00.123+02:00"`,
			"2024-05-06T09:00:00.123Z", "2024-05-06T09:00:00.123Z", "2024-05-06T12:00:00Z"},
		{"naive and colon-less forms", ``, `,"timestamp":"2024-05-06T11:00:00.5","sentAt":"2024-05-06T11:00:10+0000"`,
			"2024-05-06T11:59:50.5Z", "2024-05-06T11:00:00.5Z", "2024-05-06T11:00:10Z"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("time-%d", i)
			r := e.post("/v1/batch", `{"batch":[{"type":"track","event":"E","userId":"u","messageId":"`+id+`"`+tc.fields+`}]`+tc.envelope+`}`)
			wantStatus(t, r, 200)
			ev := e.mustFind("web", id)
			if !ev.Timestamp.Equal(ts(tc.wantTS)) || !ev.OriginalTimestamp.Equal(ts(tc.wantOrig)) || !ev.SentAt.Equal(ts(tc.wantSentAt)) || !ev.ReceivedAt.Equal(fixedNow) {
				t.Fatalf("timestamp %s original %s sentAt %s receivedAt %s; want %s %s %s %s",
					ev.Timestamp, ev.OriginalTimestamp, ev.SentAt, ev.ReceivedAt, tc.wantTS, tc.wantOrig, tc.wantSentAt, fixedNow)
			}
		})
	}
	for _, field := range []string{"timestamp", "originalTimestamp", "sentAt"} {
		t.Run("unparsable "+field, func(t *testing.T) {
			r := e.post("/v1/batch", `{"batch":[{"type":"track","event":"E","userId":"u"},{"type":"track","event":"E","userId":"u","`+field+`":"last tuesday"}]}`)
			wantStatus(t, r, 400)
			if r.json["field"] != field || r.json["index"] != float64(1) {
				t.Fatalf("body %s", r.body)
			}
		})
	}
	t.Run("unparsable batch sentAt", func(t *testing.T) {
		r := e.post("/v1/batch", `{"sentAt":12,"batch":[{"type":"track","event":"E","userId":"u"}]}`)
		wantStatus(t, r, 400)
		if r.json["field"] != "sentAt" || r.json["index"] != nil {
			t.Fatalf("body %s", r.body)
		}
	})
}

func TestContextIP(t *testing.T) {
	direct := newEnv(t, nil)
	proxied := newEnv(t, func(o *segment.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	})
	hdr := func(xff string) map[string]string {
		return map[string]string{"Authorization": basic(webKey), "X-Forwarded-For": xff}
	}
	body := func(id, ctx string) io.Reader {
		return strings.NewReader(`{"type":"track","event":"E","userId":"u","messageId":"` + id + `"` + ctx + `}`)
	}
	cases := []struct {
		name string
		e    *env
		xff  string
		ctx  string
		want string
	}{
		{"peer address", direct, "", "", "127.0.0.1"},
		{"X-Forwarded-For ignored from an untrusted peer", direct, "203.0.113.9", "", "127.0.0.1"},
		{"X-Forwarded-For from a trusted peer", proxied, "198.51.100.1, 203.0.113.9, 10.1.2.3", "", "203.0.113.9"},
		{"all hops trusted", proxied, "10.0.0.1", "", "10.0.0.1"},
		{"the event's own ip wins", proxied, "203.0.113.9", `,"context":{"ip":"192.0.2.1"}`, "192.0.2.1"},
		{"an empty ip is filled", direct, "", `,"context":{"ip":""}`, "127.0.0.1"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("ip-%d", i)
			r := tc.e.do(http.MethodPost, "/v1/track", body(id, tc.ctx), hdr(tc.xff))
			wantStatus(t, r, 200)
			if ev := tc.e.mustFind("web", id); ev.Context["ip"] != tc.want {
				t.Fatalf("context.ip %v, want %s", ev.Context["ip"], tc.want)
			}
		})
	}
}

func TestValidationNamesFieldAndIndex(t *testing.T) {
	e := newEnv(t, nil)
	ok := `{"type":"track","event":"E","userId":"u"}`
	cases := []struct {
		name  string
		bad   string
		field string
	}{
		{"no ids", `{"type":"track","event":"E"}`, "userId"},
		{"empty ids", `{"type":"track","event":"E","userId":"","anonymousId":null}`, "userId"},
		{"track without event", `{"type":"track","userId":"u"}`, "event"},
		{"track with empty event", `{"type":"track","userId":"u","event":""}`, "event"},
		{"group without groupId", `{"type":"group","userId":"u"}`, "groupId"},
		{"alias without previousId", `{"type":"alias","userId":"u"}`, "previousId"},
		{"alias without userId", `{"type":"alias","anonymousId":"a","previousId":"p"}`, "userId"},
		{"long messageId", `{"type":"track","event":"E","userId":"u","messageId":"` + strings.Repeat("m", 100) + `"}`, "messageId"},
		{"messageId with a newline", `{"type":"track","event":"E","userId":"u","messageId":"a\nb"}`, "messageId"},
		{"unknown type", `{"type":"purchase","userId":"u"}`, "type"},
		{"missing type", `{"userId":"u"}`, "type"},
		{"type not a string", `{"type":1,"userId":"u"}`, "type"},
		{"properties not an object", `{"type":"track","event":"E","userId":"u","properties":[1]}`, "properties"},
		{"traits not an object", `{"type":"identify","userId":"u","traits":"x"}`, "traits"},
		{"context not an object", `{"type":"identify","userId":"u","context":1}`, "context"},
		{"integrations not an object", `{"type":"identify","userId":"u","integrations":true}`, "integrations"},
		{"userId an object", `{"type":"identify","userId":{}}`, "userId"},
		{"event not a string", `{"type":"track","userId":"u","event":["E"]}`, "event"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.stored("web"))
			r := e.post("/v1/batch", `{"batch":[`+ok+`,`+ok+`,`+ok+`,`+tc.bad+`]}`)
			wantStatus(t, r, 400)
			if r.json["field"] != tc.field || r.json["index"] != float64(3) || !strings.HasPrefix(r.json["error"].(string), "batch[3]: ") {
				t.Fatalf("body %s; want field %s index 3", r.body, tc.field)
			}
			if after := len(e.stored("web")); after != before {
				t.Fatalf("an invalid batch stored %d events", after-before)
			}
		})
	}
	t.Run("example from the issue", func(t *testing.T) {
		r := e.post("/v1/batch", `{"batch":[`+ok+`,`+ok+`,`+ok+`,{"type":"track","event":"E"}]}`)
		want := `{"success":false,"error":"batch[3]: userId or anonymousId is required","field":"userId","index":3}`
		if r.body != want {
			t.Fatalf("body %s\nwant %s", r.body, want)
		}
	})
	t.Run("single event has no index", func(t *testing.T) {
		r := e.post("/v1/track", `{"userId":"u"}`)
		wantStatus(t, r, 400)
		if r.json["field"] != "event" || r.json["index"] != nil {
			t.Fatalf("body %s", r.body)
		}
	})
}

func TestLimits(t *testing.T) {
	e := newEnv(t, nil)
	ev := func(pad int) string {
		return `{"type":"track","event":"E","userId":"u","properties":{"pad":"` + strings.Repeat("x", pad) + `"}}`
	}
	t.Run("event over 32KB", func(t *testing.T) {
		r := e.post("/v1/batch", `{"batch":[`+ev(10)+`,`+ev(33<<10)+`]}`)
		wantStatus(t, r, 400)
		if r.json["index"] != float64(1) || !strings.Contains(r.json["error"].(string), "32768") {
			t.Fatalf("body %s", r.body)
		}
		r = e.post("/v1/track", ev(33<<10))
		wantStatus(t, r, 400)
	})
	t.Run("event just under 32KB", func(t *testing.T) {
		wantStatus(t, e.post("/v1/track", ev(32<<10-200)), 200)
	})
	big := `{"batch":[` + strings.Repeat(ev(20<<10)+",", 25) + ev(10) + `]}`
	t.Run("request over 500KB", func(t *testing.T) {
		r := e.post("/v1/batch", big)
		wantStatus(t, r, 400)
		if !strings.Contains(r.json["error"].(string), "larger than 512000 bytes") {
			t.Fatalf("body %s", r.body)
		}
	})
	t.Run("chunked request over 500KB", func(t *testing.T) {
		// An io.Reader the client cannot size is sent chunked.
		r := e.do(http.MethodPost, "/v1/batch", io.MultiReader(strings.NewReader(big)), map[string]string{"Authorization": basic(webKey)})
		wantStatus(t, r, 400)
	})
	t.Run("more than 2500 events", func(t *testing.T) {
		small := `{"type":"track","event":"E","userId":"u"}`
		r := e.post("/v1/batch", `{"batch":[`+strings.Repeat(small+",", 2500)+small+`]}`)
		wantStatus(t, r, 400)
		if !strings.Contains(r.json["error"].(string), "2500") || r.json["field"] != "batch" {
			t.Fatalf("body %s", r.body)
		}
	})
	t.Run("exactly 2500 events", func(t *testing.T) {
		small := `{"type":"track","event":"E","userId":"u"}`
		before := len(e.stored("web"))
		wantStatus(t, e.post("/v1/batch", `{"batch":[`+strings.Repeat(small+",", 2499)+small+`]}`), 200)
		if got := len(e.stored("web")) - before; got != 2500 {
			t.Fatalf("stored %d", got)
		}
	})
	for name, body := range map[string]string{
		"empty batch":   `{"batch":[]}`,
		"null batch":    `{"batch":null}`,
		"missing batch": `{"sentAt":"2024-05-06T12:00:00Z"}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := e.post("/v1/batch", body)
			wantStatus(t, r, 400)
			if r.json["field"] != "batch" {
				t.Fatalf("body %s", r.body)
			}
		})
	}
	for name, body := range map[string]string{
		"malformed":       `{"batch":[{"type":"track",}]}`,
		"truncated":       `{"batch":[{"type":"track"`,
		"trailing data":   `{"batch":[{"type":"track","event":"E","userId":"u"}]}{}`,
		"not an object":   `[{"type":"track"}]`,
		"empty body":      ``,
		"batch an object": `{"batch":{"type":"track"}}`,
		"event a string":  `{"batch":["x"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			before := len(e.stored("web"))
			r := e.post("/v1/batch", body)
			wantStatus(t, r, 400)
			if len(e.stored("web")) != before {
				t.Fatal("stored something")
			}
		})
	}
	t.Run("json error gives the offset", func(t *testing.T) {
		r := e.post("/v1/batch", `{"batch":[{"type":"track",}]}`)
		if msg := r.json["error"].(string); !strings.Contains(msg, "offset 26") {
			t.Fatalf("error %q", msg)
		}
	})
}

func TestCORS(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(http.MethodOptions, "/v1/t", nil, map[string]string{
		"Origin":                         "https://shop.example",
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
	})
	if r.code != 204 {
		t.Fatalf("preflight status %d", r.code)
	}
	h := r.header
	if h.Get("Access-Control-Allow-Origin") != "https://shop.example" || h.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || h.Get("Access-Control-Max-Age") != "86400" ||
		h.Get("Access-Control-Allow-Headers") != "authorization,content-type,x-retry-count" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Fatalf("preflight headers %v", h)
	}
	r = e.do(http.MethodOptions, "/v1/batch", nil, map[string]string{"Origin": "https://a.example", "Access-Control-Request-Method": "POST"})
	if allow := strings.ToLower(r.header.Get("Access-Control-Allow-Headers")); !strings.Contains(allow, "authorization") || !strings.Contains(allow, "x-retry-count") || !strings.Contains(allow, "x-write-key") {
		t.Fatalf("default allowed headers %q", allow)
	}
	for _, c := range []struct {
		method, path, body string
	}{{"POST", "/v1/t", `{"event":"E","userId":"u"}`}, {"POST", "/v1/t", `{}`}, {"GET", "/v1/projects/" + webKey + "/settings", ""}, {"POST", "/v1/nope", ""}} {
		r := e.do(c.method, c.path, strings.NewReader(c.body), map[string]string{"Origin": "https://shop.example", "Authorization": basic(webKey)})
		if r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" || r.header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("%s %s (%d) lacks CORS headers: %v", c.method, c.path, r.code, r.header)
		}
	}
}

func TestSettings(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(http.MethodGet, "/v1/projects/"+appKey2+"/settings", nil, map[string]string{"Host": "events.shop.example"})
	if r.code != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("settings: %d %v", r.code, r.header)
	}
	var doc struct {
		Integrations map[string]struct {
			APIKey   string `json:"apiKey"`
			APIHost  string `json:"apiHost"`
			Protocol string `json:"protocol"`
		} `json:"integrations"`
		AnalyticsNextEnabled bool            `json:"analyticsNextEnabled"`
		Plan                 map[string]any  `json:"plan"`
		RemotePlugins        []any           `json:"remotePlugins"`
		Raw                  json.RawMessage `json:"-"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatal(err)
	}
	sio := doc.Integrations["Segment.io"]
	if sio.APIKey != appKey2 || sio.APIHost != "events.shop.example/v1" || sio.Protocol != "http" || !doc.AnalyticsNextEnabled || doc.Plan["track"] == nil || doc.RemotePlugins == nil {
		t.Fatalf("settings %s", r.body)
	}
	r = e.do(http.MethodGet, "/v1/projects/unknown-key/settings", nil, nil)
	wantStatus(t, r, 404)
	if strings.Contains(r.body, "unknown-key") {
		t.Fatalf("404 echoes the key: %s", r.body)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(o *segment.Options) {
		o.Sources[0].RateLimit = 0.5
		o.Sources[0].Burst = 1
	})
	body := `{"type":"track","event":"E","userId":"u"}`
	wantStatus(t, e.post("/v1/t", body), 200)
	r := e.post("/v1/t", body)
	wantStatus(t, r, 429)
	if r.header.Get("Retry-After") != "2" || r.header.Get("X-RateLimit-Reset") != "2" {
		t.Fatalf("headers %v", r.header)
	}
	// Authenticated by the body: limited after decoding.
	r = e.do(http.MethodPost, "/v1/t", strings.NewReader(`{"event":"E","userId":"u","writeKey":"`+webKey+`"}`), nil)
	wantStatus(t, r, 429)
	// Another source is not limited.
	wantStatus(t, e.do(http.MethodPost, "/v1/t", strings.NewReader(body), map[string]string{"X-Write-Key": appKey1}), 200)
}

// TestGateQueuesThenTurnsAway: with the server's in-flight budget taken
// (here by the test, as by a request being stored), a request waits its
// turn and is stored once the budget is given back; one that waits longer
// than the gate's wait gets 503 with Retry-After, and nothing of it is
// stored.
func TestGateQueuesThenTurnsAway(t *testing.T) {
	reg := prometheus.NewRegistry()
	gate, err := ingest.NewGate(4<<10, 300*time.Millisecond, reg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *segment.Options) { o.Gate = gate })
	held, ok := gate.Enter(context.Background(), 1)
	if !ok {
		t.Fatal("the test could not take the gate")
	}
	r := e.post("/v1/t", `{"type":"track","event":"E","userId":"u","messageId":"turned-away"}`)
	wantStatus(t, r, 503)
	if r.header.Get("Retry-After") != "1" || !strings.Contains(r.body, "server busy") {
		t.Fatalf("503 without its Retry-After or message: %v %s", r.header, r.body)
	}
	if _, found := e.find("web", "turned-away"); found {
		t.Fatal("a request answered 503 was stored")
	}
	if got := metricValue(t, reg, "switchboard_ingest_requests_busy_total", nil); got != 1 {
		t.Fatalf("busy %v, want 1", got)
	}

	done := make(chan response)
	go func() { done <- e.post("/v1/t", `{"type":"track","event":"E","userId":"u","messageId":"waited"}`) }()
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, reg, "switchboard_ingest_requests_waiting", nil) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the second request never waited at the gate")
		}
		time.Sleep(time.Millisecond)
	}
	gate.Leave(held)
	wantStatus(t, <-done, 200)
	e.mustFind("web", "waited")
}

func TestDuplicateMessageIDStoredOnce(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"batch":[{"type":"track","event":"E","userId":"u","messageId":"dup-1"},{"type":"track","event":"E","userId":"u","messageId":"dup-1"},{"type":"track","event":"E","userId":"u","messageId":"dup-2"}]}`
	wantStatus(t, e.post("/v1/batch", body), 200)
	wantStatus(t, e.post("/v1/batch", body), 200) // the client's retry
	n := 0
	for _, ev := range e.stored("web") {
		if strings.HasPrefix(ev.MessageID, "dup-") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("stored %d events, want 2", n)
	}
	// The same messageId from another source is another event.
	wantStatus(t, e.do(http.MethodPost, "/v1/batch", strings.NewReader(body), map[string]string{"X-Write-Key": appKey1}), 200)
	if _, ok := e.find("app", "dup-1"); !ok {
		t.Fatal("app's dup-1 was deduplicated against web's")
	}
	if got := metricValue(t, e.reg, "switchboard_events_total", map[string]string{"source": "web", "type": "unknown", "outcome": "duplicate"}); got != 1 {
		t.Fatalf("duplicates counted %v, want 1 (the in-batch one)", got)
	}
	if got := metricValue(t, e.reg, "switchboard_events_total", map[string]string{"source": "web", "type": "track", "outcome": "duplicate"}); got != 3 {
		t.Fatalf("duplicates of the retry counted %v, want 3", got)
	}
}

func TestPublisherFailureIs503(t *testing.T) {
	t.Run("full stream", func(t *testing.T) {
		b := bustest.Open(t, bus.Options{MaxBytes: 4096})
		h, err := segment.New(segment.Options{Sources: []segment.Source{{Name: "web", WriteKeys: []string{webKey}}}, Publisher: b})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		e := &env{t: t, bus: b, h: h, srv: srv}
		var r response
		for i := 0; i < 50; i++ {
			r = e.post("/v1/batch", `{"batch":[{"type":"track","event":"E","userId":"u","properties":{"pad":"`+strings.Repeat("x", 500)+`"}}]}`)
			if r.code != 200 {
				break
			}
		}
		wantStatus(t, r, 503)
		if r.header.Get("Retry-After") != "5" {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	})
	t.Run("closed bus", func(t *testing.T) {
		b, err := bus.Open(context.Background(), bus.Options{StoreDir: t.TempDir(), PublishTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		h, err := segment.New(segment.Options{Sources: []segment.Source{{Name: "web", WriteKeys: []string{webKey}}}, Publisher: b})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/t", strings.NewReader(`{"event":"E","userId":"u"}`))
		req.SetBasicAuth(webKey, "")
		h.ServeHTTP(rec, req)
		if rec.Code != 503 || rec.Header().Get("Retry-After") != "5" || !strings.Contains(rec.Body.String(), `"success":false`) {
			t.Fatalf("closed bus: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
	})
}

func TestWriteKeyNeverStored(t *testing.T) {
	e := newEnv(t, nil)
	reqs := []struct {
		path string
		body string
		hdr  map[string]string
	}{
		{"/v1/t", `{"event":"E","userId":"u","writeKey":"` + webKey + `","WriteKey":"` + webKey + `"}`, nil},
		{"/v1/b", `{"writeKey":"` + webKey + `","batch":[{"type":"track","event":"E","userId":"u","writeKey":"` + webKey + `"}]}`, nil},
		{"/v1/batch?writeKey=" + webKey, `{"batch":[{"type":"track","event":"E","userId":"u"}]}`, nil},
		{"/v1/batch", `{"batch":[{"type":"track","event":"E","userId":"u"}]}`, map[string]string{"X-Write-Key": webKey}},
		{"/v1/batch", `{"batch":[{"type":"track","event":"E","userId":"u"}]}`, map[string]string{"Authorization": basic(webKey + ":")}},
	}
	for _, rq := range reqs {
		wantStatus(t, e.do(http.MethodPost, rq.path, strings.NewReader(rq.body), rq.hdr), 200)
	}
	msgs, err := e.bus.Recent(context.Background(), "events.>", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(reqs) {
		t.Fatalf("stored %d", len(msgs))
	}
	for _, m := range msgs {
		if bytes.Contains(m.Data, []byte(webKey)) || bytes.Contains(bytes.ToLower(m.Data), []byte("writekey")) {
			t.Fatalf("write key stored: %s", m.Data)
		}
	}
}

func TestStoredEventShape(t *testing.T) {
	e := newEnv(t, nil)
	wantStatus(t, e.post("/v1/batch", `{"batch":[{"type":"track","event":"Order Completed","userId":"u","channel":"server","_metadata":{"jsRuntime":"node"},"receivedAt":"2000-01-01T00:00:00Z","source":"spoofed","properties":{"revenue":9.99},"version":2}]}`), 200)
	all := e.stored("web")
	ev := all[len(all)-1]
	if !strings.HasPrefix(ev.MessageID, "sb-") || len(ev.MessageID) != 39 {
		t.Fatalf("generated messageId %q", ev.MessageID)
	}
	if ev.Source != "web" || !ev.ReceivedAt.Equal(fixedNow) {
		t.Fatalf("source %q receivedAt %s", ev.Source, ev.ReceivedAt)
	}
	if ev.Extra["channel"] != "server" || ev.Extra["version"] != json.Number("2") || ev.Extra["_metadata"] == nil || len(ev.Extra) != 3 {
		t.Fatalf("extra %#v", ev.Extra)
	}
	if ev.Properties["revenue"] != json.Number("9.99") {
		t.Fatalf("properties %#v", ev.Properties)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	wantStatus(t, e.post("/v1/batch", `{"batch":[{"type":"track","event":"E","userId":"u"},{"type":"page","userId":"u"}]}`), 200)
	wantStatus(t, e.post("/v1/batch", `{"batch":[{"type":"track","userId":"u"}]}`), 400)
	wantStatus(t, e.do(http.MethodPost, "/v1/t", strings.NewReader(`{}`), nil), 401)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"switchboard_http_requests_total", map[string]string{"source": "web", "route": "batch", "code": "200"}, 1},
		{"switchboard_http_requests_total", map[string]string{"source": "web", "route": "batch", "code": "400"}, 1},
		{"switchboard_http_requests_total", map[string]string{"source": "", "route": "t", "code": "401"}, 1},
		{"switchboard_events_total", map[string]string{"source": "web", "type": "track", "outcome": "stored"}, 1},
		{"switchboard_events_total", map[string]string{"source": "web", "type": "page", "outcome": "stored"}, 1},
		{"switchboard_events_total", map[string]string{"source": "web", "type": "unknown", "outcome": "rejected"}, 1},
	}
	for _, c := range checks {
		if got := metricValue(t, e.reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	histograms := 0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "switchboard_http_request_duration_seconds", "switchboard_publish_duration_seconds":
			for _, m := range mf.GetMetric() {
				if m.GetHistogram().GetSampleCount() > 0 {
					histograms++
				}
			}
		}
	}
	if histograms < 2 {
		t.Fatalf("%d histograms observed", histograms)
	}
}

// metricValue is the value of the counter name with exactly labels in
// reg (0 if there is none).
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestNewRefusesBadOptions(t *testing.T) {
	pub := bustest.Open(t, bus.Options{})
	cases := map[string]segment.Options{
		"no publisher":     {Sources: []segment.Source{{Name: "web", WriteKeys: []string{"k"}}}},
		"dotted name":      {Publisher: pub, Sources: []segment.Source{{Name: "a.b", WriteKeys: []string{"k"}}}},
		"empty name":       {Publisher: pub, Sources: []segment.Source{{WriteKeys: []string{"k"}}}},
		"no keys":          {Publisher: pub, Sources: []segment.Source{{Name: "web"}}},
		"empty key":        {Publisher: pub, Sources: []segment.Source{{Name: "web", WriteKeys: []string{""}}}},
		"shared key":       {Publisher: pub, Sources: []segment.Source{{Name: "a", WriteKeys: []string{"secret-k"}}, {Name: "b", WriteKeys: []string{"secret-k"}}}},
		"same name twice":  {Publisher: pub, Sources: []segment.Source{{Name: "a", WriteKeys: []string{"k1"}}, {Name: "a", WriteKeys: []string{"k2"}}}},
		"negative rate":    {Publisher: pub, Sources: []segment.Source{{Name: "a", WriteKeys: []string{"k1"}, RateLimit: -1}}},
		"wildcard in name": {Publisher: pub, Sources: []segment.Source{{Name: "we*b", WriteKeys: []string{"k1"}}}},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := segment.New(o)
			if err == nil {
				t.Fatal("New accepted it")
			}
			if strings.Contains(err.Error(), "secret-k") {
				t.Fatalf("error reveals a key: %v", err)
			}
		})
	}
	// Two handlers on one registry share the collectors.
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := segment.New(segment.Options{Publisher: pub, Registerer: reg, Sources: []segment.Source{{Name: "a", WriteKeys: []string{"k"}}}}); err != nil {
			t.Fatalf("second handler on one registry: %v", err)
		}
	}
}
