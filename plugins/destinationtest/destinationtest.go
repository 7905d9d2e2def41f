package destinationtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// Factory tells Run how to build the destination under test and how to
// set up the remote side it delivers to. New and Settings are required.
//
// For an HTTP destination, Run starts an httptest.Server per check and
// passes its URL to Settings. The server answers with Accept while the
// destination is configured (so Configure may call the remote side, to
// check credentials say), then, depending on the check, keeps accepting,
// switches to Refuse or Unavailable, or stops listening. For any other
// destination (a file, a queue), leave Accept nil and let Settings point
// the destination somewhere under Remote.Dir.
type Factory struct {
	// New returns a new, unconfigured destination. Run calls it once per
	// check, so checks never share a destination.
	New func(t testing.TB) plugins.Destination

	// Settings returns settings under which the destination delivers to
	// r, as the settings: block of pipelines.yaml would give them (JSON
	// types: strings, numbers, bools, lists, maps). Run applies the spec's
	// defaults, as the host does, before Configure. Settings may leave out
	// optional settings, never required ones: Run removes required
	// settings itself to check that Configure reports them missing.
	Settings func(t testing.TB, r Remote) map[string]any

	// Accept handles requests as the remote side does when it accepts
	// every event; every event must then come back delivered. nil means
	// the destination does not talk HTTP: Run starts no server and still
	// expects every event delivered.
	Accept http.Handler

	// Refuse handles requests as the remote side does when it refuses
	// every event for good (a 400 with an error body, say); every event
	// must then come back rejected with a reason. nil skips that check.
	Refuse http.Handler

	// Unavailable handles requests as the remote side does when it is
	// down for a while; no event may then come back delivered or rejected
	// (retry results or a Deliver error are both right). nil means a 503.
	// Only used when Accept is set, as is a check against a server that
	// no longer listens.
	Unavailable http.Handler

	// Payload returns the payload of the i-th test event, for destinations
	// that accept only certain shapes. nil means a small JSON object.
	Payload func(i int) json.RawMessage

	// Verify, if set, checks after every fully delivered batch that the
	// remote side holds the delivered events (the lines of a file, the
	// requests a handler recorded).
	Verify func(t testing.TB, r Remote, delivered []plugins.Event)
}

// Remote is where a check's destination delivers to.
type Remote struct {
	// URL is the base URL of the check's httptest server; empty when
	// Factory.Accept is nil.
	URL string
	// Dir is an empty directory of the check's own.
	Dir string
}

// mode is the behaviour of a check's remote side.
type mode int

const (
	accepting mode = iota
	refusing
	unavailable
	unreachable
)

// transport is how a check reaches the destination.
type transport struct {
	name string
	wrap func(testing.TB, plugins.Destination) plugins.Destination
}

var transports = []transport{
	{"direct", func(_ testing.TB, d plugins.Destination) plugins.Destination { return d }},
	{"grpc", Connect},
}

// Run checks the destination that f builds against the destination
// contract, once called directly and once through the real gRPC shim (as
// the host calls it):
//
//   - Describe works before Configure and declares every setting validly:
//     a lowercase name, a known type, a description, a default of the
//     right type, no default for secret or required settings, enums only
//     on strings; its spec survives the gRPC round trip.
//   - Configure with valid settings succeeds; with required settings
//     missing it returns plugins.FieldErrors naming each of them, and no
//     secret value appears in the messages.
//   - Deliver returns exactly one result per event, with known IDs and
//     valid outcomes; every event is delivered when the remote accepts,
//     rejected with a reason when it refuses, never delivered or rejected
//     when it is unavailable or unreachable; an empty batch is fine.
//   - Deliver is safe for concurrent use (run the test with -race).
//   - Close succeeds after Configure and Deliver.
func Run(t *testing.T, f Factory) {
	t.Helper()
	if f.New == nil || f.Settings == nil {
		t.Fatal("destinationtest: Factory.New and Factory.Settings are required")
	}
	c := &contract{f: f}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Run("DescribeBeforeConfigure", func(t *testing.T) { c.describe(t, tr) })
			t.Run("ConfigureValid", func(t *testing.T) { c.configureValid(t, tr) })
			t.Run("ConfigureMissingRequired", func(t *testing.T) { c.configureMissing(t, tr) })
			t.Run("DeliverAccepted", func(t *testing.T) { c.deliverAccepted(t, tr) })
			t.Run("DeliverEmptyBatch", func(t *testing.T) { c.deliverEmpty(t, tr) })
			if f.Refuse != nil {
				t.Run("DeliverRefused", func(t *testing.T) { c.deliverRefused(t, tr) })
			}
			if f.Accept != nil {
				t.Run("DeliverUnavailable", func(t *testing.T) { c.deliverFailing(t, tr, unavailable) })
				t.Run("DeliverUnreachable", func(t *testing.T) { c.deliverFailing(t, tr, unreachable) })
			}
			t.Run("DeliverConcurrent", func(t *testing.T) { c.deliverConcurrent(t, tr) })
			t.Run("Close", func(t *testing.T) { c.close(t, tr) })
		})
	}
	t.Run("SpecSurvivesGRPC", c.specRoundTrip)
}

type contract struct {
	f Factory
}

// timeout bounds every call a check makes.
const timeout = 30 * time.Second

func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// remoteSide is a check's remote side: an httptest server whose behaviour
// the check switches after Configure, so that Configure always meets an
// accepting remote side.
type remoteSide struct {
	Remote
	f   *Factory
	srv *httptest.Server

	mu      sync.Mutex
	handler http.Handler
}

// remote starts the check's remote side, accepting.
func (c *contract) remote(t testing.TB) *remoteSide {
	t.Helper()
	rs := &remoteSide{Remote: Remote{Dir: t.TempDir()}, f: &c.f, handler: c.f.Accept}
	if c.f.Accept == nil {
		return rs
	}
	rs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		h := rs.handler
		rs.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	rs.URL = rs.srv.URL
	t.Cleanup(rs.srv.Close)
	return rs
}

// set switches the remote side to mode m.
func (rs *remoteSide) set(m mode) {
	if rs.srv == nil {
		return
	}
	var h http.Handler
	switch m {
	case accepting:
		h = rs.f.Accept
	case refusing:
		h = rs.f.Refuse
	case unreachable:
		rs.srv.Close() // the URL stays, nothing listens
		return
	default:
		h = rs.f.Unavailable
		if h == nil {
			h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
			})
		}
	}
	rs.mu.Lock()
	rs.handler = h
	rs.mu.Unlock()
}

// describe returns the destination's spec, failing the test on an error.
func describe(t testing.TB, d plugins.Destination) plugins.Spec {
	t.Helper()
	spec, err := d.Describe(callCtx(t))
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	return spec
}

// settings returns the factory's settings for r with the spec's defaults
// applied, checked against the spec.
func (c *contract) settings(t testing.TB, spec plugins.Spec, r Remote) map[string]any {
	t.Helper()
	s := maps.Clone(c.f.Settings(t, r))
	if s == nil {
		s = map[string]any{}
	}
	declared := map[string]plugins.Setting{}
	for _, set := range spec.Settings {
		declared[set.Name] = set
	}
	for name, v := range s {
		set, ok := declared[name]
		if !ok {
			t.Fatalf("Factory.Settings returned %q, which the spec does not declare (the host refuses undeclared settings)", name)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("Factory.Settings: %s: %v", name, err)
		}
		if err := checkValue(set.Type, raw); err != nil {
			t.Fatalf("Factory.Settings: %s: %v", name, err)
		}
	}
	for _, set := range spec.Settings {
		if _, ok := s[set.Name]; ok {
			continue
		}
		if set.Required {
			t.Fatalf("Factory.Settings left out required setting %q", set.Name)
		}
		if set.Default != nil {
			s[set.Name] = jsonDefault(set)
		}
	}
	return s
}

// configure configures d with settings, a fresh MemoryHost and a test
// logger, and returns the error.
func configure(t testing.TB, d plugins.Destination, settings map[string]any, host plugins.Host) error {
	t.Helper()
	raw, err := json.Marshal(settings)
	if err != nil {
		t.Fatalf("marshal settings: %v", err)
	}
	return d.Configure(callCtx(t), plugins.Config{
		Destination: "contract",
		Settings:    raw,
		Host:        host,
		Logger:      Logger(t),
	})
}

// configured returns a destination configured against an accepting remote
// side that then behaves as mode m says. The destination is closed when the
// test ends, unless the test closes it itself.
func (c *contract) configured(t testing.TB, tr transport, m mode) (plugins.Destination, Remote, *closeOnce) {
	t.Helper()
	d := tr.wrap(t, c.f.New(t))
	spec := describe(t, d)
	rs := c.remote(t)
	r := rs.Remote
	if err := configure(t, d, c.settings(t, spec, r), &MemoryHost{}); err != nil {
		if fe, ok := err.(plugins.FieldErrors); ok && len(fe) == 0 {
			t.Fatal("Configure returned an empty plugins.FieldErrors as a non-nil error; return nil when there are no errors")
		}
		t.Fatalf("Configure with valid settings: %v", err)
	}
	rs.set(m)
	co := &closeOnce{d: d}
	t.Cleanup(func() {
		if err := co.close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d, r, co
}

// closeOnce closes a destination at most once.
type closeOnce struct {
	once sync.Once
	d    plugins.Destination
	err  error
}

func (c *closeOnce) close(ctx context.Context) error {
	c.once.Do(func() { c.err = c.d.Close(ctx) })
	return c.err
}

func (c *contract) describe(t *testing.T, tr transport) {
	spec := describe(t, tr.wrap(t, c.f.New(t)))
	for _, p := range checkSpec(spec) {
		t.Error(p)
	}
}

func (c *contract) specRoundTrip(t *testing.T) {
	direct := describe(t, c.f.New(t))
	remote := describe(t, Connect(t, c.f.New(t)))
	for _, p := range diffSpecs(direct, remote) {
		t.Error(p)
	}
}

func (c *contract) configureValid(t *testing.T, tr transport) {
	c.configured(t, tr, accepting)
}

func (c *contract) configureMissing(t *testing.T, tr transport) {
	spec := describe(t, tr.wrap(t, c.f.New(t)))
	var required []string
	for _, s := range spec.Settings {
		if s.Required {
			required = append(required, s.Name)
		}
	}
	if len(required) == 0 {
		t.Skip("the spec declares no required settings")
	}
	full := c.settings(t, spec, c.remote(t).Remote)
	secrets := secretValues(spec, full)

	check := func(t *testing.T, missing []string) {
		settings := maps.Clone(full)
		for _, name := range missing {
			delete(settings, name)
		}
		d := tr.wrap(t, c.f.New(t))
		err := configure(t, d, settings, &MemoryHost{})
		if err == nil {
			t.Fatalf("Configure without %v succeeded; want plugins.FieldErrors naming them", missing)
		}
		var fe plugins.FieldErrors
		if !errors.As(err, &fe) {
			t.Fatalf("Configure without %v returned %T %q; want plugins.FieldErrors (return it unwrapped so the host can place each error in pipelines.yaml)", missing, err, err)
		}
		for _, name := range missing {
			if !names(fe, name) {
				t.Errorf("Configure without %q: FieldErrors %q do not name it", name, fe)
			}
		}
		for _, e := range fe {
			for _, s := range secrets {
				if strings.Contains(e.Message, s) {
					t.Errorf("FieldError %q reveals the value of a secret setting", e.Field)
				}
			}
		}
		_ = d.Close(callCtx(t)) // allowed to fail; must not hang or panic
	}
	t.Run("all", func(t *testing.T) { check(t, required) })
	if len(required) > 1 {
		for _, name := range required {
			t.Run(name, func(t *testing.T) { check(t, []string{name}) })
		}
	}
}

func (c *contract) deliverAccepted(t *testing.T, tr transport) {
	d, r, _ := c.configured(t, tr, accepting)
	spec := describe(t, d)
	for _, n := range batchSizes(spec) {
		t.Run(fmt.Sprintf("batch=%d", n), func(t *testing.T) {
			batch := c.events(fmt.Sprintf("acc%d", n), n)
			results, err := deliver(t, d, batch)
			if err != nil {
				t.Fatalf("Deliver failed although the remote side accepts every event: %v", err)
			}
			checkOutcomes(t, results, plugins.OutcomeDelivered, "the remote side accepts every event")
			if c.f.Verify != nil && !t.Failed() {
				c.f.Verify(t, r, batch)
			}
		})
	}
}

func (c *contract) deliverEmpty(t *testing.T, tr transport) {
	d, _, _ := c.configured(t, tr, accepting)
	results, err := d.Deliver(callCtx(t), nil)
	if err != nil {
		t.Fatalf("Deliver(empty batch): %v", err)
	}
	if len(results) != 0 {
		t.Fatalf("Deliver(empty batch) returned %d results", len(results))
	}
}

func (c *contract) deliverRefused(t *testing.T, tr transport) {
	d, _, _ := c.configured(t, tr, refusing)
	results, err := deliver(t, d, c.events("ref", 3))
	if err != nil {
		t.Fatalf("Deliver failed as a whole (%v); a refusal for good must come back as rejected results, or the host retries forever", err)
	}
	checkOutcomes(t, results, plugins.OutcomeRejected, "the remote side refuses every event for good")
}

func (c *contract) deliverFailing(t *testing.T, tr transport, m mode) {
	d, _, _ := c.configured(t, tr, m)
	results, err := deliver(t, d, c.events("fail", 3))
	if err != nil {
		return // the host retries the whole batch: right
	}
	what := "the remote side is unavailable"
	if m == unreachable {
		what = "the remote side does not listen"
	}
	checkOutcomes(t, results, plugins.OutcomeRetry, what)
}

func (c *contract) deliverConcurrent(t *testing.T, tr transport) {
	d, r, _ := c.configured(t, tr, accepting)
	const workers, batches, size = 8, 4, 10
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		delivered []plugins.Event
	)
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				batch := c.events(fmt.Sprintf("w%db%d", w, b), size)
				results, err := deliver(t, d, batch)
				if err != nil {
					t.Errorf("concurrent Deliver failed although the remote side accepts every event: %v", err)
					continue
				}
				checkOutcomes(t, results, plugins.OutcomeDelivered, "the remote side accepts every event")
				mu.Lock()
				delivered = append(delivered, batch...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if c.f.Verify != nil && !t.Failed() {
		c.f.Verify(t, r, delivered)
	}
}

func (c *contract) close(t *testing.T, tr transport) {
	d, _, co := c.configured(t, tr, accepting)
	if _, err := deliver(t, d, c.events("close", 2)); err != nil {
		t.Errorf("Deliver: %v", err)
	}
	if err := co.close(callCtx(t)); err != nil {
		t.Fatalf("Close after Configure and Deliver: %v", err)
	}
}

// events returns n events with IDs unique to prefix.
func (c *contract) events(prefix string, n int) []plugins.Event {
	batch := make([]plugins.Event, n)
	for i := range batch {
		var payload json.RawMessage
		if c.f.Payload != nil {
			payload = c.f.Payload(i)
		} else {
			payload = json.RawMessage(fmt.Sprintf(
				`{"event":"Contract Test","n":%d,"big_id":12345678901234567890,"properties":{"revenue":12.5,"currency":"EUR"}}`, i))
		}
		batch[i] = plugins.Event{
			ID:        fmt.Sprintf("%s-%d", prefix, i),
			Payload:   payload,
			Attempt:   1,
			MessageID: fmt.Sprintf("msg-%s-%d", prefix, i),
		}
	}
	return batch
}

// batchSizes returns the batch sizes to try: one event, and a few more up
// to the destination's preferred maximum.
func batchSizes(spec plugins.Spec) []int {
	n := 25
	if m := spec.Batch.MaxEvents; m > 0 && m < n {
		n = m
	}
	if n <= 1 {
		return []int{1}
	}
	return []int{1, n}
}

// deliver delivers batch and reports results that break the contract's
// shape. A Deliver error (the whole batch failed) is returned.
func deliver(t testing.TB, d plugins.Destination, batch []plugins.Event) ([]plugins.Result, error) {
	t.Helper()
	results, err := d.Deliver(callCtx(t), batch)
	if err != nil {
		return nil, err
	}
	for _, p := range checkResults(batch, results) {
		t.Error(p)
	}
	return results, nil
}

// checkOutcomes reports results whose outcome is not want.
func checkOutcomes(t testing.TB, results []plugins.Result, want plugins.Outcome, when string) {
	t.Helper()
	for _, r := range results {
		if r.Outcome != want {
			t.Errorf("event %s: %v (code %q, reason %q), want %v when %s", r.ID, r.Outcome, r.Code, r.Reason, want, when)
		}
	}
}
