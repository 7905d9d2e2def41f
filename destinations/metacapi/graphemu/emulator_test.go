package graphemu

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// ref §1: all three body encodings, the token in the query or the body.
func TestEncodings(t *testing.T) {
	emu, srv := newTestEmulator(t)
	data := mustJSON(t, []any{goodEvent("e1")})

	t.Run("json body, token in query", func(t *testing.T) {
		wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{goodEvent("e1")}, nil), 1)
	})
	t.Run("json body, token in body, data as string", func(t *testing.T) {
		wantOK(t, postJSON(t, srv, pixelA, "", nil, map[string]any{"access_token": tokenA, "data": data}), 1)
	})
	t.Run("urlencoded", func(t *testing.T) {
		wantOK(t, postForm(t, srv, pixelA, url.Values{"access_token": {tokenA}, "data": {data}, "test_event_code": {"TEST123"}, "partner_agent": {"switchboard_1_0"}}), 1)
	})
	t.Run("multipart", func(t *testing.T) {
		wantOK(t, postMultipart(t, srv, pixelA, map[string]string{"access_token": tokenA, "data": data, "trace": "0"}), 1)
	})
	t.Run("query only", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, eventsURL(srv, pixelA, tokenA)+"&data="+url.QueryEscape(data), nil)
		wantOK(t, do(t, req), 1)
	})

	reqs := emu.Requests()
	want := []string{EncodingJSON, EncodingJSON, EncodingForm, EncodingMultipart, EncodingQuery}
	for i, r := range reqs {
		if r.Encoding != want[i] {
			t.Errorf("request %d encoding %q, want %q", i, r.Encoding, want[i])
		}
	}
	if got := reqs[2].Params; got["test_event_code"] != "TEST123" || got["partner_agent"] != "switchboard_1_0" {
		t.Errorf("params not recorded: %v", got)
	}
	if got := emu.Received(pixelA); len(got) != 5 || got[2].TestEventCode != "TEST123" {
		t.Errorf("received %d events, test code %q", len(got), got[2].TestEventCode)
	}
}

// ref §1: the appsecret_proof test vector, and the proof required and
// checked when the pixel's app has a secret.
func TestAppSecretProof(t *testing.T) {
	if got := AppSecretProof(secretB, tokenB); got != vectorHex {
		t.Fatalf("AppSecretProof = %s, want %s", got, vectorHex)
	}
	_, srv := newTestEmulator(t)
	ev := []any{goodEvent("p1")}
	wantOK(t, postJSON(t, srv, pixelB, tokenB, ev, map[string]any{"appsecret_proof": vectorHex}), 1)
	wantError(t, postJSON(t, srv, pixelB, tokenB, ev, nil), 400, 100, 0)
	r := postJSON(t, srv, pixelB, tokenB, ev, map[string]any{"appsecret_proof": strings.Repeat("0", 64)})
	wantError(t, r, 400, 100, 0)
	if r.Err.Type != TypeMethod || !strings.Contains(r.Err.Message, "appsecret_proof") {
		t.Errorf("bad proof reply: %s", r.Body)
	}
	// Uppercase hex is not the proof Graph computes (ref §1: lowercase hex).
	wantError(t, postJSON(t, srv, pixelB, tokenB, ev, map[string]any{"appsecret_proof": strings.ToUpper(vectorHex)}), 400, 100, 0)
	// The proof is also accepted as a form field.
	wantOK(t, postForm(t, srv, pixelB, url.Values{"access_token": {tokenB}, "appsecret_proof": {vectorHex}, "data": {mustJSON(t, ev)}}), 1)
}

// ref §7: token, object, method, version and path errors.
func TestAuthAndRouting(t *testing.T) {
	_, srv := newTestEmulator(t)
	ev := []any{goodEvent("a1")}
	cases := []struct {
		name          string
		url, method   string
		code, subcode int
		typ           string
	}{
		{"no token", eventsURL(srv, pixelA, ""), "POST", CodeNoToken, 0, TypeOAuth},
		{"bad token", eventsURL(srv, pixelA, "nope"), "POST", CodeToken, 0, TypeOAuth},
		{"unknown pixel", eventsURL(srv, "999", tokenA), "POST", 100, 33, TypeMethod},
		{"token of another pixel", eventsURL(srv, pixelB, tokenA), "POST", 100, 33, TypeMethod},
		{"GET", eventsURL(srv, pixelA, tokenA), "GET", 100, 33, TypeMethod},
		{"old version", srv.URL + "/v12.0/" + pixelA + "/events?access_token=" + tokenA, "POST", CodeDeprecatedVersion, 0, TypeOAuth},
		{"unknown path", srv.URL + "/v25.0/" + pixelA + "/nothing?access_token=" + tokenA, "POST", CodeUnknownPath, 0, TypeOAuth},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, c.url, strings.NewReader(mustJSON(t, map[string]any{"data": ev})))
			req.Header.Set("Content-Type", "application/json")
			r := do(t, req)
			wantError(t, r, 400, c.code, c.subcode)
			if r.Err.Type != c.typ || r.Err.IsTransient {
				t.Errorf("type %q transient %v: %s", r.Err.Type, r.Err.IsTransient, r.Body)
			}
		})
	}
}

// ref §2–§4: every per-event rule.
func TestEventRules(t *testing.T) {
	_, srv := newTestEmulator(t)
	day := 24 * time.Hour
	ud := func(ev map[string]any) map[string]any { return ev["user_data"].(map[string]any) }
	cases := []struct {
		name    string
		mod     func(ev map[string]any)
		code    int // 0: accepted
		subcode int
	}{
		{"valid", func(map[string]any) {}, 0, 0},
		{"missing event_name", func(ev map[string]any) { delete(ev, "event_name") }, 100, 0},
		{"empty event_name", func(ev map[string]any) { ev["event_name"] = "" }, 100, 0},
		{"custom event name", func(ev map[string]any) { ev["event_name"] = "MyThing"; delete(ev, "custom_data") }, 0, 0},
		{"missing event_time", func(ev map[string]any) { delete(ev, "event_time") }, 100, 0},
		{"event_time as digit string", func(ev map[string]any) { ev["event_time"] = "1772366340" }, 0, 0},
		{"event_time RFC 3339", func(ev map[string]any) { ev["event_time"] = "2026-03-01T11:59:00Z" }, 100, 0},
		{"event_time 6 days old", func(ev map[string]any) { ev["event_time"] = testNow.Add(-6 * day).Unix() }, 0, 0},
		{"event_time 8 days old", func(ev map[string]any) { ev["event_time"] = testNow.Add(-8 * day).Unix() }, 100, SubcodeTooOld},
		{"physical_store 60 days old", func(ev map[string]any) {
			ev["action_source"] = "physical_store"
			ev["event_time"] = testNow.Add(-60 * day).Unix()
		}, 0, 0},
		{"physical_store 63 days old", func(ev map[string]any) {
			ev["action_source"] = "physical_store"
			ev["event_time"] = testNow.Add(-63 * day).Unix()
		}, 100, SubcodeTooOld},
		{"future within tolerance", func(ev map[string]any) { ev["event_time"] = testNow.Add(4 * time.Minute).Unix() }, 0, 0},
		{"future beyond tolerance", func(ev map[string]any) { ev["event_time"] = testNow.Add(time.Hour).Unix() }, 100, 0},
		{"milliseconds", func(ev map[string]any) { ev["event_time"] = testNow.UnixMilli() }, 100, 0},
		{"missing action_source", func(ev map[string]any) { delete(ev, "action_source") }, 100, 0},
		{"unknown action_source", func(ev map[string]any) { ev["action_source"] = "web" }, 100, 0},
		{"uppercase action_source", func(ev map[string]any) { ev["action_source"] = "WEBSITE" }, 100, 0},
		{"website without url", func(ev map[string]any) { delete(ev, "event_source_url") }, 100, 0},
		{"website without user agent", func(ev map[string]any) { delete(ud(ev), "client_user_agent") }, 100, 0},
		{"email without url or ua", func(ev map[string]any) {
			ev["action_source"] = "email"
			delete(ev, "event_source_url")
			delete(ud(ev), "client_user_agent")
		}, 0, 0},
		{"numeric event_id", func(ev map[string]any) { ev["event_id"] = 12345 }, 0, 0},
		{"object event_id", func(ev map[string]any) { ev["event_id"] = map[string]any{} }, 100, 0},
		{"no user_data", func(ev map[string]any) { delete(ev, "user_data") }, 100, 0},
		{"user_data not an object", func(ev map[string]any) { ev["user_data"] = "x" }, 100, 0},
		{"empty user_data (non-web)", func(ev map[string]any) { ev["action_source"] = "system_generated"; ev["user_data"] = map[string]any{} }, 100, SubcodeCustomerInfo},
		{"only empty values", func(ev map[string]any) {
			ev["action_source"] = "chat"
			ev["user_data"] = map[string]any{"em": []any{}, "ge": []any{nil}, "ph": ""}
		}, 100, SubcodeCustomerInfo},
		{"only ua (website)", func(ev map[string]any) {
			ev["user_data"] = map[string]any{"client_user_agent": "UA"}
		}, 100, SubcodeCustomerInfo},
		{"location + ua only", func(ev map[string]any) {
			ev["user_data"] = map[string]any{"client_user_agent": "UA", "ct": sha("newyork"), "st": sha("ny"), "zp": sha("10001"), "country": sha("us"), "ge": sha("f")}
		}, 100, SubcodeCustomerInfo},
		{"db + ua only", func(ev map[string]any) {
			ev["user_data"] = map[string]any{"client_user_agent": "UA", "db": sha("19970216")}
		}, 100, SubcodeCustomerInfo},
		{"fn + ge only", func(ev map[string]any) {
			ev["action_source"] = "phone_call"
			ev["user_data"] = map[string]any{"fn": sha("mary"), "ge": sha("f")}
		}, 100, SubcodeCustomerInfo},
		{"ln only", func(ev map[string]any) {
			ev["action_source"] = "other"
			ev["user_data"] = map[string]any{"ln": sha("smith")}
		}, 100, SubcodeCustomerInfo},
		{"fn + ln is enough", func(ev map[string]any) {
			ev["action_source"] = "other"
			ev["user_data"] = map[string]any{"fn": sha("mary"), "ln": sha("smith")}
		}, 0, 0},
		{"ua + ip is enough", func(ev map[string]any) {
			ev["user_data"] = map[string]any{"client_user_agent": "UA", "client_ip_address": "203.0.113.9"}
		}, 0, 0},
		{"raw external_id alone", func(ev map[string]any) {
			ev["action_source"] = "system_generated"
			ev["user_data"] = map[string]any{"external_id": "User-123"}
		}, 0, 0},
		{"external_id list", func(ev map[string]any) { ud(ev)["external_id"] = []string{"a", sha("b")} }, 0, 0},
		{"unhashed email", func(ev map[string]any) { ud(ev)["em"] = "john@example.com" }, 100, 0},
		{"unhashed phone in a list", func(ev map[string]any) { ud(ev)["ph"] = []string{sha("16505551212"), "+1 650 555 1212"} }, 100, 0},
		{"uppercase sha256", func(ev map[string]any) { ud(ev)["em"] = strings.ToUpper(sha("x")) }, 100, 0},
		{"md5 email", func(ev map[string]any) { ud(ev)["em"] = "2a6a84e9e44441afbd75cc19ce28be37" }, 100, 0},
		{"hashed key as number", func(ev map[string]any) { ud(ev)["zp"] = map[string]any{"a": 1} }, 100, 0},
		{"ge null entry (Node SDK)", func(ev map[string]any) { ud(ev)["ge"] = []any{nil} }, 0, 0},
		{"fbc 4 segments", func(ev map[string]any) { ud(ev)["fbc"] = "fb.1.1554763741205.AbCdEf" }, 0, 0},
		{"fbc 5 segments", func(ev map[string]any) { ud(ev)["fbc"] = "fb.1.1795644065451.IwAR123.AQQCAQMC" }, 0, 0},
		{"fbc without fbclid", func(ev map[string]any) { ud(ev)["fbc"] = "fb.1.1554763741205" }, 100, SubcodeClickID},
		{"fbc wrong prefix", func(ev map[string]any) { ud(ev)["fbc"] = "xx.1.1554763741205.abc" }, 100, SubcodeClickID},
		{"fbp malformed is a diagnostic", func(ev map[string]any) { ud(ev)["fbp"] = "garbage" }, 0, 0},
		{"bad ip", func(ev map[string]any) { ud(ev)["client_ip_address"] = "300.1.1.1" }, 100, 0},
		{"ip with space", func(ev map[string]any) { ud(ev)["client_ip_address"] = " 203.0.113.9" }, 100, 0},
		{"Purchase without value", func(ev map[string]any) { delete(ev["custom_data"].(map[string]any), "value") }, 100, 0},
		{"Purchase without currency", func(ev map[string]any) { delete(ev["custom_data"].(map[string]any), "currency") }, 100, 0},
		{"Purchase value as string", func(ev map[string]any) { ev["custom_data"].(map[string]any)["value"] = "123.45" }, 0, 0},
		{"Purchase without custom_data", func(ev map[string]any) { delete(ev, "custom_data") }, 100, 0},
		{"app without app_data", func(ev map[string]any) { ev["action_source"] = "app" }, 100, 0},
		{"app with short extinfo", func(ev map[string]any) {
			ev["action_source"] = "app"
			ev["app_data"] = map[string]any{"extinfo": []string{"a2"}}
		}, 100, 0},
		{"app with full extinfo", func(ev map[string]any) {
			ev["action_source"] = "app"
			ev["app_data"] = map[string]any{"extinfo": make([]string, 16)}
		}, 0, 0},
		{"LDU without country", func(ev map[string]any) { ev["data_processing_options"] = []string{"LDU"} }, 100, 0},
		{"LDU geolocated", func(ev map[string]any) {
			ev["data_processing_options"] = []string{"LDU"}
			ev["data_processing_options_country"] = 0
			ev["data_processing_options_state"] = 0
		}, 0, 0},
		{"LDU country without state", func(ev map[string]any) {
			ev["data_processing_options"] = []string{"LDU"}
			ev["data_processing_options_country"] = 1
		}, 100, 0},
		{"explicit no LDU", func(ev map[string]any) { ev["data_processing_options"] = []string{} }, 0, 0},
		{"bad customer_segmentation", func(ev map[string]any) { ev["custom_data"].(map[string]any)["customer_segmentation"] = "vip" }, 100, 0},
		{"event not an object", nil, 100, 0},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev any = "not an object"
			if c.mod != nil {
				m := goodEvent("rule-" + string(rune('a'+i%26)))
				c.mod(m)
				ev = m
			}
			r := postJSON(t, srv, pixelA, tokenA, []any{ev}, nil)
			if c.code == 0 {
				wantOK(t, r, 1)
				return
			}
			wantError(t, r, 400, c.code, c.subcode)
			if r.Err.Type != TypeOAuth || r.Err.IsTransient {
				t.Errorf("want OAuthException, not transient: %s", r.Body)
			}
		})
	}
}

func TestFutureToleranceOption(t *testing.T) {
	_, strict := newTestEmulator(t, func(o *Options) { o.FutureTolerance = -1 })
	ev := goodEvent("f1")
	ev["event_time"] = testNow.Add(2 * time.Second).Unix()
	wantError(t, postJSON(t, strict, pixelA, tokenA, []any{ev}, nil), 400, 100, 0)
	ev["event_time"] = testNow.Unix()
	wantOK(t, postJSON(t, strict, pixelA, tokenA, []any{ev}, nil), 1)

	_, loose := newTestEmulator(t, func(o *Options) { o.FutureTolerance = 2 * time.Hour })
	ev["event_time"] = testNow.Add(time.Hour).Unix()
	wantOK(t, postJSON(t, loose, pixelA, tokenA, []any{ev}, nil), 1)
}

func TestAllowUnhashed(t *testing.T) {
	emu, srv := newTestEmulator(t, func(o *Options) { o.AllowUnhashed = true })
	ev := goodEvent("u1")
	ev["user_data"].(map[string]any)["em"] = "john@example.com"
	wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{ev}, nil), 1)
	if d := emu.Requests()[0].Diagnostics; len(d) != 1 || !strings.Contains(d[0], "user_data.em") {
		t.Errorf("diagnostics = %v", d)
	}
	// Unhashed values do not count as customer information.
	ev["action_source"] = "other"
	ev["user_data"] = map[string]any{"em": "john@example.com"}
	wantError(t, postJSON(t, srv, pixelA, tokenA, []any{ev}, nil), 400, 100, SubcodeCustomerInfo)
}

// ref §2: one bad event fails the whole batch; nothing is recorded.
func TestWholeBatchFails(t *testing.T) {
	emu, srv := newTestEmulator(t)
	stale := goodEvent("old")
	stale["event_time"] = testNow.Add(-8 * 24 * time.Hour).Unix()
	noUA := goodEvent("noua")
	delete(noUA["user_data"].(map[string]any), "client_user_agent")
	batch := []any{goodEvent("g1"), goodEvent("g2"), stale, goodEvent("g3"), noUA}
	r := postJSON(t, srv, pixelA, tokenA, batch, nil)
	wantError(t, r, 400, 100, SubcodeTooOld)
	if r.Err.UserTitle != "Event Timestamp Too Old" {
		t.Errorf("title %q", r.Err.UserTitle)
	}
	if got := emu.Received(pixelA); len(got) != 0 {
		t.Fatalf("%d events recorded from a failed batch", len(got))
	}
	req := emu.Requests()[0]
	if req.EventCount != 5 || req.EventsAccepted != 0 || len(req.Problems) != 2 || req.Problems[0].Index != 2 || req.Problems[1].Index != 4 {
		t.Errorf("recorded request: %+v", req)
	}
}

// ref §2: at most 1,000 events; data required and an array.
func TestDataLimits(t *testing.T) {
	emu, srv := newTestEmulator(t)
	batch := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = goodEvent("b" + strings.Repeat("x", i%7) + string(rune('0'+i%10)) + "-" + time.Duration(i).String())
		}
		return out
	}
	wantOK(t, postJSON(t, srv, pixelA, tokenA, batch(1000), nil), 1000)
	wantError(t, postJSON(t, srv, pixelA, tokenA, batch(1001), nil), 400, 100, 0)
	wantError(t, postJSON(t, srv, pixelA, tokenA, []any{}, nil), 400, 100, 0)
	wantError(t, postJSON(t, srv, pixelA, tokenA, nil, map[string]any{"data": map[string]any{"a": 1}}), 400, 100, 0)
	wantError(t, postForm(t, srv, pixelA, url.Values{"access_token": {tokenA}, "data": {"{not json"}}), 400, 100, 0)
	wantError(t, postForm(t, srv, pixelA, url.Values{"access_token": {tokenA}}), 400, 100, 0)
	if got := len(emu.Received(pixelA)); got != 1000 {
		t.Fatalf("recorded %d events, want 1000", got)
	}
}

// ref §6: the dedupe view.
func TestDuplicatesView(t *testing.T) {
	emu, srv := newTestEmulator(t)
	wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{goodEvent("o1"), goodEvent("o2")}, nil), 2)
	if d := emu.Duplicates(pixelA); len(d) != 0 {
		t.Fatalf("duplicates before any repeat: %v", d)
	}
	noID := goodEvent("")
	delete(noID, "event_id")
	wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{goodEvent("o1"), noID, noID}, nil), 3)
	// Same event_id under another name is another key (ref §6).
	other := goodEvent("o2")
	other["event_name"] = "AddToCart"
	delete(other, "custom_data")
	wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{other}, nil), 1)

	if d := emu.Duplicates(pixelA); len(d) != 1 || d[0] != (Key{"Purchase", "o1"}) {
		t.Fatalf("duplicates = %v", d)
	}
	c := emu.Counts(pixelA)
	if c[Key{"Purchase", "o1"}] != 2 || c[Key{"Purchase", "o2"}] != 1 || c[Key{"AddToCart", "o2"}] != 1 || len(c) != 3 {
		t.Fatalf("counts = %v", c)
	}
	evs := emu.Received(pixelA)
	if !evs[2].Duplicate || evs[0].Duplicate || evs[2].RequestID != 2 || evs[2].Index != 0 {
		t.Fatalf("events = %+v", evs)
	}
	var raw map[string]any
	if err := json.Unmarshal(evs[0].Raw, &raw); err != nil || raw["event_id"] != "o1" {
		t.Fatalf("raw = %s", evs[0].Raw)
	}
	if len(emu.Received(pixelB)) != 0 {
		t.Fatal("events leaked to another pixel")
	}
}

// The dedupe flag follows Meta's 48-hour window (ref §6).
func TestDuplicateWindow(t *testing.T) {
	var mu sync.Mutex
	now := testNow
	emu, srv := newTestEmulator(t, func(o *Options) {
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{goodEvent("w1")}, nil), 1)
	mu.Lock()
	now = now.Add(49 * time.Hour)
	mu.Unlock()
	ev := goodEvent("w1")
	ev["event_time"] = now.Unix()
	wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{ev}, nil), 1)
	if d := emu.Duplicates(pixelA); len(d) != 0 {
		t.Fatalf("a repeat after 48h is not a duplicate to Meta: %v", d)
	}
	if emu.Counts(pixelA)[Key{"Purchase", "w1"}] != 2 {
		t.Fatal("counts should still show both")
	}
}

// Secrets never reach records, the control surface or the log.
func TestSecretsNotRecorded(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	emu, srv := newTestEmulator(t, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	postJSON(t, srv, pixelB, tokenB, []any{goodEvent("s1")}, map[string]any{"appsecret_proof": vectorHex})
	postJSON(t, srv, pixelA, "wrong-token-value", []any{goodEvent("s2")}, nil)
	postForm(t, srv, pixelA, url.Values{"access_token": {tokenA}, "data": {"[]"}})
	resp, err := http.Get(srv.URL + "/_emulator/requests")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	recs, _ := json.Marshal(emu.Requests())
	mu.Lock()
	defer mu.Unlock()
	for _, secret := range []string{tokenA, tokenB, secretB, vectorHex, "wrong-token-value"} {
		for name, s := range map[string]string{"records": string(recs), "control": body.String(), "log": logs.String()} {
			if strings.Contains(s, secret) {
				t.Errorf("%s contains secret %q", name, secret)
			}
		}
	}
	if logs.Len() == 0 {
		t.Error("nothing logged")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestTraceIDsDefault(t *testing.T) {
	emu := New(Options{})
	a, b := emu.opts.TraceID(), emu.opts.TraceID()
	if len(a) != 23 || a == b {
		t.Fatalf("trace ids %q %q", a, b)
	}
}

func TestVersions(t *testing.T) {
	emu, srv := newTestEmulator(t, func(o *Options) { o.Versions = []string{"v9.0", "v24.0", "v10.0"} })
	if emu.latest != "v24.0" {
		t.Fatalf("latest = %s", emu.latest)
	}
	r := postJSON(t, srv, pixelA, tokenA, []any{goodEvent("v")}, nil) // v25.0 not served
	wantError(t, r, 400, CodeDeprecatedVersion, 0)
	if !strings.Contains(r.Err.Message, "v24.0") {
		t.Errorf("message %q", r.Err.Message)
	}
}
