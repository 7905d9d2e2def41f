package ingest

import (
	"net/http"
	"strings"
)

// defaultAllowHeaders are allowed when a preflight names none: what
// analytics-next ≥ 1.84 (Authorization, X-Retry-Count), Jitsu-style clients
// (X-Write-Key), Tealium v3 clients (Authorization) and gzip senders use.
const defaultAllowHeaders = "Content-Type, Content-Encoding, Authorization, X-Retry-Count, X-Write-Key"

// CORS sets the cross-origin headers of a tracking API response and answers
// an OPTIONS request (a preflight) itself. Call it first on every request;
// when it returns true the response is written (204) and the handler must
// return.
//
// Browsers post from any site that embeds the tracking snippet, so the
// request's Origin is reflected (with Vary: Origin) and credentials are
// allowed (analytics.js lets the site choose fetch's credentials mode);
// nothing on these routes is authorised by cookies. A preflight is allowed
// GET, POST and OPTIONS and the headers it asks for (or, when it names
// none, defaultAllowHeaders), cached for a day. Retry-After and
// X-RateLimit-Reset are exposed to scripts so analytics.js can back off.
func CORS(w http.ResponseWriter, r *http.Request) (preflight bool) {
	SetCORS(w, r)
	if r.Method != http.MethodOptions {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	allow := defaultAllowHeaders
	if req := r.Header.Values("Access-Control-Request-Headers"); len(req) > 0 {
		if s := strings.TrimSpace(strings.Join(req, ", ")); s != "" {
			allow = s
		}
	}
	h.Set("Access-Control-Allow-Headers", allow)
	h.Set("Access-Control-Max-Age", "86400")
	h.Set("Allow", "GET, POST, OPTIONS")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// SetCORS sets the cross-origin headers every response carries (CORS
// calls it); call it alone on responses that CORS does not precede.
func SetCORS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Expose-Headers", "Retry-After, X-RateLimit-Reset")
}
