package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/plugins"
)

// Limits of one state call.
const (
	maxStateEntries = 10_000
	maxKeyBytes     = 1024
	getWorkers      = 64
)

// state is one destination's key-value state in JetStream. The bucket is
// an ordinary KV bucket as `nats kv` knows it (stream KV_<bucket>,
// subjects $KV.<bucket>.>), created on first use with per-message TTLs
// allowed and no bucket-wide max age: every write carries its own
// Nats-TTL (the plugin's, or the default), so a key may live longer or
// shorter than the default, and an expired key leaves no marker behind,
// which keeps create-if-absent a single expected-sequence check.
type state struct {
	bus      *bus.Bus
	bucket   string
	replicas int
	ttl      time.Duration

	mu     sync.Mutex
	stream jetstream.Stream // nil until created
}

func newState(b *bus.Bus, destination string, replicas int, ttl time.Duration) *state {
	return &state{bus: b, bucket: "sb_state_" + destination, replicas: replicas, ttl: ttl}
}

// ensure creates or updates the bucket's stream once, with the events
// stream's replicas. While the cluster has no leader for it, it retries
// within ctx (the call's deadline); a call that runs out of time fails and
// the next one tries again.
func (s *state) ensure(ctx context.Context) (jetstream.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil {
		return s.stream, nil
	}
	st, err := bus.EnsureStream(ctx, s.bus.JetStream(), jetstream.StreamConfig{
		Name:              "KV_" + s.bucket,
		Description:       "Switchboard plugin state (create-if-absent, per-key TTL)",
		Subjects:          []string{"$KV." + s.bucket + ".>"},
		MaxMsgsPerSubject: 1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgSize:        -1,
		MaxConsumers:      -1,
		Storage:           jetstream.FileStorage,
		Replicas:          s.replicas,
		Discard:           jetstream.DiscardNew,
		AllowRollup:       true,
		DenyDelete:        true,
		AllowDirect:       true,
		Duplicates:        2 * time.Minute,
		AllowMsgTTL:       true,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", s.bucket, err)
	}
	s.stream = st
	return st, nil
}

// subject is the subject of a plugin's key. Keys may be any non-empty
// string; characters a NATS subject token does not take (and '=' and '.')
// are escaped as =XX, so distinct keys never collide.
func (s *state) subject(key string) (string, error) {
	if key == "" {
		return "", errors.New("empty state key")
	}
	if len(key) > maxKeyBytes {
		return "", fmt.Errorf("state key longer than %d bytes", maxKeyBytes)
	}
	var b strings.Builder
	b.Grow(len("$KV.") + len(s.bucket) + 1 + len(key))
	b.WriteString("$KV.")
	b.WriteString(s.bucket)
	b.WriteByte('.')
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '/':
			b.WriteByte(c)
		default:
			const hex = "0123456789ABCDEF"
			b.WriteByte('=')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String(), nil
}

// ttlHeader is a TTL as the Nats-TTL header wants it: whole seconds, at
// least one.
func (s *state) ttlHeader(ttl time.Duration) string {
	if ttl <= 0 {
		ttl = s.ttl
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

func checkCount(n int) error {
	if n > maxStateEntries {
		return fmt.Errorf("too many keys in one call: %d (at most %d)", n, maxStateEntries)
	}
	return nil
}

// get reads every key concurrently with direct gets: one round trip of
// latency for the whole call.
func (s *state) get(ctx context.Context, keys []string) (map[string][]byte, error) {
	if err := checkCount(len(keys)); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	if len(keys) == 0 {
		return out, nil
	}
	subjects := make([]string, len(keys))
	for i, k := range keys {
		var err error
		if subjects[i], err = s.subject(k); err != nil {
			return nil, err
		}
	}
	st, err := s.ensure(ctx)
	if err != nil {
		return nil, err
	}
	values := make([][]byte, len(keys))
	found := make([]bool, len(keys))
	errs := make([]error, len(keys))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(getWorkers, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				m, err := st.GetLastMsgForSubject(ctx, subjects[i])
				switch {
				case errors.Is(err, jetstream.ErrMsgNotFound):
				case err != nil:
					errs[i] = err
				case deleted(m.Header):
				default:
					values[i], found[i] = m.Data, true
				}
			}
		}()
	}
	for i := range keys {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, k := range keys {
		if errs[i] != nil {
			return nil, fmt.Errorf("state get: %w", errs[i])
		}
		if found[i] {
			out[k] = values[i]
		}
	}
	return out, nil
}

// deleted reports whether a message is a KV delete or purge marker (as
// `nats kv del` would leave).
func deleted(h nats.Header) bool {
	if len(h) == 0 {
		return false
	}
	return h.Get("KV-Operation") != "" || h.Get(jetstream.MarkerReasonHeader) != ""
}

// lateCreate is how long a create-if-absent keeps trying after its caller
// stopped waiting. A NATS node lost with the bucket's leader leaves the
// bucket without one for 4 to 9 seconds; a plugin recording what it sent
// (Meta's dedupe) may give up sooner, and the record must still land, or
// a redelivery of the event would send it again. A late create cannot
// overwrite anything, so finishing it is always safe.
const lateCreate = 30 * time.Second

// publish sends one message per entry asynchronously and then collects
// every acknowledgement: the whole call costs one round trip. Across a
// leader election of the bucket it publishes again what was not
// acknowledged, within ctx (Bus.PublishAll). With ifAbsent, each message
// expects its subject to be empty, and the result says which entries were
// stored by this call; an entry whose first copy may have been stored
// before a retry found it present counts as not stored. A create-if-absent
// whose ctx ends first goes on in the background for up to lateCreate.
func (s *state) publish(ctx context.Context, entries []plugins.Entry, ttl time.Duration, ifAbsent bool) ([]bool, error) {
	if err := checkCount(len(entries)); err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return []bool{}, nil
	}
	if _, err := s.ensure(ctx); err != nil {
		return nil, err
	}
	ttlValue := []string{s.ttlHeader(ttl)}
	msgs := make([]*nats.Msg, len(entries))
	for i, e := range entries {
		subj, err := s.subject(e.Key)
		if err != nil {
			return nil, err
		}
		h := nats.Header{jetstream.MsgTTLHeader: ttlValue}
		if ifAbsent {
			h[jetstream.ExpectedLastSubjSeqHeader] = []string{"0"}
		}
		msgs[i] = &nats.Msg{Subject: subj, Header: h, Data: e.Value}
	}
	var outs []bus.Outcome
	var err error
	if ifAbsent {
		type published struct {
			outs []bus.Outcome
			err  error
		}
		done := make(chan published, 1)
		go func() {
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lateCreate)
			defer cancel()
			outs, err := s.bus.PublishAll(bctx, msgs)
			done <- published{outs, err}
		}()
		select {
		case p := <-done:
			outs, err = p.outs, p.err
		case <-ctx.Done():
			return nil, fmt.Errorf("state write: %w (still being written, for up to %s)", ctx.Err(), lateCreate)
		}
	} else {
		outs, err = s.bus.PublishAll(ctx, msgs)
	}
	if err != nil {
		return nil, fmt.Errorf("state write: %w", err)
	}
	stored := make([]bool, len(entries))
	for i, o := range outs {
		switch {
		case o.Err == nil:
			stored[i] = true
		case ifAbsent && wrongLastSequence(o.Err):
			// the key exists
		default:
			return nil, fmt.Errorf("state write: %w", o.Err)
		}
	}
	return stored, nil
}

func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// delete purges every key's subject, concurrently. Purging leaves no
// marker, so a later create-if-absent of the key succeeds.
func (s *state) delete(ctx context.Context, keys []string) error {
	if err := checkCount(len(keys)); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	subjects := make([]string, len(keys))
	for i, k := range keys {
		var err error
		if subjects[i], err = s.subject(k); err != nil {
			return err
		}
	}
	st, err := s.ensure(ctx)
	if err != nil {
		return err
	}
	errs := make([]error, len(keys))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(getWorkers, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs[i] = st.Purge(ctx, jetstream.WithPurgeSubject(subjects[i]))
			}
		}()
	}
	for i := range keys {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("state delete: %w", err)
	}
	return nil
}
