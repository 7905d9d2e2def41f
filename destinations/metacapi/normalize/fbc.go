package normalize

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ValidFBC reports whether s is a well-formed click ID:
// fb.<subdomainIndex>.<creationTimeMs>.<fbclid>, optionally followed by the
// parameter builder's appendix segment (4 or 5 dot-separated segments).
// A malformed fbc makes Meta reject the whole batch (error 100/2804001).
func ValidFBC(s string) bool { return validFB(s, false) }

// ValidFBP reports whether s is a well-formed browser ID:
// fb.<subdomainIndex>.<creationTimeMs>.<random digits>, optionally followed
// by an appendix segment.
func ValidFBP(s string) bool { return validFB(s, true) }

func validFB(s string, numericLast bool) bool {
	if len(s) > 1024 {
		return false
	}
	// Split at the dots, as strings.Split does, without allocating.
	var seg [5]string
	n, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		if n == len(seg) {
			return false
		}
		seg[n] = s[start:i]
		n, start = n+1, i+1
	}
	if n < 4 || seg[0] != "fb" || !allDigits(seg[1], 1, 2) || !allDigits(seg[2], 1, 19) {
		return false
	}
	if numericLast {
		if !allDigits(seg[3], 1, 32) {
			return false
		}
	} else if !token(seg[3]) {
		return false
	}
	return n == 4 || token(seg[4])
}

func allDigits(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// token reports whether s is a non-empty run of visible ASCII other than
// the separators that cannot appear in a cookie value.
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ',' || c == ';' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// FBCFromURL builds the click ID Meta asks servers to send when no _fbc
// cookie exists: fb.1.<eventTime in ms>.<fbclid>, with the fbclid query
// parameter of eventSourceURL taken verbatim (its case is significant). It
// returns "" when the URL carries no usable fbclid or eventTime is zero.
func FBCFromURL(eventSourceURL string, eventTime time.Time) string {
	if eventTime.IsZero() || !strings.Contains(eventSourceURL, "fbclid=") {
		return ""
	}
	s := strings.TrimSpace(eventSourceURL)
	fbclid, ok := plainFBCLID(s)
	if !ok {
		u, err := url.Parse(s)
		if err != nil {
			return ""
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil && len(q) == 0 {
			return ""
		}
		fbclid = strings.TrimSpace(q.Get("fbclid"))
	}
	if !token(fbclid) || strings.Contains(fbclid, ".") {
		return ""
	}
	var buf [96]byte
	b := append(buf[:0], "fb.1."...)
	b = strconv.AppendInt(b, eventTime.UnixMilli(), 10)
	b = append(append(b, '.'), fbclid...)
	return string(b)
}

// Speed: parsing the URL and its query with net/url cost a good part of
// an event's time and four allocations. Most page URLs are plain.

// plainFBCLID returns the first fbclid query parameter of s when s is an
// http or https URL of plain characters only (letters, digits and
// "-._~/?=&"): url.Parse accepts such a URL, and url.ParseQuery reads its
// query without unescaping anything, so the parameter is the text between
// "fbclid=" and the next '&'. ok is false for any other s, which net/url
// must read.
func plainFBCLID(s string) (fbclid string, ok bool) {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "http://"); !ok {
			return "", false
		}
	}
	params := 1
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '/' || c == '?' || c == '=':
		case c == '&':
			params++
		default:
			return "", false
		}
	}
	if params > maxQueryParams {
		return "", false // url.ParseQuery refuses the query
	}
	_, query, _ := strings.Cut(rest, "?")
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if key, value, _ := strings.Cut(pair, "="); key == "fbclid" {
			return value, true
		}
	}
	return "", true
}

// maxQueryParams is the most query parameters url.ParseQuery reads (its
// default; the urlmaxqueryparams GODEBUG setting changes it).
const maxQueryParams = 10000
