package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/core/config"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// nopMapper passes events through unchanged.
type nopMapper struct{}

func (nopMapper) Apply(data []byte) ([]byte, bool, error) { return data, true, nil }

func validOptions() Options {
	var js jetstream.JetStream // never used by New
	return Options{
		Name:        "web-to-meta",
		Config:      config.Pipeline{From: []string{"web", "app"}, To: "meta"},
		Mapper:      nopMapper{},
		JetStream:   jsStub{js},
		Destination: destFunc(func(context.Context, []plugins.Event) ([]plugins.Result, error) { return nil, nil }),
	}
}

// jsStub satisfies jetstream.JetStream for tests that do no I/O.
type jsStub struct{ jetstream.JetStream }

func TestNewChecksOptions(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"empty name", func(o *Options) { o.Name = "" }, "name"},
		{"dotted name", func(o *Options) { o.Name = "a.b" }, "name"},
		{"wildcard source", func(o *Options) { o.Config.From = []string{"*"} }, "source name"},
		{"no source", func(o *Options) { o.Config.From = nil }, "no source"},
		{"no mapper", func(o *Options) { o.Mapper = nil }, "Mapper"},
		{"no jetstream", func(o *Options) { o.JetStream = nil }, "JetStream"},
		{"no destination", func(o *Options) { o.Destination = nil }, "Destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			tt.mod(&o)
			_, err := New(o)
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want ErrInvalidOptions about %s", err, tt.want)
			}
		})
	}
	if _, err := New(validOptions()); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}

func TestConsumerConfig(t *testing.T) {
	o := validOptions()
	o.Config.Batch = config.Batch{MaxEvents: 1000, MaxBytes: 8 << 20, MaxWait: 2 * time.Second}
	o.DestinationBatch = plugins.BatchLimits{MaxEvents: 200, MaxBytes: 1 << 20}
	o.MaxInFlight = 3
	o.CallTimeout = 20 * time.Second
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := p.ConsumerConfig()
	if c.Durable != "pipeline_web-to-meta" || c.DeliverPolicy != jetstream.DeliverAllPolicy || c.AckPolicy != jetstream.AckExplicitPolicy || c.MaxDeliver != -1 {
		t.Errorf("consumer = %+v", c)
	}
	if want := []string{"events.web.>", "events.app.>", "replay.web-to-meta"}; strings.Join(c.FilterSubjects, " ") != strings.Join(want, " ") {
		t.Errorf("filter subjects = %v, want %v", c.FilterSubjects, want)
	}
	// The destination's limits cap the pipeline's; MaxAckPending follows.
	if p.lim.maxEvents != 200 || p.lim.maxBytes != 1<<20 || p.lim.maxWait != 2*time.Second || c.MaxAckPending != 200*3*2 {
		t.Errorf("limits = %+v, max ack pending %d", p.lim, c.MaxAckPending)
	}
	if c.AckWait != 2*2*time.Second+3*20*time.Second+10*time.Second {
		t.Errorf("ack wait = %s", c.AckWait)
	}
	if p.prefetch != 400 {
		t.Errorf("prefetch = %d", p.prefetch)
	}
}

func TestDefaultsOfAZeroConfig(t *testing.T) {
	p, err := New(validOptions())
	if err != nil {
		t.Fatal(err)
	}
	l := p.lim
	if l.maxEvents != config.DefaultBatchMaxEvents || l.maxBytes != config.DefaultBatchMaxBytes || l.maxAttempts != config.DefaultRetryMaxAttempts ||
		l.backoff != config.DefaultRetryBackoff || l.maxBackoff != config.DefaultRetryMaxBackoff || l.maxAge != 0 {
		t.Fatalf("limits = %+v", l)
	}
	if p.opts.DestinationName != "meta" || p.opts.Stream != "EVENTS" {
		t.Fatalf("options = %+v", p.opts)
	}
}

func TestDelay(t *testing.T) {
	o := validOptions()
	o.Config.Retry = config.Retry{MaxAttempts: 20, Backoff: time.Second, MaxBackoff: 10 * time.Second}
	o.MaxRetryAfter = time.Hour
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 500 * time.Millisecond, time.Second},
		{2, 0, time.Second, 2 * time.Second},
		{3, 0, 2 * time.Second, 4 * time.Second},
		{4, 0, 4 * time.Second, 8 * time.Second},
		{5, 0, 5 * time.Second, 10 * time.Second}, // capped by max_backoff
		{1000, 0, 5 * time.Second, 10 * time.Second},
		{1, 30 * time.Second, 30 * time.Second, 30 * time.Second},     // a longer retry-after wins
		{4, 100 * time.Millisecond, 4 * time.Second, 8 * time.Second}, // a shorter one does not
		{1, 48 * time.Hour, time.Hour, time.Hour},                     // capped by MaxRetryAfter
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := p.delay(tt.attempt, tt.retryAfter, rand.Float64())
			if d < tt.lo || d > tt.hi {
				t.Fatalf("delay(%d, %s) = %s, want within [%s, %s]", tt.attempt, tt.retryAfter, d, tt.lo, tt.hi)
			}
			seen[d] = true
		}
		if tt.lo != tt.hi && len(seen) < 2 {
			t.Errorf("delay(%d, %s) has no jitter", tt.attempt, tt.retryAfter)
		}
		// One draw, one delay: a batch's events are due again together.
		if j := rand.Float64(); p.delay(tt.attempt, tt.retryAfter, j) != p.delay(tt.attempt, tt.retryAfter, j) {
			t.Errorf("delay(%d, %s) differs for one jitter", tt.attempt, tt.retryAfter)
		}
		if lo, hi := p.delay(tt.attempt, tt.retryAfter, 0), p.delay(tt.attempt, tt.retryAfter, 0.999999); lo < tt.lo || hi > tt.hi {
			t.Errorf("delay(%d, %s) spans %s–%s, want within [%s, %s]", tt.attempt, tt.retryAfter, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestEncodeDeadLetterFitsTheLimit(t *testing.T) {
	big := `{"messageId":"m","pad":"` + strings.Repeat("x", 5000) + `"}`
	d := DeadLetter{Pipeline: "p", Reason: "nope", StreamSeq: 42, Event: json.RawMessage(big), Mapped: json.RawMessage(big)}
	body, err := encodeDeadLetter(&d, 1<<20)
	if err != nil || !strings.Contains(string(body), `"mapped"`) {
		t.Fatalf("roomy: %v %.80s", err, body)
	}
	body, err = encodeDeadLetter(&d, 8000)
	if err != nil || strings.Contains(string(body), `"mapped"`) || !strings.Contains(string(body), `"event"`) || len(body) > 8000 {
		t.Fatalf("without mapped: %v %d bytes", err, len(body))
	}
	body, err = encodeDeadLetter(&d, 2000)
	if err != nil || strings.Contains(string(body), `"event"`) || !strings.Contains(string(body), "sequence 42") {
		t.Fatalf("without event: %v %s", err, body)
	}
	// An event that is not JSON is kept as bytes.
	d = DeadLetter{EventBytes: []byte("not json")}
	body, _ = encodeDeadLetter(&d, 0)
	var back DeadLetter
	if err := json.Unmarshal(body, &back); err != nil || string(back.event()) != "not json" {
		t.Fatalf("round trip: %v %s", err, body)
	}
}

// TestEventMessageID: the messageId of a stored event without headers is
// read from its JSON, at once when it leads, by decoding otherwise.
func TestEventMessageID(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{`{"messageId":"m-1","type":"track"}`, "m-1"},
		{`{"messageId":"a\"b","type":"track"}`, `a"b`},
		{`{"messageId":"caf\u00e9"}`, "café"},
		{`{"type":"track","messageId":"m-2"}`, "m-2"},
		{`{"messageId":12}`, ""},
		{`not json`, ""},
	} {
		if got := eventMessageID([]byte(tc.data)); got != tc.want {
			t.Errorf("eventMessageID(%s) = %q, want %q", tc.data, got, tc.want)
		}
	}
}
