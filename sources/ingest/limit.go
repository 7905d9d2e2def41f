package ingest

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is one source's rate limit, a token bucket. A nil *Limiter
// allows everything.
type Limiter struct{ l *rate.Limiter }

// NewLimiter returns the limit of perSecond sustained requests with a
// bucket of burst (0: ceil(perSecond)); perSecond 0 means unlimited and
// gives nil. Negative, NaN or infinite values are an error.
func NewLimiter(perSecond float64, burst int) (*Limiter, error) {
	if perSecond < 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) || burst < 0 {
		return nil, errors.New("rate limit must be a finite number ≥ 0 and burst ≥ 0")
	}
	if perSecond == 0 {
		return nil, nil
	}
	if burst == 0 {
		burst = int(math.Ceil(perSecond))
	}
	return &Limiter{rate.NewLimiter(rate.Limit(perSecond), burst)}, nil
}

// Allow takes a token at now, if the limit has one.
func (l *Limiter) Allow(now time.Time) bool {
	return l == nil || l.l.AllowN(now, 1)
}

// TooManyRequests answers 429 with the seconds until a token of l is back
// (at least 1, at most 3600), in both Retry-After and X-RateLimit-Reset
// (analytics.js before 1.84 reads only the latter). It returns 429.
func TooManyRequests(w http.ResponseWriter, l *Limiter, now time.Time) int {
	wait := 1.0
	if l != nil {
		if lim := float64(l.l.Limit()); lim > 0 {
			if s := math.Ceil((1 - l.l.TokensAt(now)) / lim); s > wait {
				wait = s
			}
		}
	}
	secs := strconv.FormatInt(int64(math.Min(wait, 3600)), 10)
	w.Header().Set("Retry-After", secs)
	w.Header().Set("X-RateLimit-Reset", secs)
	return WriteError(w, &Error{Status: http.StatusTooManyRequests, Msg: "rate limit exceeded; retry after " + secs + "s"})
}
