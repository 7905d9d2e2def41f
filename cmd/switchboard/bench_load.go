package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchPayload is the pre-built traffic of one phase: request bodies for
// /v1/batch and, as sub-slices of them, every event's JSON with its
// messageId (the raw JetStream phase publishes exactly these bytes).
type benchPayload struct {
	bodies [][]byte // {"batch":[...]} request bodies
	counts []int    // events in each body
	events [][]byte // each event's JSON, a sub-slice of its body
	ids    []string // each event's messageId
}

// eventBytes is the total size of the events' JSON, without the batch
// envelope.
func (p *benchPayload) eventBytes() int {
	n := 0
	for _, e := range p.events {
		n += len(e)
	}
	return n
}

// benchRand returns a generator seeded from crypto/rand, so message ids
// differ between runs: a rerun against the same --server must not be
// deduplicated into a cheaper no-op.
func benchRand() *rand.Rand {
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
}

// buildBenchPayload builds n realistic Segment track events, batch to a
// request body; with traits each carries the customer's context.traits too.
func buildBenchPayload(rng *rand.Rand, n, batch int, traits bool) *benchPayload {
	if batch < 1 {
		batch = 1
	}
	p := &benchPayload{
		events: make([][]byte, 0, n),
		ids:    make([]string, 0, n),
	}
	now := time.Now().UTC()
	var ev bytes.Buffer
	enc := json.NewEncoder(&ev)
	enc.SetEscapeHTML(false)
	for start := 0; start < n; start += batch {
		k := min(batch, n-start)
		body := make([]byte, 0, k*640+16)
		body = append(body, `{"batch":[`...)
		offs := make([]int, 0, k+1)
		for i := range k {
			if i > 0 {
				body = append(body, ',')
			}
			ev.Reset()
			id := benchUUID(rng)
			e := benchTrackEvent(rng, id, now)
			if traits {
				e.Context.Traits = benchUserTraits(rng)
			}
			if err := enc.Encode(e); err != nil {
				panic(err) // static types: cannot fail
			}
			offs = append(offs, len(body))
			body = append(body, bytes.TrimSuffix(ev.Bytes(), []byte("\n"))...)
			offs = append(offs, len(body))
			p.ids = append(p.ids, id)
		}
		body = append(body, "]}"...)
		for i := 0; i < len(offs); i += 2 {
			p.events = append(p.events, body[offs[i]:offs[i+1]:offs[i+1]])
		}
		p.bodies = append(p.bodies, body)
		p.counts = append(p.counts, k)
	}
	return p
}

// benchUUID returns a random version-4 UUID.
func benchUUID(rng *rand.Rand) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rng.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

type benchProduct struct {
	ProductID string  `json:"product_id"`
	Price     float64 `json:"price"`
	Quantity  int     `json:"quantity"`
}

type benchOrderProps struct {
	OrderID  string         `json:"order_id"`
	Revenue  float64        `json:"revenue"`
	Currency string         `json:"currency"`
	Products []benchProduct `json:"products"`
}

type benchViewProps struct {
	ProductID string  `json:"product_id"`
	Name      string  `json:"name"`
	Price     float64 `json:"price"`
	Currency  string  `json:"currency"`
	Revenue   float64 `json:"revenue"`
}

type benchPage struct {
	URL string `json:"url"`
}

type benchLibrary struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type benchContext struct {
	IP        string       `json:"ip"`
	UserAgent string       `json:"userAgent"`
	Page      benchPage    `json:"page"`
	Library   benchLibrary `json:"library"`
	Traits    *benchTraits `json:"traits,omitempty"`
}

// benchTraits is the customer information a logged-in shop sends along, so
// the end-to-end benchmark normalises and hashes a full Meta user_data.
type benchTraits struct {
	Email     string       `json:"email"`
	Phone     string       `json:"phone"`
	FirstName string       `json:"firstName"`
	LastName  string       `json:"lastName"`
	Address   benchAddress `json:"address"`
}

type benchAddress struct {
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postalCode"`
	Country    string `json:"country"`
}

var (
	benchFirstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"}
	benchLastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson"}
	benchCities     = []struct{ city, state, zip string }{
		{"New York", "NY", "10001"}, {"San Francisco", "CA", "94105-1234"}, {"Austin", "Texas", "73301"}, {"Seattle", "WA", "98101"},
	}
)

// benchUserTraits returns a user's traits, formatted the way real forms
// deliver them (mixed case, spaces, punctuation in phone numbers).
func benchUserTraits(rng *rand.Rand) *benchTraits {
	fn, ln := benchFirstNames[rng.IntN(len(benchFirstNames))], benchLastNames[rng.IntN(len(benchLastNames))]
	c := benchCities[rng.IntN(len(benchCities))]
	return &benchTraits{
		Email:     fmt.Sprintf(" %s.%s%d@Example.com", fn, ln, rng.IntN(100_000)),
		Phone:     fmt.Sprintf("+1 (%03d) 555-%04d", 200+rng.IntN(700), rng.IntN(10_000)),
		FirstName: fn,
		LastName:  ln,
		Address:   benchAddress{City: c.city, State: c.state, PostalCode: c.zip, Country: "US"},
	}
}

type benchEvent struct {
	Type        string       `json:"type"`
	Event       string       `json:"event"`
	MessageID   string       `json:"messageId"`
	UserID      string       `json:"userId"`
	AnonymousID string       `json:"anonymousId"`
	Timestamp   string       `json:"timestamp"`
	Properties  any          `json:"properties"`
	Context     benchContext `json:"context"`
}

var (
	benchUserAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	}
	benchNames      = []string{"Trail Runner 2", "Merino Crew Sock", "Packable Down Jacket", "Canvas Tote", "Wireless Earbuds Pro"}
	benchCurrencies = []string{"USD", "EUR", "GBP"}
)

// benchTrackEvent returns one Segment track event of about 600 bytes, half
// "Order Completed" (with a products array), half "Product Viewed".
func benchTrackEvent(rng *rand.Rand, id string, now time.Time) benchEvent {
	k := rng.IntN(len(benchNames))
	productID := fmt.Sprintf("prod-%06d", rng.IntN(1_000_000))
	price := float64(rng.IntN(20_000)+99) / 100
	cur := benchCurrencies[rng.IntN(len(benchCurrencies))]
	e := benchEvent{
		Type:        "track",
		MessageID:   id,
		UserID:      fmt.Sprintf("user-%07d", rng.IntN(5_000_000)),
		AnonymousID: benchUUID(rng),
		Timestamp:   now.Add(-time.Duration(rng.IntN(60_000)) * time.Millisecond).Format("2006-01-02T15:04:05.000Z"),
		Context: benchContext{
			IP:        fmt.Sprintf("203.0.%d.%d", rng.IntN(256), rng.IntN(254)+1),
			UserAgent: benchUserAgents[rng.IntN(len(benchUserAgents))],
			Library:   benchLibrary{Name: "analytics.js", Version: "next-1.74.0"},
		},
	}
	if rng.IntN(2) == 0 {
		e.Event = "Order Completed"
		qty := rng.IntN(3) + 1
		e.Properties = benchOrderProps{
			OrderID:  fmt.Sprintf("ord-%09d", rng.IntN(1_000_000_000)),
			Revenue:  math.Round(price*float64(qty)*100) / 100,
			Currency: cur,
			Products: []benchProduct{{ProductID: productID, Price: price, Quantity: qty}},
		}
		e.Context.Page.URL = "https://shop.example.com/checkout/complete"
	} else {
		e.Event = "Product Viewed"
		e.Properties = benchViewProps{
			ProductID: productID, Name: benchNames[k], Price: price, Currency: cur, Revenue: price,
		}
		e.Context.Page.URL = "https://shop.example.com/p/" + productID
	}
	return e
}

// benchLoad is the HTTP side of the benchmark: one keep-alive client (so one
// TCP connection) per worker, posting pre-built bodies to url.
type benchLoad struct {
	url        string
	auth       string // Authorization header value
	clients    []*http.Client
	recordSent bool // fill benchLoadResult.Sent and OK
}

// newBenchLoad prepares connections clients for POSTs to url with HTTP
// Basic auth (writeKey as user, empty password).
func newBenchLoad(url, writeKey string, connections int) *benchLoad {
	l := &benchLoad{
		url:  url,
		auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(writeKey+":")),
	}
	for range max(1, connections) {
		tr := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1,
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
			IdleConnTimeout:     2 * time.Minute,
			DisableCompression:  true,
		}
		l.clients = append(l.clients, &http.Client{Transport: tr, Timeout: time.Minute})
	}
	return l
}

// close drops the idle connections.
func (l *benchLoad) close() {
	for _, c := range l.clients {
		c.CloseIdleConnections()
	}
}

// benchLoadResult is what one run of the load generator saw.
type benchLoadResult struct {
	Requests  int             // requests completed (answered or failed)
	Failed    int             // non-200 answers and transport errors
	Acked     int             // events in requests answered 200
	Elapsed   time.Duration   // wall time from the first request to the last answer
	Latencies []time.Duration // every request's latency (including failed ones), sorted
	Errors    []string        // distinct failure descriptions with counts, at most benchMaxErrors
	// Sent is when each body was sent (index: body), and OK whether it was
	// answered 200; both only when benchLoad.recordSent is set.
	Sent []time.Time
	OK   []bool
}

const benchMaxErrors = 10

// run posts every body of p, each worker on its own connection, and
// returns when all were answered or ctx is done.
//
// With interval 0 the load is a closed loop: each connection sends its next
// request as soon as the previous one is answered, so the latency follows
// from the throughput (Little's law). With interval > 0 it is an open loop:
// request i is due at start + i*interval whatever happened before, and its
// latency counts from when it was due, so time spent waiting for a free
// connection is not hidden (no coordinated omission).
func (l *benchLoad) run(ctx context.Context, p *benchPayload, interval time.Duration) benchLoadResult {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		res    benchLoadResult
		errs   = map[string]int{}
		order  []string
		wg     sync.WaitGroup
		allLat = make([][]time.Duration, len(l.clients))
	)
	fail := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		res.Failed++
		if _, seen := errs[msg]; !seen {
			order = append(order, msg)
		}
		errs[msg]++
	}
	if l.recordSent {
		res.Sent = make([]time.Time, len(p.bodies))
		res.OK = make([]bool, len(p.bodies))
	}
	start := time.Now()
	for w, c := range l.clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, len(p.bodies)/len(l.clients)+1)
			acked := 0
			defer func() {
				mu.Lock()
				res.Acked += acked
				mu.Unlock()
				allLat[w] = lat
			}()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(p.bodies) {
					break
				}
				var late time.Duration
				if interval > 0 {
					due := start.Add(time.Duration(i) * interval)
					if wait := time.Until(due); wait > 0 {
						t := time.NewTimer(wait)
						select {
						case <-t.C:
						case <-ctx.Done():
							t.Stop()
							return
						}
					}
					late = max(0, time.Since(due))
				}
				if res.Sent != nil {
					res.Sent[i] = time.Now()
				}
				d, err := l.post(ctx, c, p.bodies[i])
				lat = append(lat, late+d)
				if err != nil {
					fail(err.Error())
					continue
				}
				if res.OK != nil {
					res.OK[i] = true
				}
				acked += p.counts[i]
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	for _, lat := range allLat {
		res.Latencies = append(res.Latencies, lat...)
	}
	slices.Sort(res.Latencies)
	res.Requests = len(res.Latencies)
	for _, msg := range order {
		if len(res.Errors) == benchMaxErrors {
			break
		}
		res.Errors = append(res.Errors, fmt.Sprintf("%d× %s", errs[msg], msg))
	}
	return res
}

// post sends one body and reads the whole answer; the latency covers both.
func (l *benchLoad) post(ctx context.Context, c *http.Client, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", l.auth)
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return time.Since(t0), err
	}
	var msg []byte
	if resp.StatusCode == http.StatusOK {
		_, err = io.Copy(io.Discard, resp.Body)
	} else {
		msg, err = io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	d := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	if err != nil {
		return d, fmt.Errorf("reading answer: %w", err)
	}
	return d, nil
}

// benchPercentile returns the nearest-rank p-th percentile (0 < p <= 100)
// of sorted latencies, or 0 when there are none.
func benchPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
