package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// Gate bounds the tracking requests that decode and store their events at
// once, across every source of a server, by the bytes of their bodies
// (uncompressed, at least minWeight each): what they occupy in memory while
// decoded and published. A request enters it after its body is read and
// leaves when the bus has answered; the others wait their turn in arrival
// order, holding only their read body, and are answered 503 with
// Retry-After when their wait exceeds the gate's timeout.
//
// Without it every connection's request is decoded and published at once:
// at 256 connections of 100-event batches against two cores serve's peak
// RSS was 178–188 MB against 112–125 with it, its p99 latency 568–704 ms
// against 363–406, at the same or a higher rate. Weighing bodies rather
// than counting requests keeps the bound fair to both kinds of client: a
// budget of 2 MiB admits ~34 requests of 100 ~600-byte events, or 512 of
// one event each (a browser's, whose acknowledgement latency, not its
// size, is what bounds a server's rate on a distant NATS cluster).
//
// A nil *Gate admits every request at once.
type Gate struct {
	sem     *semaphore.Weighted
	budget  int64
	wait    time.Duration
	waiting prometheus.Gauge
	busy    prometheus.Counter
}

// minWeight is the least a request weighs, whatever its body: its
// goroutine, its decoded events and its publish call cost that much.
const minWeight = 4 << 10

// Defaults of the gate's budget.
const (
	// DefaultGatePerCPU is the budget per GOMAXPROCS; DefaultGateMin
	// the least (2 MiB on two cores).
	DefaultGatePerCPU = 1 << 20
	DefaultGateMin    = 2 << 20
)

// NewGate returns a gate admitting requests while the bodies admitted sum to
// at most budget bytes (a larger body is admitted alone), which makes others
// wait up to wait; its gauge of waiting requests and counter of requests
// turned away are registered on reg (unless nil), reused when reg already
// holds them. budget and wait must be positive.
func NewGate(budget int64, wait time.Duration, reg prometheus.Registerer) (*Gate, error) {
	if budget <= 0 || wait <= 0 {
		return nil, fmt.Errorf("ingest: gate budget %d and wait %v must be positive", budget, wait)
	}
	g := &Gate{
		sem:    semaphore.NewWeighted(budget),
		budget: budget,
		wait:   wait,
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_ingest_requests_waiting",
			Help: "Tracking requests whose body is read, waiting for their turn to be decoded and stored (server.max_in_flight_bytes).",
		}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_ingest_requests_busy_total",
			Help: "Tracking requests answered 503 because they waited server.queue_timeout for their turn.",
		}),
	}
	if reg == nil {
		return g, nil
	}
	var err error
	if g.waiting, err = register(reg, g.waiting); err != nil {
		return nil, err
	}
	if g.busy, err = register(reg, g.busy); err != nil {
		return nil, err
	}
	return g, nil
}

// Enter waits for the turn of a request whose body is size bytes. It
// returns the weight to give Leave once admitted, or ok false when the
// wait exceeded the gate's timeout or ctx ended first.
func (g *Gate) Enter(ctx context.Context, size int) (weight int64, ok bool) {
	if g == nil {
		return 0, true
	}
	weight = min(max(int64(size), minWeight), g.budget)
	if g.sem.TryAcquire(weight) {
		return weight, true
	}
	g.waiting.Inc()
	defer g.waiting.Dec()
	wctx, cancel := context.WithTimeout(ctx, g.wait)
	defer cancel()
	if err := g.sem.Acquire(wctx, weight); err != nil {
		if ctx.Err() == nil {
			g.busy.Inc()
		}
		return 0, false
	}
	return weight, true
}

// Leave gives back the turn Enter granted with weight.
func (g *Gate) Leave(weight int64) {
	if g != nil {
		g.sem.Release(weight)
	}
}

// retryAfterBusy is the Retry-After, in seconds, of a request the gate
// turned away: the server was saturated a moment ago.
const retryAfterBusy = 1

var errBusy = &Error{Status: http.StatusServiceUnavailable, Msg: "server busy: the request waited too long for its turn; nothing was stored, retry later"}

// Busy answers a request the gate turned away: 503 with Retry-After, which
// every SDK retries. It returns 503.
func Busy(w http.ResponseWriter) int {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterBusy))
	return WriteError(w, errBusy)
}
