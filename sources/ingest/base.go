package ingest

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Base is what every source's Handler holds besides its sources: the
// store its events go to, the request metrics, its logger, clock, the
// proxies it trusts and its limits. Build it with Open.
type Base struct {
	Store   Store
	Metrics *Metrics
	Log     *slog.Logger
	Now     func() time.Time
	Trusted []netip.Prefix
	Limits  Limits
	// Gate bounds the requests decoded and stored at once, shared by
	// every source of a server; nil: unbounded.
	Gate *Gate
}

// Limits cap one request: its body (after gunzip too), one event's JSON,
// and its number of events.
type Limits struct{ Request, Event, Events int }

// Open completes b: a nil Log discards, a nil Now is time.Now, each limit
// that is not positive takes def's; the metrics are registered on reg
// (nil: nowhere) and the store publishes to pub.
func (b Base) Open(pub Publisher, reg prometheus.Registerer, def Limits) (Base, error) {
	if b.Log == nil {
		b.Log = slog.New(slog.DiscardHandler)
	}
	if b.Now == nil {
		b.Now = time.Now
	}
	b.Limits = Limits{
		Request: positiveOr(b.Limits.Request, def.Request),
		Event:   positiveOr(b.Limits.Event, def.Event),
		Events:  positiveOr(b.Limits.Events, def.Events),
	}
	met, err := NewMetrics(reg)
	if err != nil {
		return Base{}, err
	}
	b.Metrics = met
	b.Store = Store{Publisher: pub, Metrics: met, Logger: b.Log}
	return b, nil
}

// positiveOr is v if it is positive, else def.
func positiveOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
