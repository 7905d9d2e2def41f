package graphemu

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGoldenEnvelopes pins the exact JSON of each response the emulator
// sends (ref §7). Run with -update to rewrite.
func TestGoldenEnvelopes(t *testing.T) {
	stale := goodEvent("g")
	stale["event_time"] = testNow.Add(-8 * 24 * time.Hour).Unix()
	thin := goodEvent("g")
	thin["action_source"] = "other"
	thin["user_data"] = map[string]any{"fn": sha("mary"), "ge": sha("f")}
	badFbc := goodEvent("g")
	badFbc["user_data"].(map[string]any)["fbc"] = "fb.1.1554763741205"
	noName := goodEvent("g")
	delete(noName, "event_name")

	cases := []struct {
		name  string
		fault *Fault
		send  func(t *testing.T, srvURL string) reply
	}{
		{"success", nil, nil},
		{"too_old_2804003", nil, jsonSender(pixelA, tokenA, stale)},
		{"customer_info_2804050", nil, jsonSender(pixelA, tokenA, thin)},
		{"click_id_2804001", nil, jsonSender(pixelA, tokenA, badFbc)},
		{"missing_event_name", nil, jsonSender(pixelA, tokenA, noName)},
		{"unknown_pixel_33", nil, jsonSender("999", tokenA, goodEvent("g"))},
		{"bad_token_190", nil, jsonSender(pixelA, "bad", goodEvent("g"))},
		{"no_token_104", nil, jsonSender(pixelA, "", goodEvent("g"))},
		{"appsecret_proof_missing", nil, jsonSender(pixelB, tokenB, goodEvent("g"))},
		{"too_many_events", nil, func(t *testing.T, u string) reply {
			evs := make([]any, 1001)
			for i := range evs {
				evs[i] = goodEvent("g")
			}
			return rawPost(t, u+"/v25.0/"+pixelA+"/events?access_token="+tokenA, map[string]any{"data": evs})
		}},
		{"throttle_17", &Fault{Kind: FaultThrottle, Code: 17}, nil},
		{"throttle_4", &Fault{Kind: FaultThrottle, Code: 4}, nil},
		{"throttle_613", &Fault{Kind: FaultThrottle, Code: 613}, nil},
		{"throttle_80004", &Fault{Kind: FaultThrottle, Code: 80004}, nil},
		{"transient_1", &Fault{Kind: FaultTransient, Code: 1}, nil},
		{"transient_2", &Fault{Kind: FaultTransient, Code: 2}, nil},
		{"token_expired_190_463", &Fault{Kind: FaultTokenExpired}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			emu, srv := newTestEmulator(t)
			if c.fault != nil {
				if err := emu.Inject(*c.fault); err != nil {
					t.Fatal(err)
				}
			}
			send := c.send
			if send == nil {
				send = jsonSender(pixelA, tokenA, goodEvent("g"))
			}
			r := send(t, srv.URL)
			var buf bytes.Buffer
			if err := json.Indent(&buf, r.Body, "", "  "); err != nil {
				t.Fatalf("not JSON: %s", r.Body)
			}
			got := []byte(strings.TrimSpace(buf.String()) + "\n" + "HTTP " + http.StatusText(r.Status) + "\n")
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s mismatch:\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

func jsonSender(pixel, token string, ev map[string]any) func(*testing.T, string) reply {
	return func(t *testing.T, u string) reply {
		target := u + "/v25.0/" + pixel + "/events"
		if token != "" {
			target += "?access_token=" + url.QueryEscape(token)
		}
		return rawPost(t, target, map[string]any{"data": []any{ev}})
	}
}

func rawPost(t *testing.T, target string, body any) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(mustJSON(t, body)))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}
