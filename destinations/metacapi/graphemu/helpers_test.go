package graphemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	pixelA    = "1234567891234567"
	tokenA    = "tok-A-good"
	pixelB    = "2222222222222222"
	tokenB    = "EAAB_example_token"
	secretB   = "app_secret_example"
	vectorHex = "e1382c887ec2ca9e3be0caa9e1119037c9a808c4466cada48c02113d80d02146"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestEmulator(t *testing.T, mod ...func(*Options)) (*Emulator, *httptest.Server) {
	t.Helper()
	opts := Options{
		Pixels: map[string]Pixel{
			pixelA: {Tokens: []string{tokenA}},
			pixelB: {Tokens: []string{tokenB}, AppSecret: secretB},
		},
		Now:     func() time.Time { return testNow },
		TraceID: func() string { return "TESTTRACEID" },
		Seed:    1,
	}
	for _, m := range mod {
		m(&opts)
	}
	emu := New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { emu.Close(); srv.Close() })
	return emu, srv
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// goodEvent is a website Purchase that passes every rule.
func goodEvent(id string) map[string]any {
	return map[string]any{
		"event_name":       "Purchase",
		"event_time":       testNow.Add(-time.Minute).Unix(),
		"event_id":         id,
		"action_source":    "website",
		"event_source_url": "https://shop.example.com/thanks",
		"user_data": map[string]any{
			"em":                []string{sha("john_smith@gmail.com")},
			"client_user_agent": "Mozilla/5.0",
			"client_ip_address": "2001:db8::1",
			"fbp":               "fb.1.1596403881668.1116446470",
		},
		"custom_data": map[string]any{"value": 10.5, "currency": "USD"},
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type reply struct {
	Status int
	Body   []byte
	OK     Success
	Err    *Error
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Body: body}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &r.OK); err != nil {
			t.Fatalf("success body %s: %v", body, err)
		}
	} else {
		var env Envelope
		if json.Unmarshal(body, &env) == nil {
			r.Err = env.Error
		}
	}
	return r
}

func eventsURL(srv *httptest.Server, pixel, token string) string {
	u := srv.URL + "/v25.0/" + pixel + "/events"
	if token != "" {
		u += "?access_token=" + url.QueryEscape(token)
	}
	return u
}

// postJSON sends {"data": events, ...extra} as application/json (the Node
// SDK's form, ref §1).
func postJSON(t *testing.T, srv *httptest.Server, pixel, token string, events []any, extra map[string]any) reply {
	t.Helper()
	body := map[string]any{"data": events}
	for k, v := range extra {
		body[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, eventsURL(srv, pixel, token), strings.NewReader(mustJSON(t, body)))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func postForm(t *testing.T, srv *httptest.Server, pixel string, form url.Values) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, eventsURL(srv, pixel, ""), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

func postMultipart(t *testing.T, srv *httptest.Server, pixel string, fields map[string]string) reply {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, eventsURL(srv, pixel, ""), &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return do(t, req)
}

func wantError(t *testing.T, r reply, status, code, subcode int) {
	t.Helper()
	if r.Status != status || r.Err == nil || r.Err.Code != code || r.Err.Subcode != subcode {
		t.Fatalf("got status %d body %s; want status %d code %d subcode %d", r.Status, r.Body, status, code, subcode)
	}
	if r.Err.TraceID == "" || r.Err.Type == "" || r.Err.Message == "" {
		t.Fatalf("incomplete envelope: %s", r.Body)
	}
}

func wantOK(t *testing.T, r reply, n int) {
	t.Helper()
	if r.Status != http.StatusOK || r.OK.EventsReceived != n || r.OK.Messages == nil || r.OK.TraceID == "" {
		t.Fatalf("got status %d body %s; want 200 with events_received %d", r.Status, r.Body, n)
	}
}

// checkFor polls cond until it holds or the deadline passes.
func checkFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
