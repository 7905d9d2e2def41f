package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/destinations/metacapi/graphemu"
)

// The end-to-end stage runs `switchboard serve` with one pipeline to a
// receiver in this process — Meta's Graph API emulator or a webhook sink —
// offers Segment /v1/batch traffic and times every event from when its
// request was sent until the receiver accepted it. Sent is earlier than
// stored, so the latency reported is an upper bound of stored → delivered.

// benchE2ESpec is one end-to-end run.
type benchE2ESpec struct {
	dest        string  // "meta" or "webhook"
	events      int     // events to send
	batch       int     // events per request
	connections int     // concurrent HTTP connections
	rate        float64 // offered events/s; 0: closed loop
	// failingSibling adds a second pipeline from the same source to a
	// webhook that answers every call 500, to measure isolation.
	failingSibling bool
	cpuprofile     string // serve's CPU profile goes here
	pprofAddr      string // serve's net/http/pprof listens here
	// externalNATS puts JetStream in a nats-server run by the bench
	// process, which serve reaches over TCP (nats.url), instead of serve's
	// embedded one: serve's RSS is then its own, without JetStream's.
	externalNATS bool
}

// benchE2EResult is what one end-to-end run measured.
type benchE2EResult struct {
	Acked        int      `json:"acked_events"`
	Failed       int      `json:"failed_requests"`
	Delivered    int      `json:"delivered_events"` // distinct acked events the receiver accepted
	Missing      int      `json:"missing_events"`   // acked but not received: dead-lettered or still pending
	Pending      int64    `json:"pipeline_pending"` // the pipeline's unsettled events when the drain ended
	DeadLettered int64    `json:"pipeline_dead_letters"`
	Retried      uint64   `json:"pipeline_retried"`
	Repeats      int      `json:"repeated_events"` // receptions beyond the first of an event
	EventsPerSec float64  `json:"events_per_sec"`  // delivered / (last delivery - first send)
	P50ms        float64  `json:"p50_ms"`          // sent → delivered
	P99ms        float64  `json:"p99_ms"`
	ServeCores   float64  `json:"serve_cpu_cores"`
	PluginCores  float64  `json:"plugin_cpu_cores"`
	ServeRSS     int64    `json:"serve_peak_rss_bytes"`
	PluginRSS    int64    `json:"plugin_peak_rss_bytes"`
	EventBytes   int      `json:"mean_event_bytes"`
	Errors       []string `json:"errors,omitempty"`
}

// benchReceiver is where the pipeline delivers.
type benchReceiver interface {
	url() string
	// arrivals returns every accepted event id with its first arrival
	// time, and how many arrivals repeated an id.
	arrivals() (map[string]time.Time, int)
	count() int
	// reset forgets everything received so far.
	reset()
	close()
}

const (
	benchPixel = "1234567890"
	benchToken = "bench-access-token"
)

// metaReceiver is the Graph API emulator, checking every request as Meta
// does.
type metaReceiver struct {
	emu *graphemu.Emulator
	srv *httptest.Server
}

func newMetaReceiver() *metaReceiver {
	emu := graphemu.New(graphemu.Options{Pixels: map[string]graphemu.Pixel{benchPixel: {Tokens: []string{benchToken}}}})
	return &metaReceiver{emu: emu, srv: httptest.NewServer(emu)}
}

func (m *metaReceiver) url() string { return m.srv.URL }
func (m *metaReceiver) count() int {
	n := 0
	for _, r := range m.emu.Requests() {
		n += r.EventsAccepted
	}
	return n
}

func (m *metaReceiver) arrivals() (map[string]time.Time, int) {
	seen := map[string]time.Time{}
	repeats := 0
	for _, e := range m.emu.Received(benchPixel) {
		if _, dup := seen[e.EventID]; dup {
			repeats++
			continue
		}
		seen[e.EventID] = e.Received
	}
	return seen, repeats
}

func (m *metaReceiver) reset() { m.emu.Reset() }

func (m *metaReceiver) close() { m.emu.Close(); m.srv.Close() }

// hookReceiver is a webhook endpoint taking JSON arrays of {"id": ...}.
// fail makes it answer 500 to everything.
type hookReceiver struct {
	srv  *httptest.Server
	fail bool

	mu      sync.Mutex
	seen    map[string]time.Time
	repeats int
	calls   int
}

func newHookReceiver(fail bool) *hookReceiver {
	h := &hookReceiver{fail: fail, seen: map[string]time.Time{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	now := time.Now()
	h.mu.Lock()
	h.calls++
	h.mu.Unlock()
	if h.fail {
		http.Error(w, "bench: this destination is down", http.StatusInternalServerError)
		return
	}
	var evs []struct {
		ID string `json:"id"`
	}
	if err == nil {
		err = json.Unmarshal(body, &evs)
	}
	if err != nil {
		http.Error(w, "want a JSON array of objects", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	for _, e := range evs {
		if _, dup := h.seen[e.ID]; dup {
			h.repeats++
			continue
		}
		h.seen[e.ID] = now
	}
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (h *hookReceiver) url() string { return h.srv.URL }
func (h *hookReceiver) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen) + h.repeats
}

func (h *hookReceiver) arrivals() (map[string]time.Time, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.seen), h.repeats
}

func (h *hookReceiver) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen, h.repeats = map[string]time.Time{}, 0
}

func (h *hookReceiver) close() { h.srv.Close() }

// benchMetaMap is the default pipelines.yaml's Segment e-commerce → Meta
// mapping, so the benchmark measures what users run.
const benchMetaMap = `    map:
      event_name: >-
        type == "page" ? "PageView" : {"Products Searched": "Search", "Product Viewed": "ViewContent",
        "Product Added": "AddToCart", "Checkout Started": "InitiateCheckout",
        "Payment Info Entered": "AddPaymentInfo", "Product Added to Wishlist": "AddToWishlist",
        "Order Completed": "Purchase"}[event]
      event_time: unix(timestamp)
      event_id: messageId
      action_source: '"website"'
      event_source_url: context.page.url ?? properties.url
      user_data:
        em: context.traits.email ?? traits.email
        ph: context.traits.phone ?? traits.phone
        fn: context.traits.firstName ?? traits.firstName
        ln: context.traits.lastName ?? traits.lastName
        ct: context.traits.address.city ?? traits.address.city
        st: context.traits.address.state ?? traits.address.state
        zp: context.traits.address.postalCode ?? traits.address.postalCode
        country: context.traits.address.country ?? traits.address.country
        external_id: userId ?? anonymousId
        client_ip_address: context.ip
        client_user_agent: context.userAgent
        fbp: properties.fbp ?? context.fbp
        fbc: properties.fbc ?? context.fbc
      custom_data:
        value: properties.revenue ?? properties.value ?? properties.price
        currency: properties.currency
        order_id: properties.order_id
        content_ids: 'properties.product_id != nil ? [properties.product_id] : pluck(properties.products, "product_id")'
        contents: contents(properties.products)
`

// benchE2EConfig is the destinations and pipelines part of serve's config.
func benchE2EConfig(spec benchE2ESpec, target, sibling string) string {
	var b strings.Builder
	b.WriteString("destinations:\n")
	switch spec.dest {
	case "meta":
		fmt.Fprintf(&b, "  meta:\n    plugin: meta-capi\n    settings:\n      pixel_id: %q\n      access_token: %q\n      graph_url: %q\n      default_country: US\n",
			benchPixel, benchToken, target)
	default:
		fmt.Fprintf(&b, "  hook:\n    plugin: webhook\n    settings: {url: %q, mode: array}\n", target)
	}
	if sibling != "" {
		fmt.Fprintf(&b, "  down:\n    plugin: webhook\n    settings: {url: %q, mode: array}\n", sibling)
	}
	b.WriteString("pipelines:\n")
	switch spec.dest {
	case "meta":
		b.WriteString("  bench-to-meta:\n    from: [bench]\n    to: meta\n    when: type == \"track\"\n")
		b.WriteString(benchMetaMap)
	default:
		b.WriteString(benchHookPipeline("bench-to-hook", "hook"))
	}
	// Retries back off at most 2s: a benchmark measures throughput, not
	// the default 10-minute ceiling of a destination that is down.
	b.WriteString("    batch: {max_events: 1000, max_wait: 1s}\n    retry: {max_attempts: 1000, backoff: 100ms, max_backoff: 2s}\n")
	if sibling != "" {
		b.WriteString(benchHookPipeline("bench-to-down", "down"))
		b.WriteString("    batch: {max_events: 1000, max_wait: 1s}\n") // the default retry policy
	}
	return b.String()
}

// benchHookPipeline maps the benchmark's track events to a flat object of
// ten fields.
func benchHookPipeline(name, to string) string {
	return fmt.Sprintf(`  %s:
    from: [bench]
    to: %s
    when: type == "track"
    map:
      id: messageId
      event: event
      user: userId ?? anonymousId
      at: unixMilli(timestamp)
      ip: context.ip
      ua: context.userAgent
      url: context.page.url
      revenue: properties.revenue
      currency: properties.currency
      products: pluck(properties.products, "product_id")
`, name, to)
}

// runBenchE2E runs spec once in dir.
func runBenchE2E(ctx context.Context, dir string, spec benchE2ESpec, logs io.Writer, progress func(string, ...any)) (benchE2EResult, error) {
	var res benchE2EResult
	var recv benchReceiver
	if spec.dest == "meta" {
		recv = newMetaReceiver()
	} else {
		recv = newHookReceiver(false)
	}
	defer recv.close()
	sibling := ""
	if spec.failingSibling {
		down := newHookReceiver(true)
		defer down.close()
		sibling = down.url()
	}
	natsURL := ""
	if spec.externalNATS {
		port, err := benchFreePort()
		if err != nil {
			return res, err
		}
		listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		nb, err := bus.Open(ctx, bus.Options{StoreDir: filepath.Join(dir, "nats"), Listen: listen, Name: "switchboard-bench-nats"})
		if err != nil {
			return res, err
		}
		defer func() {
			nb.Close()
			_ = os.RemoveAll(filepath.Join(dir, "nats"))
		}()
		natsURL = "nats://" + listen
	}
	child, err := startBenchChild(ctx, dir, benchDefaultWriteKey, natsURL, benchProfile{CPU: spec.cpuprofile, Addr: spec.pprofAddr}, benchE2EConfig(spec, recv.url(), sibling), logs)
	if err != nil {
		return res, err
	}
	defer child.stop()
	servePID := child.cmd.Process.Pid
	pluginPID, err := benchPluginPID(servePID)
	if err != nil {
		return res, err
	}

	p := buildBenchPayload(benchRand(), spec.events, spec.batch, spec.dest == "meta")
	res.EventBytes = p.eventBytes() / max(1, len(p.events))
	load := newBenchLoad(child.url+"/v1/batch", benchDefaultWriteKey, spec.connections)
	load.recordSent = true
	defer load.close()
	var interval time.Duration
	if spec.rate > 0 {
		interval = time.Duration(float64(spec.batch) / spec.rate * float64(time.Second))
	}
	serveCPU0, _ := benchProcCPU(servePID)
	pluginCPU0, _ := benchProcCPU(pluginPID)
	lr := load.run(ctx, p, interval)
	res.Acked, res.Failed, res.Errors = lr.Acked, lr.Failed, lr.Errors

	// Drain: until every acknowledged event arrived or the pipeline has
	// settled everything (delivered or dead-lettered), at most 3 minutes.
	pipelineName := "bench-to-meta"
	if spec.dest != "meta" {
		pipelineName = "bench-to-hook"
	}
	deadline := time.Now().Add(3 * time.Minute)
	var st benchPipelineStatus
	for ctx.Err() == nil {
		if recv.count() >= res.Acked {
			break
		}
		var err error
		st, err = benchStatus(ctx, child.url, pipelineName)
		if err == nil && st.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			progress("end to end: %d of %d events arrived within the drain time; the pipeline still has %d pending", recv.count(), res.Acked, st.Pending)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if s, err := benchStatus(ctx, child.url, pipelineName); err == nil {
		st = s
	}
	res.Pending, res.DeadLettered, res.Retried = st.Pending, st.DeadLetters, st.Retried
	serveCPU1, _ := benchProcCPU(servePID)
	pluginCPU1, _ := benchProcCPU(pluginPID)
	res.ServeRSS, _ = benchPeakRSS(servePID)
	res.PluginRSS, _ = benchPeakRSS(pluginPID)

	seen, repeats := recv.arrivals()
	res.Repeats = repeats
	var first, lastArrival time.Time
	lats := make([]time.Duration, 0, res.Acked)
	for i, sent := range lr.Sent {
		if lr.OK[i] && (first.IsZero() || sent.Before(first)) {
			first = sent
		}
	}
	// Per event: which request (and so which send time) it travelled in.
	k := 0
	for i, n := range p.counts {
		for range n {
			id := p.ids[k]
			k++
			if !lr.OK[i] {
				continue
			}
			at, ok := seen[id]
			if !ok {
				res.Missing++
				continue
			}
			res.Delivered++
			lats = append(lats, at.Sub(lr.Sent[i]))
			if at.After(lastArrival) {
				lastArrival = at
			}
		}
	}
	slices.Sort(lats)
	res.P50ms = benchMillis(benchPercentile(lats, 50))
	res.P99ms = benchMillis(benchPercentile(lats, 99))
	if span := lastArrival.Sub(first).Seconds(); span > 0 {
		res.EventsPerSec = float64(res.Delivered) / span
		res.ServeCores = (serveCPU1 - serveCPU0).Seconds() / span
		res.PluginCores = (pluginCPU1 - pluginCPU0).Seconds() / span
	}
	if err := child.stop(); err != nil {
		res.Errors = append(res.Errors, "serve exit: "+err.Error())
	}
	return res, os.RemoveAll(filepath.Join(dir, "store"))
}

// benchPluginPID finds serve's plugin child process: the one of its
// children started as `switchboard plugin NAME`. It waits for it, since the
// host may still be starting it when /readyz first answers.
func benchPluginPID(serve int) (int, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", serve))
		for _, t := range tasks {
			data, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for f := range strings.FieldsSeq(string(data)) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					continue
				}
				cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				if err != nil {
					continue
				}
				args := strings.Split(string(cmdline), "\x00")
				if len(args) > 1 && args[1] == "plugin" {
					return pid, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, errors.New("bench: serve's plugin child process did not appear within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// benchPipelineStatus is the part of GET /api/pipelines the drain reads.
type benchPipelineStatus struct {
	Pipeline    string `json:"pipeline"`
	Pending     int64  `json:"pending"`
	DeadLetters int64  `json:"dead_letters"`
	Retried     uint64 `json:"retried"`
}

// benchStatus reads one pipeline's status from a serve child (loopback, so
// no admin token is needed).
func benchStatus(ctx context.Context, base, name string) (benchPipelineStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/pipelines", nil)
	if err != nil {
		return benchPipelineStatus{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return benchPipelineStatus{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Pipelines []benchPipelineStatus `json:"pipelines"`
	}
	if resp.StatusCode != http.StatusOK {
		return benchPipelineStatus{}, fmt.Errorf("GET /api/pipelines: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return benchPipelineStatus{}, err
	}
	for _, p := range out.Pipelines {
		if p.Pipeline == name {
			return p, nil
		}
	}
	return benchPipelineStatus{}, fmt.Errorf("no pipeline %s", name)
}
