package metacapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxResponseBytes bounds the part of a response read.
const maxResponseBytes = 1 << 20

// outcome is what one request to Meta came to.
type outcome struct {
	ok      bool // Meta accepted every event of the request
	invalid bool // code 100 (not 100/33): some event of the request is invalid
	config  bool // a configuration problem an operator must fix

	retryAfter time.Duration
	code       string // result code
	reason     string // result reason, scrubbed
	action     string // for config problems: the log message saying what to do

	graphCode, subcode int
	trace              string
}

// graphError is the Graph API error envelope's body (ref §7).
type graphError struct {
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode"`
	IsTransient bool   `json:"is_transient"`
	UserTitle   string `json:"error_user_title"`
	UserMsg     string `json:"error_user_msg"`
	TraceID     string `json:"fbtrace_id"`
}

// classify reads a response and classifies it by error.code and
// is_transient (ref §7); the HTTP status only decides when the body is not
// a Graph error.
func (c *config) classify(resp *http.Response) outcome {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return outcome{ok: true}
	}
	var env struct {
		Error *graphError `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		return c.classifyHTTP(resp)
	}
	g := env.Error
	o := outcome{graphCode: g.Code, subcode: g.Subcode, trace: g.TraceID}
	msg := g.Message
	if g.UserMsg != "" {
		msg = g.UserMsg
		if g.UserTitle != "" {
			msg = g.UserTitle + ": " + g.UserMsg
		}
	}
	label := "Meta error " + strconv.Itoa(g.Code)
	if g.Subcode != 0 {
		label += "/" + strconv.Itoa(g.Subcode)
	}
	o.reason = c.scrub(label + ": " + msg)

	switch code := g.Code; {
	case code == 1 || code == 2:
		o.code, o.retryAfter = CodeTransient, transientDelay
	case code == 4 || code == 17 || code == 32 || code == 341 || code == 613 || (code >= 80000 && code <= 80014):
		o.code, o.retryAfter = CodeThrottled, throttleDelay
	case code == 368:
		o.code, o.retryAfter = CodeBlocked, blockedDelay
	case code == 190 || code == 102:
		o.code, o.retryAfter, o.config = CodeTokenInvalid, configDelay, true
		o.action = "Meta refused the access token: generate a new one in Events Manager (Settings → Conversions API → Generate access token) and set settings.access_token; events are held and retried"
	case code == 3 || code == 10 || (code >= 200 && code <= 299):
		o.code, o.retryAfter, o.config = CodePermission, configDelay, true
		o.action = "Meta denied permission: the access token's app or system user lacks access to this pixel (grant it in Business Settings); events are held and retried"
	case code == 100 && g.Subcode == 33:
		o.code, o.retryAfter, o.config = CodeUnknownPixel, configDelay, true
		o.action = "Meta does not know this pixel or the token cannot see it: check settings.pixel_id and that the token belongs to the pixel's business; events are held and retried"
	case code == 100:
		o.invalid, o.code = true, CodeMetaInvalid
	case g.IsTransient || resp.StatusCode >= 500:
		o.code, o.retryAfter = CodeTransient, transientDelay
	default:
		o.code, o.retryAfter, o.config = CodeGraphError, configDelay, true
		o.action = "Meta answered with an error this destination does not know how to handle (check api_version and graph_url); events are held and retried"
	}
	if ra := retryAfterHeader(resp.Header.Get("Retry-After")); ra > o.retryAfter && !o.invalid {
		o.retryAfter = ra
	}
	return o
}

// classifyHTTP classifies a response whose body is not a Graph error.
func (c *config) classifyHTTP(resp *http.Response) outcome {
	o := outcome{reason: "HTTP " + strconv.Itoa(resp.StatusCode) + " without a Graph error body", code: CodeHTTPError}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		o.code, o.retryAfter = CodeThrottled, throttleDelay
	case s >= 500 || s == http.StatusRequestTimeout:
		o.retryAfter = transientDelay
	default:
		o.retryAfter, o.config = configDelay, true
		o.action = fmt.Sprintf("graph_url answered HTTP %d, not a Graph API response: check settings.graph_url and api_version; events are held and retried", s)
	}
	if ra := retryAfterHeader(resp.Header.Get("Retry-After")); ra > o.retryAfter {
		o.retryAfter = ra
	}
	return o
}

// retryAfterHeader reads a Retry-After header given in seconds, capped at
// an hour.
func retryAfterHeader(v string) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, time.Hour)
}

// writeString writes s as a JSON string.
func writeString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}
