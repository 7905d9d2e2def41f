// Package seen keeps sets of keys seen within a time to live, compactly
// (10 to 15 bytes a key, no pointers for the garbage collector to scan),
// durably and shared by every serve process through a JetStream stream.
//
// Two parts of Switchboard use it: the plugin host's Seen and MarkSeen
// (Meta's 48-hour event_id dedupe), and ingest's messageId dedupe
// (Publisher), which lets serve turn JetStream's own Nats-Msg-Id window
// off with the embedded server: that window costs ~170 bytes of server
// memory per id, in objects the garbage collector scans on every cycle,
// and the header a quarter of JetStream's publishing throughput.
package seen

import (
	"context"
	"crypto/rand"
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

// ErrClosed is returned by a Set that was closed.
var ErrClosed = errors.New("seen set is closed")

// format is the first byte of every message of a set's stream; a later
// layout gets another value, and a process that does not know it skips
// the message (it deduplicates less, it never loses an event).
const format = 1

// header is the message's length before the key hashes: the format byte
// and the generation's end (unix seconds, big-endian).
const header = 1 + 8

// poll is how often a loading set asks the stream whether it has read
// everything; the last message read usually says so first.
const poll = 50 * time.Millisecond

// noteEvery is how often the marks of Note are stored, one message per
// generation.
const noteEvery = 100 * time.Millisecond

// Options describe a Set.
type Options struct {
	Stream      string // the JetStream stream holding the marks
	Subject     string // its one subject
	Description string
	Replicas    int           // the stream's replicas (0: 1)
	TTL         time.Duration // a mark's time to live when its call gives none
	// Steps is how many generations one TTL spans (0: 8): a key lives at
	// least its ttl and at most ttl/Steps longer (at least 1 s), and a
	// miss probes about Steps+1 generations.
	Steps int
	// LoadWait bounds how long a lookup waits for the set to load the
	// marks already stored (a restart with a long stream of them) before
	// it fails (0: 10s); ingest answers that with 503 and Retry-After.
	LoadWait time.Duration
	Logger   *slog.Logger  // nil: discard
	Keys     func(float64) // reports the number of live keys; may be nil
}

// Set is one set of seen keys.
//
// Each key is kept as the first 64 bits of its SHA-256 (Hash: stable
// across processes and versions), in generations by expiry: a key marked
// with time to live ttl goes into the generation that ends at the next
// multiple of ttl/Steps (at least 1 s) after now+ttl, and a whole
// generation is dropped at once when it ends.
//
// Marks are durable and shared through a JetStream stream (file storage),
// one message per Mark call (or per generation of the Notes of the last
// 100 ms) holding the generation's end and the hashes, with a per-message
// TTL until that end. Every serve process tails the stream with an
// ordered consumer from its first message, so the marks of every process
// reach every other within milliseconds, and a restarted process reloads
// every live mark before its first lookup answers.
type Set struct {
	bus    *bus.Bus
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	origin string // names this Set's messages, which it applied when it made them

	startMu sync.Mutex
	started bool
	tail    jetstream.ConsumeContext
	done    chan struct{} // closed by Close: ends the readiness poll and the note loop
	flushed chan struct{} // closed when the note loop has stored its last notes

	ready     chan struct{} // closed once the stream was read to its end
	readyOnce sync.Once
	applied   atomic.Uint64 // stream sequence of the last message applied

	mu     sync.RWMutex
	gens   map[int64]*hashSet // by end, unix seconds
	pruned int64              // unix second of the last prune

	noteMu sync.Mutex
	notes  map[int64][]uint64 // hashes noted and not yet stored, by generation end
}

// New returns a Set on b's JetStream; its stream is created by the first
// call that needs it.
func New(b *bus.Bus, o Options) *Set {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Steps <= 0 {
		o.Steps = 8
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Set{
		bus:     b,
		opts:    o,
		log:     log.With("stream", o.Stream),
		now:     time.Now,
		origin:  rand.Text(),
		done:    make(chan struct{}),
		flushed: make(chan struct{}),
		ready:   make(chan struct{}),
		gens:    map[int64]*hashSet{},
		notes:   map[int64][]uint64{},
	}
}

// Start creates the stream (once) and begins tailing it. While the
// cluster has no leader for it, it retries within ctx; a call that runs
// out of time fails and the next one tries again.
func (s *Set) Start(ctx context.Context) error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	if s.started {
		return nil
	}
	st, err := bus.EnsureStream(ctx, s.bus.JetStream(), jetstream.StreamConfig{
		Name:        s.opts.Stream,
		Description: s.opts.Description,
		Subjects:    []string{s.opts.Subject},
		Storage:     jetstream.FileStorage,
		Replicas:    s.opts.Replicas,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		AllowMsgTTL: true,
		Duplicates:  2 * time.Minute,
	}, s.log)
	if err != nil {
		return fmt.Errorf("seen set %s: %w", s.opts.Stream, err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("seen set %s: %w", s.opts.Stream, err)
	}
	tail, err := cons.Consume(s.receive, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("seen set tail", "error", err)
	}))
	if err != nil {
		return fmt.Errorf("seen set %s: %w", s.opts.Stream, err)
	}
	s.tail, s.started = tail, true
	go s.waitLoaded(cons)
	go s.noteLoop()
	return nil
}

// receive applies one message of the stream, unless this Set made it (it
// applied its marks when it made them: looking each up again cost ingest
// a cache miss per event).
func (s *Set) receive(m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		return
	}
	if m.Headers().Get(originHeader) != s.origin {
		s.apply(m.Data())
	}
	s.applied.Store(meta.Sequence.Stream)
	if meta.NumPending == 0 {
		s.loaded()
	}
}

// waitLoaded marks the set ready once the consumer has nothing pending
// and everything it delivered was applied — which also covers one whose
// last messages expired before they were read. A consumer that delivered
// nothing at all has nothing to apply: an empty stream, or one every mark
// of which expired (its sequence is then past 0, and the consumer reports
// its start, not a delivery, as the last stream sequence delivered).
func (s *Set) waitLoaded(cons jetstream.Consumer) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := cons.Info(ctx)
		cancel()
		if err == nil && info.NumPending == 0 &&
			(info.Delivered.Consumer == 0 || info.Delivered.Stream <= s.applied.Load()) {
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

// Loaded reports whether the set has read its stream to the end, so that
// it answers lookups without waiting.
func (s *Set) Loaded() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

func (s *Set) loaded() {
	s.readyOnce.Do(func() { close(s.ready) })
}

// apply adds the hashes of one message to their generation.
func (s *Set) apply(data []byte) {
	if len(data) < header || data[0] != format || (len(data)-header)%8 != 0 {
		return
	}
	end := int64(binary.BigEndian.Uint64(data[1:header]))
	s.add(end, func(gen *hashSet) {
		for b := data[header:]; len(b) >= 8; b = b[8:] {
			gen.add(binary.BigEndian.Uint64(b))
		}
	})
}

// add lets fill add keys to the generation ending at end, unless it has
// ended.
func (s *Set) add(end int64, fill func(gen *hashSet)) {
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
	fill(gen)
	s.pruneLocked(now)
}

// pruneLocked drops the generations that ended, at most once a second,
// and reports the number of live keys.
func (s *Set) pruneLocked(now int64) {
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
	if s.opts.Keys != nil {
		s.opts.Keys(float64(n))
	}
}

// Len is the number of live keys.
func (s *Set) Len() int {
	now := s.now().Unix()
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for end, gen := range s.gens {
		if end > now {
			n += gen.len()
		}
	}
	return n
}

// Hash is the 64 bits of key a set keeps.
func Hash(key string) uint64 {
	sum := sha256.Sum256([]byte(key))
	return binary.BigEndian.Uint64(sum[:8])
}

// generationEnd is the end of the generation a key marked at now with ttl
// goes into: the next multiple of ttl/steps (at least 1 s) at or after
// now+ttl. Coarser steps keep fewer generations to probe (a miss probes
// each: steps+1 for one ttl) for keys kept a little longer.
func generationEnd(now time.Time, ttl time.Duration, steps int) int64 {
	step := int64(max(ttl/time.Duration(steps), time.Second) / time.Second)
	exp := now.Add(ttl).Unix()
	return (exp + step - 1) / step * step
}

// Seen reports for each key whether it was marked within its time to
// live, once the set has loaded the stream (or ctx ends).
func (s *Set) Seen(ctx context.Context, keys []string) ([]bool, error) {
	out := make([]bool, len(keys))
	return out, s.Contains(ctx, hashAll(keys), out)
}

// hashAll is the Hash of each key.
func hashAll(keys []string) []uint64 {
	hashes := make([]uint64, len(keys))
	for i, k := range keys {
		hashes[i] = Hash(k)
	}
	return hashes
}

// encode is a message of the stream: hashes marked in the generation
// ending at end.
func encode(end int64, hashes []uint64) []byte {
	data := make([]byte, header, header+8*len(hashes))
	data[0] = format
	binary.BigEndian.PutUint64(data[1:], uint64(end))
	for _, h := range hashes {
		data = binary.BigEndian.AppendUint64(data, h)
	}
	return data
}

// Contains sets out[i] to whether hashes[i] (a Hash) was marked within its
// time to live, once the set has loaded the stream (or ctx ends, or
// Options.LoadWait passes first).
func (s *Set) Contains(ctx context.Context, hashes []uint64, out []bool) error {
	if len(hashes) == 0 {
		return nil
	}
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	select {
	case <-s.ready: // started and loaded: the usual case
	default:
		if err := s.Start(ctx); err != nil {
			return err
		}
		wait := s.opts.LoadWait
		if wait <= 0 {
			wait = 10 * time.Second
		}
		lctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		select {
		case <-s.ready:
		case <-lctx.Done():
			return fmt.Errorf("seen set %s: still loading the marks already stored: %w", s.opts.Stream, lctx.Err())
		}
	}
	now := s.now().Unix()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var buf [16]*hashSet
	live := buf[:0]
	for end, gen := range s.gens {
		if end > now {
			live = append(live, gen)
		}
	}
	for i, h := range hashes {
		out[i] = false
		for _, gen := range live {
			if gen.has(h) {
				out[i] = true
				break
			}
		}
	}
	return nil
}

// Mark adds keys to this process's set at once and stores them in the
// stream for every other process (and this one after a restart), with
// time to live ttl (0: the set's TTL). When the store fails, the marks
// still hold in this process.
func (s *Set) Mark(ctx context.Context, keys []string, ttl time.Duration) error {
	if ttl < 0 {
		return fmt.Errorf("negative ttl %v", ttl)
	}
	if len(keys) == 0 {
		return nil
	}
	if ttl == 0 {
		ttl = s.opts.TTL
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	now := s.now()
	end := generationEnd(now, ttl, s.opts.Steps)
	data := encode(end, hashAll(keys))
	s.apply(data)
	return s.store(ctx, now, end, data)
}

// store publishes one message of marks for the generation ending at end.
func (s *Set) store(ctx context.Context, now time.Time, end int64, data []byte) error {
	life := max(end-now.Unix(), 1)
	msg := &nats.Msg{Subject: s.opts.Subject, Data: data, Header: nats.Header{
		jetstream.MsgTTLHeader: []string{strconv.FormatInt(life, 10)},
		originHeader:           []string{s.origin},
	}}
	outs, err := s.bus.PublishAll(ctx, []*nats.Msg{msg})
	if err == nil {
		err = outs[0].Err
	}
	if err != nil {
		return fmt.Errorf("seen set %s: store: %w", s.opts.Stream, err)
	}
	return nil
}

// originHeader names the Set that stored a message of marks.
const originHeader = "Switchboard-Seen-Origin"

// Note marks hashes (each a Hash) with the set's TTL: in this process at
// once, and in the stream with the other notes of the same 100 ms, in the
// background. Note does not wait: a process that ends abruptly may not
// have stored the notes of its last 100 ms. The set must have been
// started (by Start or Contains).
func (s *Set) Note(hashes []uint64) {
	if len(hashes) == 0 {
		return
	}
	end := generationEnd(s.now(), s.opts.TTL, s.opts.Steps)
	s.add(end, func(gen *hashSet) {
		for _, h := range hashes {
			gen.add(h)
		}
	})
	s.noteMu.Lock()
	s.notes[end] = append(s.notes[end], hashes...)
	s.noteMu.Unlock()
}

// noteLoop stores the notes every noteEvery, and a last time on Close.
func (s *Set) noteLoop() {
	defer close(s.flushed)
	t := time.NewTicker(noteEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			s.storeNotes()
			return
		case <-t.C:
			s.storeNotes()
		}
	}
}

// storeNotes publishes the pending notes, one message per generation.
func (s *Set) storeNotes() {
	s.noteMu.Lock()
	notes := s.notes
	if len(notes) == 0 {
		s.noteMu.Unlock()
		return
	}
	s.notes = map[int64][]uint64{}
	s.noteMu.Unlock()
	now := s.now()
	for end, hashes := range notes {
		data := encode(end, hashes)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.store(ctx, now, end, data)
		cancel()
		if err != nil {
			// They still hold in this process; other processes, and
			// this one after a restart, deduplicate less.
			s.log.Warn("storing seen marks failed; they hold in this process only", "keys", len(hashes), "error", err)
		}
	}
}

// Close stores the notes not yet stored and stops tailing the stream.
func (s *Set) Close() {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	if s.started {
		<-s.flushed
	}
	if s.tail != nil {
		s.tail.Stop()
	}
}
