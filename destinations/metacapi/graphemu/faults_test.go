package graphemu

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// ref §7: throttles and transient errors carry Graph's codes, subcodes and
// is_transient; the HTTP status is configurable.
func TestFaultErrors(t *testing.T) {
	cases := []struct {
		fault         Fault
		status        int
		code, subcode int
		transient     bool
	}{
		{Throttle(4), 400, 4, 0, true},
		{Throttle(17), 400, 17, SubcodeUserLimit, true},
		{Throttle(613), 400, 613, SubcodeAccountLimit, true},
		{Throttle(80004), 400, 80004, SubcodeUserLimit, true},
		{Transient(1), 500, 1, 0, true},
		{Transient(2), 500, 2, 0, true},
		{TokenExpired(), 400, 190, SubcodeTokenExpired, false},
		{Fault{Kind: FaultThrottle, Code: 17, Status: 429}, 429, 17, SubcodeUserLimit, true},
		{Fault{Kind: FaultError, Code: 368, Subcode: 1390008}, 400, 368, 1390008, false},
	}
	for _, c := range cases {
		t.Run(c.fault.describeFor(), func(t *testing.T) {
			emu, srv := newTestEmulator(t)
			if err := emu.Inject(c.fault); err != nil {
				t.Fatal(err)
			}
			r := postJSON(t, srv, pixelA, tokenA, []any{goodEvent("f")}, nil)
			wantError(t, r, c.status, c.code, c.subcode)
			if r.Err.IsTransient != c.transient {
				t.Errorf("is_transient = %v: %s", r.Err.IsTransient, r.Body)
			}
			// The fault was used up: the retry succeeds.
			wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{goodEvent("f")}, nil), 1)
			if n := len(emu.Received(pixelA)); n != 1 {
				t.Fatalf("%d events recorded", n)
			}
			if emu.Requests()[0].Fault == "" {
				t.Error("fault not recorded on the request")
			}
		})
	}
}

func (f Fault) describeFor() string {
	g := f
	_ = g.Normalize()
	return strings.ReplaceAll(g.describe(), "/", "-")
}

func TestFaultTimesAndPixel(t *testing.T) {
	emu, srv := newTestEmulator(t)
	if err := emu.Inject(Fault{Kind: FaultThrottle, Code: 613, Times: 2, Pixel: pixelB}); err != nil {
		t.Fatal(err)
	}
	// Pixel A is unaffected.
	wantOK(t, postJSON(t, srv, pixelA, tokenA, []any{goodEvent("1")}, nil), 1)
	proof := map[string]any{"appsecret_proof": vectorHex}
	wantError(t, postJSON(t, srv, pixelB, tokenB, []any{goodEvent("1")}, proof), 400, 613, SubcodeAccountLimit)
	wantError(t, postJSON(t, srv, pixelB, tokenB, []any{goodEvent("1")}, proof), 400, 613, SubcodeAccountLimit)
	wantOK(t, postJSON(t, srv, pixelB, tokenB, []any{goodEvent("1")}, proof), 1)
	if len(emu.Faults()) != 0 {
		t.Fatal("fault not consumed")
	}
}

func TestFaultRate(t *testing.T) {
	emu, srv := newTestEmulator(t)
	if err := emu.Inject(Fault{Kind: FaultTransient, Rate: 0.5}); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i := 0; i < 200; i++ {
		if r := postJSON(t, srv, pixelA, tokenA, []any{goodEvent("r")}, nil); r.Status != 200 {
			failed++
		}
	}
	if failed < 60 || failed > 140 {
		t.Fatalf("%d of 200 failed at rate 0.5", failed)
	}
	if len(emu.Faults()) != 1 {
		t.Fatal("a rate fault without Times stays")
	}
}

func TestFaultHTTP(t *testing.T) {
	emu, srv := newTestEmulator(t)
	emu.Inject(ServerError(502))
	r := postJSON(t, srv, pixelA, tokenA, []any{goodEvent("h")}, nil)
	if r.Status != 502 || r.Err != nil || json.Valid(r.Body) {
		t.Fatalf("status %d body %q", r.Status, r.Body)
	}
}

// A hang honours the client's timeout, processes nothing by default, and
// with Accept records the events although the client never hears back.
func TestFaultHang(t *testing.T) {
	emu, srv := newTestEmulator(t)
	client := &http.Client{Timeout: 150 * time.Millisecond}
	// patient waits long enough for a slow answer on a loaded machine.
	patient := &http.Client{Timeout: 30 * time.Second}
	sendWith := func(client *http.Client, id string) error {
		req, _ := http.NewRequest(http.MethodPost, eventsURL(srv, pixelA, tokenA), strings.NewReader(mustJSON(t, map[string]any{"data": []any{goodEvent(id)}})))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	send := func(id string) error { return sendWith(client, id) }
	emu.Inject(Hang(0))
	if err := send("h1"); err == nil {
		t.Fatal("hang answered")
	}
	checkFor(t, 2*time.Second, func() bool { return len(emu.Requests()) == 1 })
	if len(emu.Received(pixelA)) != 0 {
		t.Fatal("a plain hang must not accept events")
	}

	emu.Inject(Fault{Kind: FaultHang, Accept: true})
	if err := send("h2"); err == nil {
		t.Fatal("hang answered")
	}
	checkFor(t, 2*time.Second, func() bool { return len(emu.Received(pixelA)) == 1 })

	// A short hang is just a slow answer.
	emu.Inject(Hang(20 * time.Millisecond))
	if err := sendWith(patient, "h3"); err != nil {
		t.Fatal(err)
	}
	if len(emu.Received(pixelA)) != 2 {
		t.Fatal("slow answer lost its event")
	}
}

func TestHangReleasedByClose(t *testing.T) {
	emu, srv := newTestEmulator(t)
	emu.Inject(Hang(0))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, eventsURL(srv, pixelA, tokenA), strings.NewReader(`{"data":[]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	checkFor(t, 2*time.Second, func() bool { return len(emu.Faults()) == 0 })
	emu.Close()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Close did not release the hang")
	}
}

func TestInjectValidation(t *testing.T) {
	emu := New(Options{})
	bad := []Fault{
		{Kind: "nope"},
		{Kind: FaultThrottle, Code: 5},
		{Kind: FaultTransient, Code: 3},
		{Kind: FaultError},
		{Kind: FaultHTTP, Status: 700},
		{Kind: FaultHang, Delay: -1},
		{Kind: FaultThrottle, Rate: 2},
		{Kind: FaultThrottle, Times: -1},
	}
	for _, f := range bad {
		if err := emu.Inject(Throttle(4), f); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
	if len(emu.Faults()) != 0 {
		t.Fatal("a failed Inject queued faults")
	}
}

// Concurrent senders, faults and readers under -race: every accepted
// event is recorded exactly once.
func TestConcurrency(t *testing.T) {
	emu, srv := newTestEmulator(t)
	emu.Inject(Fault{Kind: FaultThrottle, Rate: 0.3})
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				id := string(rune('A'+g)) + "-" + string(rune('a'+i))
				r := postJSON(t, srv, pixelA, tokenA, []any{goodEvent(id), goodEvent(id + "x")}, nil)
				if r.Status == 200 {
					mu.Lock()
					accepted += r.OK.EventsReceived
					mu.Unlock()
				}
				_ = emu.Received(pixelA)
				_ = emu.Counts(pixelA)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			resp, err := http.Get(srv.URL + "/_emulator/events?pixel=" + pixelA)
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	wg.Wait()
	if got := len(emu.Received(pixelA)); got != accepted || len(emu.Requests()) != 120 {
		t.Fatalf("recorded %d events (answered %d) over %d requests", got, accepted, len(emu.Requests()))
	}
	if d := emu.Duplicates(pixelA); len(d) != 0 {
		t.Fatalf("duplicates: %v", d)
	}
}

func TestDurationJSON(t *testing.T) {
	var f Fault
	if err := json.Unmarshal([]byte(`{"kind":"hang","delay":"1.5s"}`), &f); err != nil || time.Duration(f.Delay) != 1500*time.Millisecond {
		t.Fatal(f.Delay, err)
	}
	if err := json.Unmarshal([]byte(`{"kind":"hang","delay":2}`), &f); err != nil || time.Duration(f.Delay) != 2*time.Second {
		t.Fatal(f.Delay, err)
	}
	if err := json.Unmarshal([]byte(`{"kind":"hang","delay":"soon"}`), &f); err == nil {
		t.Fatal("bad duration accepted")
	}
	b, _ := json.Marshal(Hang(time.Second))
	if !strings.Contains(string(b), `"delay":"1s"`) {
		t.Fatal(string(b))
	}
	var ge *Error
	if !errors.As(error(&Error{Code: 1}), &ge) {
		t.Fatal("Error is an error")
	}
}
