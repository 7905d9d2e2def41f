package graphemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// FaultKind says what an injected Fault does.
type FaultKind string

// Fault kinds. Throttle, Transient and TokenExpired are Error faults with
// the details Graph sends filled in (ref §7); Code picks among them.
const (
	// FaultError answers with any Graph error envelope (Code, Subcode, …).
	FaultError FaultKind = "error"
	// FaultThrottle answers with a rate-limit error: Code 4, 17 (default),
	// 613 or 80004 (ref §2, §7).
	FaultThrottle FaultKind = "throttle"
	// FaultTransient answers with code 2 (default) or 1, Meta's temporary
	// downtime errors (ref §7).
	FaultTransient FaultKind = "transient"
	// FaultTokenExpired answers 190/463, an expired session (ref §7).
	FaultTokenExpired FaultKind = "token_expired"
	// FaultHTTP answers with a bare HTTP status (default 503) and a
	// non-JSON body, as a failing front end does.
	FaultHTTP FaultKind = "http"
	// FaultHang holds the request for Delay (zero: until the client gives
	// up or the Emulator is closed), honouring the request's context.
	FaultHang FaultKind = "hang"
)

// Fault is an injected failure. A fault applies to the next Times matching
// requests (default 1), or, when Rate is set, to that fraction of matching
// requests (Times then caps how many; zero means no cap). Faults are tried
// in the order they were injected; the first that fires answers the
// request, before any token or parameter check.
type Fault struct {
	Kind FaultKind `json:"kind"`
	// Code, Subcode, Message, Type and Transient shape the error envelope;
	// unset fields take Graph's values for Kind and Code.
	Code      int    `json:"code,omitempty"`
	Subcode   int    `json:"error_subcode,omitempty"`
	Message   string `json:"message,omitempty"`
	Type      string `json:"type,omitempty"`
	Transient *bool  `json:"is_transient,omitempty"`
	// Status is the HTTP status; its default depends on Kind (see
	// Normalize). The reference does not document the HTTP status of
	// throttles and downtime errors; only error.code is reliable (ref §7).
	Status int `json:"status,omitempty"`
	// Delay is how long a hang lasts.
	Delay Duration `json:"delay,omitempty"`
	// Accept makes a hang process and record the request first, so the
	// events reach "Meta" although the client never sees the answer: the
	// case that makes retries without a stable event_id double-count
	// (ref §6).
	Accept bool `json:"accept,omitempty"`
	// Times, Rate and Pixel select the requests the fault applies to.
	Times int     `json:"times,omitempty"`
	Rate  float64 `json:"rate,omitempty"`
	Pixel string  `json:"pixel,omitempty"`

	fired int
}

// Throttle returns a throttling fault with the given code: 4, 17, 613 or
// 80004 (ref §7).
func Throttle(code int) Fault { return Fault{Kind: FaultThrottle, Code: code} }

// Transient returns a temporary-downtime fault, code 1 or 2 (ref §7).
func Transient(code int) Fault { return Fault{Kind: FaultTransient, Code: code} }

// TokenExpired returns a 190/463 fault (ref §7).
func TokenExpired() Fault { return Fault{Kind: FaultTokenExpired} }

// ServerError returns a bare HTTP status fault such as 500, 502 or 503.
func ServerError(status int) Fault { return Fault{Kind: FaultHTTP, Status: status} }

// Hang returns a fault that holds the request for d (zero: until the client
// gives up).
func Hang(d time.Duration) Fault { return Fault{Kind: FaultHang, Delay: Duration(d)} }

// Normalize fills the defaults for the fault's Kind and checks it.
func (f *Fault) Normalize() error {
	t, tr := true, false
	transient := &t
	switch f.Kind {
	case FaultThrottle:
		if f.Code == 0 {
			f.Code = CodeUserThrottle
		}
		msg, sub := "", 0
		switch f.Code {
		case CodeAppThrottle:
			msg = "(#4) Application request limit reached"
		case CodeUserThrottle:
			msg, sub = "(#17) User request limit reached", SubcodeUserLimit
		case CodeAccountThrottle:
			msg, sub = "(#613) Calls to this api have exceeded the rate limit.", SubcodeAccountLimit
		case CodeBUCThrottle:
			msg, sub = "(#80004) There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.", SubcodeUserLimit
		default:
			if f.Code < 80000 || f.Code > 80014 {
				return fmt.Errorf("graphemu: throttle code %d: want 4, 17, 613 or 80000-80014", f.Code)
			}
			msg = fmt.Sprintf("(#%d) There have been too many calls. Wait a bit and try again.", f.Code)
		}
		f.defaults(msg, sub, TypeOAuth, http.StatusBadRequest, transient)
	case FaultTransient:
		if f.Code == 0 {
			f.Code = CodeService
		}
		switch f.Code {
		case CodeUnknown:
			f.defaults("An unknown error occurred", 0, TypeOAuth, http.StatusInternalServerError, transient)
		case CodeService:
			f.defaults("An unexpected error has occurred. Please retry your request later.", 0, TypeOAuth, http.StatusInternalServerError, transient)
		default:
			return fmt.Errorf("graphemu: transient code %d: want 1 or 2", f.Code)
		}
	case FaultTokenExpired:
		f.Code = CodeToken
		f.defaults("Error validating access token: Session has expired.", SubcodeTokenExpired, TypeOAuth, http.StatusBadRequest, &tr)
	case FaultError:
		if f.Code == 0 {
			return fmt.Errorf("graphemu: error fault needs a code")
		}
		f.defaults(fmt.Sprintf("(#%d) Injected error", f.Code), 0, TypeOAuth, http.StatusBadRequest, &tr)
	case FaultHTTP:
		if f.Status == 0 {
			f.Status = http.StatusServiceUnavailable
		}
		if f.Status < 100 || f.Status > 599 {
			return fmt.Errorf("graphemu: http fault status %d out of range", f.Status)
		}
	case FaultHang:
		if f.Delay < 0 {
			return fmt.Errorf("graphemu: hang delay %s is negative", time.Duration(f.Delay))
		}
	default:
		return fmt.Errorf("graphemu: unknown fault kind %q", f.Kind)
	}
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("graphemu: fault rate %v: want 0 to 1", f.Rate)
	}
	if f.Times < 0 {
		return fmt.Errorf("graphemu: fault times %d is negative", f.Times)
	}
	if f.Times == 0 && f.Rate == 0 {
		f.Times = 1
	}
	return nil
}

func (f *Fault) defaults(msg string, sub int, typ string, status int, transient *bool) {
	if f.Message == "" {
		f.Message = msg
	}
	if f.Subcode == 0 {
		f.Subcode = sub
	}
	if f.Type == "" {
		f.Type = typ
	}
	if f.Status == 0 {
		f.Status = status
	}
	if f.Transient == nil {
		f.Transient = transient
	}
}

func (f *Fault) describe() string {
	switch f.Kind {
	case FaultHTTP:
		return fmt.Sprintf("http %d", f.Status)
	case FaultHang:
		return fmt.Sprintf("hang %s", time.Duration(f.Delay))
	}
	if f.Subcode != 0 {
		return fmt.Sprintf("%s %d/%d", f.Kind, f.Code, f.Subcode)
	}
	return fmt.Sprintf("%s %d", f.Kind, f.Code)
}

func (f *Fault) graphError() *Error {
	return &Error{Message: f.Message, Type: f.Type, Code: f.Code, Subcode: f.Subcode,
		IsTransient: f.Transient != nil && *f.Transient, Status: f.Status}
}

// Inject queues faults. It fails, injecting none, if any is invalid.
func (e *Emulator) Inject(faults ...Fault) error {
	list := make([]*Fault, 0, len(faults))
	for _, f := range faults {
		if err := f.Normalize(); err != nil {
			return err
		}
		list = append(list, &f)
	}
	e.mu.Lock()
	e.faults = append(e.faults, list...)
	e.mu.Unlock()
	return nil
}

// ClearFaults drops every pending fault.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	e.faults = nil
	e.mu.Unlock()
}

// Faults returns the pending faults.
func (e *Emulator) Faults() []Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Fault, len(e.faults))
	for i, f := range e.faults {
		out[i] = *f
	}
	return out
}

// nextFault picks the fault for a request to pixel, consuming one use.
func (e *Emulator) nextFault(pixel string) *Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, f := range e.faults {
		if f.Pixel != "" && f.Pixel != pixel {
			continue
		}
		if f.Rate > 0 && e.rng.Float64() >= f.Rate {
			continue
		}
		f.fired++
		if f.Times > 0 && f.fired >= f.Times {
			e.faults = append(e.faults[:i:i], e.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

func (e *Emulator) applyFault(w http.ResponseWriter, r *http.Request, req *Request, f *Fault, trace string) {
	switch f.Kind {
	case FaultHTTP:
		e.finish(w, r, req, response{status: f.Status, body: []byte(http.StatusText(f.Status) + "\n"), raw: true}, nil)
	case FaultHang:
		// Read the body first: net/http notices a client that went away
		// (and cancels r.Context) only once the body is consumed.
		body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, e.opts.MaxBodyBytes))
		if err != nil {
			e.finish(w, r, req, e.errorResponse(bodyError(err), trace), nil)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if f.Accept {
			resp, accepted := e.handle(r, req, trace)
			e.record(req, resp, accepted)
			if e.wait(r.Context(), time.Duration(f.Delay)) {
				e.write(w, trace, resp)
			}
			return
		}
		if !e.wait(r.Context(), time.Duration(f.Delay)) {
			// The client gave up: nothing was processed, nothing answered.
			e.record(req, response{}, nil)
			return
		}
		resp, accepted := e.handle(r, req, trace)
		e.finish(w, r, req, resp, accepted)
	default:
		e.finish(w, r, req, e.errorResponse(f.graphError(), trace), nil)
	}
}

// Duration is a time.Duration that reads from JSON as "1.5s" or as a
// number of seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1.5s" or 1.5 (seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("graphemu: duration must be a string like \"2s\" or a number of seconds")
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}
