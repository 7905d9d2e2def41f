package graphemu

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func call(t *testing.T, method, url, body string) (int, map[string]json.RawMessage) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]json.RawMessage
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func TestControlSurface(t *testing.T) {
	emu, srv := newTestEmulator(t)
	base := srv.URL + "/_emulator/"

	status, out := call(t, "POST", base+"faults", `[{"kind":"throttle","code":17},{"kind":"transient","code":2,"times":1}]`)
	if status != 200 || string(out["queued"]) != "2" {
		t.Fatalf("queue faults: %d %v", status, out)
	}
	if s, _ := call(t, "POST", base+"faults", `{"kind":"throttle","code":5}`); s != 400 {
		t.Fatalf("bad fault: %d", s)
	}
	if s, _ := call(t, "POST", base+"faults", `{"kind":"throttle","cod":17}`); s != 400 {
		t.Fatalf("unknown field: %d", s)
	}
	if s, out := call(t, "GET", base+"faults", ""); s != 200 || !strings.Contains(string(out["faults"]), `"code": 17`) {
		t.Fatalf("list faults: %d %v", s, out)
	}
	wantError(t, postJSON(t, srv, pixelA, tokenA, []any{goodEvent("c1")}, nil), 400, 17, SubcodeUserLimit)
	wantError(t, postJSON(t, srv, pixelA, tokenA, []any{goodEvent("c1")}, nil), 500, 2, 0)
	wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{goodEvent("c1")}, nil), 1)
	wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{goodEvent("c1")}, nil), 1)

	_, out = call(t, "GET", base+"events?pixel="+pixelA, "")
	var evs []Event
	if err := json.Unmarshal(out["events"], &evs); err != nil || len(evs) != 2 || evs[0].EventID != "c1" {
		t.Fatalf("events: %s %v", out["events"], err)
	}
	_, out = call(t, "GET", base+"duplicates?pixel="+pixelA, "")
	if !strings.Contains(string(out["duplicates"]), `"event_id": "c1"`) {
		t.Fatalf("duplicates: %s", out["duplicates"])
	}
	_, out = call(t, "GET", base+"requests", "")
	var reqs []Request
	if err := json.Unmarshal(out["requests"], &reqs); err != nil || len(reqs) != 4 || reqs[0].Fault == "" {
		t.Fatalf("requests: %v %v", len(reqs), err)
	}
	if s, _ := call(t, "GET", base+"duplicates", ""); s != 400 {
		t.Fatalf("duplicates without pixel: %d", s)
	}
	if s, _ := call(t, "POST", base+"events", ""); s != 405 {
		t.Fatalf("POST events: %d", s)
	}
	if s, _ := call(t, "GET", base+"nothing", ""); s != 404 {
		t.Fatalf("unknown: %d", s)
	}
	emu.Inject(Throttle(4))
	if s, _ := call(t, "DELETE", base+"faults", ""); s != 204 || len(emu.Faults()) != 0 {
		t.Fatalf("clear faults: %d", s)
	}
	if s, _ := call(t, "POST", base+"reset", ""); s != 204 {
		t.Fatalf("reset: %d", s)
	}
	if len(emu.Received("")) != 0 || len(emu.Requests()) != 0 {
		t.Fatal("reset kept records")
	}
	_, out = call(t, "GET", base+"events", "")
	if string(out["events"]) != "[]" {
		t.Fatalf("empty events: %s", out["events"])
	}
}
