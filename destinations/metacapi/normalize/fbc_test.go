package normalize

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FBCFromURL must build what it built when net/url read every URL:
// fbcFromURLRef is that version.

func fbcFromURLRef(eventSourceURL string, eventTime time.Time) string {
	if eventTime.IsZero() || !strings.Contains(eventSourceURL, "fbclid=") {
		return ""
	}
	u, err := url.Parse(strings.TrimSpace(eventSourceURL))
	if err != nil {
		return ""
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil && len(q) == 0 {
		return ""
	}
	fbclid := strings.TrimSpace(q.Get("fbclid"))
	if !token(fbclid) || strings.Contains(fbclid, ".") {
		return ""
	}
	return "fb.1." + strconv.FormatInt(eventTime.UnixMilli(), 10) + "." + fbclid
}

var fbcURLSeeds = []string{
	"https://shop.example.com/thanks?fbclid=IwAR1AbC", " http://x.example/?a=1&fbclid=Ab-C_d~e&fbclid=z ",
	"https://x.example/?fbclid=a.b", "https://x.example/?fbclid", "https://x.example/?fbclid=&fbclid=b",
	"https://x.example/fbclid=a?", "https://x.example/fbclid=a", "https://?fbclid=a", "http:///p?fbclid=a",
	"https://x.example/?fbclid=a?b=c", "https://x.example/?x=fbclid=a", "https://x.example/?fbclid==a",
	"HTTPS://x.example/?fbclid=a", "https://x.example:8080/?fbclid=a", "https://u@x.example/?fbclid=a",
	"https://x.example/?fbclid=a%2Db", "https://x.example/?fbclid=a+b", "https://x.example/?fbclid=a;b",
	"https://x.example/?fbclid=a#f", "https://x.example/#?fbclid=a", "https://[::1]/?fbclid=a",
	"https://x.example/?fb%63lid=a", "https://x.example/?q=%zz&fbclid=a", "https://x.exa mple/?fbclid=a",
	"ftp://x.example/?fbclid=a", "/p?fbclid=a", "https:/x.example?fbclid=a", "https://x.example/?fbclid=é",
}

func checkFBCFromURL(t *testing.T, s string, at time.Time) {
	t.Helper()
	if got, want := FBCFromURL(s, at), fbcFromURLRef(s, at); got != want {
		t.Fatalf("FBCFromURL(%q, %v) = %q; net/url %q", s, at, got, want)
	}
}

func TestFBCFromURLMatchesReference(t *testing.T) {
	at := time.UnixMilli(1554763741205)
	for _, s := range fbcURLSeeds {
		checkFBCFromURL(t, s, at)
	}
	// Up to url.ParseQuery's limit on parameters, and past it. (Too long
	// for the fuzzer's seeds.)
	for _, n := range []int{maxQueryParams - 1, maxQueryParams} {
		checkFBCFromURL(t, "https://x.example/?"+strings.Repeat("&", n)+"fbclid=a", at)
	}
	// The common page URL takes the fast path.
	if id, ok := plainFBCLID("https://shop.example.com/thanks?utm=x&fbclid=IwAR1AbC&b=1"); !ok || id != "IwAR1AbC" {
		t.Fatalf("plainFBCLID = %q, %v", id, ok)
	}
}

func FuzzFBCFromURL(f *testing.F) {
	for _, s := range fbcURLSeeds {
		f.Add(s, int64(1554763741205))
	}
	f.Fuzz(func(t *testing.T, s string, ms int64) {
		checkFBCFromURL(t, s, time.UnixMilli(ms))
		checkFBCFromURL(t, s, time.Time{})
	})
}
