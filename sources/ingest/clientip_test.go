package ingest_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/switchboard-cdp/switchboard/sources/ingest"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"untrusted peer, header ignored", "203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5"},
		{"trusted peer, no header", "10.0.0.1:4000", nil, "10.0.0.1"},
		{"trusted peer, one hop", "10.0.0.1:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"spoofed left entries skipped", "10.0.0.1:4000", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"trusted hops skipped right to left", "10.0.0.1:4000", []string{"198.51.100.7, 10.2.2.2, 10.3.3.3"}, "198.51.100.7"},
		{"several header lines", "10.0.0.1:4000", []string{"6.6.6.6", "198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"garbage stops the walk", "10.0.0.1:4000", []string{"198.51.100.7, junk, 10.2.2.2"}, "10.2.2.2"},
		{"all trusted", "10.0.0.1:4000", []string{"10.5.5.5, 10.6.6.6"}, "10.5.5.5"},
		{"hop with a port", "10.0.0.1:4000", []string{"198.51.100.7:1234"}, "198.51.100.7"},
		{"ipv6 peer and hop", "[fd00::1]:4000", []string{"[2001:db8::7]:99"}, "2001:db8::7"},
		{"ipv4-mapped ipv6", "[::ffff:203.0.113.5]:1", nil, "203.0.113.5"},
		{"empty hops ignored", "10.0.0.1:4000", []string{" , 198.51.100.7 ,"}, "198.51.100.7"},
		{"unparsable peer", "pipe", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/t", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ingest.ClientIP(r, trusted); got != tc.want {
				t.Fatalf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCORSFunc(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/event", nil)
	if ingest.CORS(w, r) {
		t.Fatal("a POST is not a preflight")
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("no Origin, yet an allowed origin")
	}
	w = httptest.NewRecorder()
	r = httptest.NewRequest(http.MethodOptions, "/event", nil)
	r.Header.Set("Origin", "https://a.example")
	r.Header.Set("Access-Control-Request-Headers", "x-custom")
	if !ingest.CORS(w, r) || w.Code != http.StatusNoContent {
		t.Fatalf("preflight: %d", w.Code)
	}
	if w.Header().Get("Access-Control-Allow-Headers") != "x-custom" || w.Header().Get("Access-Control-Allow-Origin") != "https://a.example" {
		t.Fatalf("headers %v", w.Header())
	}
}
