package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/core/bus"
)

// seenFormat is the first byte of every seen-set message; a later layout
// gets another value, and a process that does not know it skips the
// message (it deduplicates less, it never loses an event).
const seenFormat = 1

// seenHeader is the message's length before the key hashes: the format
// byte and the generation's end (unix seconds, big-endian).
const seenHeader = 1 + 8

// seenPoll is how often a loading set asks the stream whether it has read
// everything; the last message read usually says so first.
const seenPoll = 50 * time.Millisecond

// seenSet is one destination's seen set (plugins.Host's Seen and
// MarkSeen). A KV key per event costs several hundred bytes of NATS
// memory for the whole dedupe window and two JetStream operations per
// event; a seen set costs 10 to 15 bytes per key (a hashSet) and one
// message per MarkSeen call.
//
// Each key is kept as the first 64 bits of its SHA-256 (stable across
// processes and versions), in generations by expiry: a key marked with
// time to live ttl goes into the generation that ends at the next
// multiple of ttl/8 (at least 1 s) after now+ttl, so it lives at least
// ttl and at most ttl/8 longer, and a whole generation is dropped
// at once when it ends. A lookup probes the live generations, about 9
// for one ttl.
//
// Marks are durable and shared through a JetStream stream (file storage,
// the events stream's replicas), one message per MarkSeen call holding the
// generation's end and the hashes, with a per-message TTL until that end.
// Every serve process tails the stream with an ordered consumer from its
// first message, so the marks of every process reach every other within
// milliseconds, and a restarted process reloads every live mark before
// its first Seen answers.
type seenSet struct {
	bus      *bus.Bus
	stream   string
	subject  string
	replicas int
	ttl      time.Duration
	log      *slog.Logger
	keys     func(float64) // reports the number of live keys; may be nil
	now      func() time.Time

	startMu sync.Mutex
	started bool
	tail    jetstream.ConsumeContext
	done    chan struct{} // closed by close: ends the readiness poll

	ready     chan struct{} // closed once the stream was read to its end
	readyOnce sync.Once
	applied   atomic.Uint64 // stream sequence of the last message applied

	mu     sync.RWMutex
	gens   map[int64]*hashSet // by end, unix seconds
	pruned int64              // unix second of the last prune
}

func newSeenSet(b *bus.Bus, destination string, replicas int, ttl time.Duration, log *slog.Logger, keys func(float64)) *seenSet {
	return &seenSet{
		bus:      b,
		stream:   "SB_SEEN_" + destination,
		subject:  "sb.seen." + destination,
		replicas: replicas,
		ttl:      ttl,
		log:      log.With("stream", "SB_SEEN_"+destination),
		keys:     keys,
		now:      time.Now,
		done:     make(chan struct{}),
		ready:    make(chan struct{}),
		gens:     map[int64]*hashSet{},
	}
}

// start creates the stream (once) and begins tailing it. While the
// cluster has no leader for it, it retries within ctx; a call that runs
// out of time fails and the next one tries again.
func (s *seenSet) start(ctx context.Context) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.started {
		return nil
	}
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	st, err := bus.EnsureStream(ctx, s.bus.JetStream(), jetstream.StreamConfig{
		Name:        s.stream,
		Description: "Switchboard plugin seen set (64-bit key hashes, one message per MarkSeen)",
		Subjects:    []string{s.subject},
		Storage:     jetstream.FileStorage,
		Replicas:    s.replicas,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		AllowMsgTTL: true,
		Duplicates:  2 * time.Minute,
	}, s.log)
	if err != nil {
		return fmt.Errorf("seen set %s: %w", s.stream, err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("seen set %s: %w", s.stream, err)
	}
	tail, err := cons.Consume(s.receive, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("seen set tail", "error", err)
	}))
	if err != nil {
		return fmt.Errorf("seen set %s: %w", s.stream, err)
	}
	s.tail, s.started = tail, true
	go s.waitLoaded(cons)
	return nil
}

// receive applies one message of the stream.
func (s *seenSet) receive(m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		return
	}
	s.apply(m.Data())
	s.applied.Store(meta.Sequence.Stream)
	if meta.NumPending == 0 {
		s.loaded()
	}
}

// waitLoaded marks the set ready once the consumer has nothing pending
// and everything it delivered was applied — which also covers an empty
// stream, and one whose last messages expired before they were read.
func (s *seenSet) waitLoaded(cons jetstream.Consumer) {
	t := time.NewTicker(seenPoll)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := cons.Info(ctx)
		cancel()
		if err == nil && info.NumPending == 0 && info.Delivered.Stream <= s.applied.Load() {
			s.loaded()
		}
		select {
		case <-s.ready:
			return
		case <-s.done:
			return
		case <-t.C:
		}
	}
}

func (s *seenSet) loaded() {
	s.readyOnce.Do(func() { close(s.ready) })
}

// apply adds the hashes of one message to their generation.
func (s *seenSet) apply(data []byte) {
	if len(data) < seenHeader || data[0] != seenFormat || (len(data)-seenHeader)%8 != 0 {
		return
	}
	end := int64(binary.BigEndian.Uint64(data[1:seenHeader]))
	now := s.now().Unix()
	if end <= now {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	gen := s.gens[end]
	if gen == nil {
		gen = &hashSet{}
		s.gens[end] = gen
	}
	for b := data[seenHeader:]; len(b) >= 8; b = b[8:] {
		gen.add(binary.BigEndian.Uint64(b))
	}
	s.pruneLocked(now)
}

// pruneLocked drops the generations that ended, at most once a second,
// and reports the number of live keys.
func (s *seenSet) pruneLocked(now int64) {
	if now == s.pruned {
		return
	}
	s.pruned = now
	n := 0
	for end, gen := range s.gens {
		if end <= now {
			delete(s.gens, end)
			continue
		}
		n += gen.len()
	}
	if s.keys != nil {
		s.keys(float64(n))
	}
}

// seenHash is the 64 bits of a key the set keeps.
func seenHash(key string) uint64 {
	sum := sha256.Sum256([]byte(key))
	return binary.BigEndian.Uint64(sum[:8])
}

// generationEnd is the end of the generation a key marked at now with ttl
// goes into: the next multiple of ttl/8 (at least 1 s) at or after
// now+ttl. Coarser steps keep fewer generations to probe (a miss probes
// each: 9 for one ttl) for keys kept a little longer.
func generationEnd(now time.Time, ttl time.Duration) int64 {
	step := int64(max(ttl/8, time.Second) / time.Second)
	exp := now.Add(ttl).Unix()
	return (exp + step - 1) / step * step
}

func checkKeys(keys []string) error {
	if err := checkCount(len(keys)); err != nil {
		return err
	}
	for _, k := range keys {
		if k == "" {
			return errors.New("empty seen key")
		}
	}
	return nil
}

// seen answers Seen once the set has loaded the stream.
func (s *seenSet) seen(ctx context.Context, keys []string) ([]bool, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	out := make([]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("seen set %s: still loading the marks already stored: %w", s.stream, ctx.Err())
	}
	now := s.now().Unix()
	s.mu.RLock()
	defer s.mu.RUnlock()
	live := make([]*hashSet, 0, len(s.gens))
	for end, gen := range s.gens {
		if end > now {
			live = append(live, gen)
		}
	}
	for i, k := range keys {
		h := seenHash(k)
		for _, gen := range live {
			if gen.has(h) {
				out[i] = true
				break
			}
		}
	}
	return out, nil
}

// mark adds keys to this process's set at once and stores them in the
// stream for every other process (and this one after a restart). When the
// store fails, the marks still hold in this process.
func (s *seenSet) mark(ctx context.Context, keys []string, ttl time.Duration) error {
	if err := checkKeys(keys); err != nil {
		return err
	}
	if ttl < 0 {
		return fmt.Errorf("negative ttl %v", ttl)
	}
	if len(keys) == 0 {
		return nil
	}
	if ttl == 0 {
		ttl = s.ttl
	}
	if err := s.start(ctx); err != nil {
		return err
	}
	now := s.now()
	end := generationEnd(now, ttl)
	data := make([]byte, seenHeader, seenHeader+8*len(keys))
	data[0] = seenFormat
	binary.BigEndian.PutUint64(data[1:], uint64(end))
	for _, k := range keys {
		data = binary.BigEndian.AppendUint64(data, seenHash(k))
	}
	s.apply(data)
	life := max(end-now.Unix(), 1)
	msg := &nats.Msg{Subject: s.subject, Data: data, Header: nats.Header{
		jetstream.MsgTTLHeader: []string{strconv.FormatInt(life, 10)},
	}}
	outs, err := s.bus.PublishAll(ctx, []*nats.Msg{msg})
	if err == nil {
		err = outs[0].Err
	}
	if err != nil {
		return fmt.Errorf("seen set %s: store: %w", s.stream, err)
	}
	return nil
}

// close stops tailing the stream.
func (s *seenSet) close() {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	if s.tail != nil {
		s.tail.Stop()
	}
}
