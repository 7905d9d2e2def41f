package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// acks receives the acknowledgements of Bus.Publish on one wildcard inbox
// subscription. Each message's reply subject names its call and index
// (<prefix><call>.<index>), so an acknowledgement costs a map lookup and a
// small parse — where jetstream.PublishMsgAsync spends a future with two
// channels, a timer, a Msg and a JSON decode per message, which at tens of
// thousands of events a second was a tenth of ingest's CPU and a quarter
// of its allocations.
type acks struct {
	nc     *nats.Conn
	prefix string
	sub    *nats.Subscription

	mu    sync.Mutex
	calls map[uint64]*ackCall
	next  uint64
	pool  sync.Pool // of *ackCall
}

func newAcks(nc *nats.Conn) (*acks, error) {
	a := &acks{nc: nc, prefix: nc.NewInbox() + ".", calls: map[uint64]*ackCall{}}
	sub, err := subscribeInbox(nc, a.prefix+"*.*", a.receive)
	if err != nil {
		return nil, err
	}
	a.sub = sub
	return a, nil
}

// subscribeInbox subscribes cb to the acknowledgements on subject, with no
// pending limits: in-flight publishes are bounded by the requests being
// answered, and an acknowledgement dropped as a slow consumer would only
// stall a call.
func subscribeInbox(nc *nats.Conn, subject string, cb nats.MsgHandler) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(subject, cb)
	if err != nil {
		return nil, fmt.Errorf("bus: acknowledgement inbox: %w", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("bus: acknowledgement inbox: %w", err)
	}
	return sub, nil
}

// ackCall is one Publish call's state across its attempts. Calls of
// Publish (which keeps no outcome) come from and go back to acks.pool.
type ackCall struct {
	id     uint64
	reply  []string // per message: its reply subject
	wake   chan struct{}
	mu     sync.Mutex
	p      *publishing
	acked  []jetstream.PubAck // backing store of p.outs[i].Ack
	flight []bool             // awaiting an answer in the current attempt
	left   int                // messages of the current attempt unanswered
	last   time.Time          // when the current attempt last got an answer
	again  []int              // to publish again after the current attempt
	buf    []byte             // reply subjects, built
	ends   []int              // reply subjects, their ends in buf
}

func (a *acks) register(p *publishing) *ackCall {
	c, _ := a.pool.Get().(*ackCall)
	if c == nil {
		c = &ackCall{wake: make(chan struct{}, 1)}
	}
	n := len(p.outs)
	a.mu.Lock()
	a.next++
	id := a.next
	a.calls[id] = c
	a.mu.Unlock()
	c.mu.Lock()
	c.id, c.p, c.left = id, p, 0
	c.acked = resize(c.acked, n)
	c.flight = resize(c.flight, n)
	c.reply = resize(c.reply, n)
	c.ends = resize(c.ends, n)
	c.again = c.again[:0]
	c.mu.Unlock()
	// A wake-up left over from the previous call is harmless: the waiting
	// loop checks left before it sleeps again.
	// Every reply subject is a slice of one string: one allocation for
	// the call instead of one per message.
	b := strconv.AppendUint(append(c.buf[:0], a.prefix...), id, 10)
	b = append(b, '.')
	head := len(b)
	for i := range c.reply {
		b = strconv.AppendInt(append(b, b[:head]...), int64(i), 10)
		c.ends[i] = len(b)
	}
	c.buf = b
	all, start := string(b[head:]), head
	for i, end := range c.ends {
		c.reply[i], start = all[start-head:end-head], end
	}
	return c
}

// resize returns s with length n, its elements zero, reusing its array
// when it is large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// unregister ends a call: later answers to it are ignored. Its outcomes
// (p.outs, whose Acks point into c.acked) stay the caller's.
func (a *acks) unregister(c *ackCall) {
	a.mu.Lock()
	delete(a.calls, c.id)
	a.mu.Unlock()
}

// release ends a call whose outcomes the caller no longer needs, and keeps
// its memory for the next call.
func (a *acks) release(c *ackCall) {
	a.mu.Lock()
	delete(a.calls, c.id)
	a.mu.Unlock()
	c.mu.Lock()
	c.id, c.p = 0, nil // an answer that looked the call up before the delete sees it ended
	c.mu.Unlock()
	a.pool.Put(c)
}

// receive handles one acknowledgement (or no-responders status).
func (a *acks) receive(m *nats.Msg) {
	id, i, ok := parseReply(m.Subject[len(a.prefix):])
	if !ok {
		return
	}
	a.mu.Lock()
	c := a.calls[id]
	a.mu.Unlock()
	if c == nil {
		return // a late answer to a call that ended
	}
	var ack jetstream.PubAck
	var err error
	switch {
	case len(m.Data) == 0 && m.Header.Get("Status") == "503":
		err = jetstream.ErrNoStreamResponse
	default:
		err = parsePubAck(m.Data, &ack)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.id != id || i >= len(c.flight) || !c.flight[i] {
		return // the call ended, or answered already, or resent and answered by its copy
	}
	c.flight[i] = false
	c.left--
	c.last = time.Now()
	if err != nil {
		c.again = c.p.settle(i, err, c.again)
	} else {
		c.acked[i] = ack
		c.p.outs[i].Ack = &c.acked[i]
	}
	if c.left == 0 {
		// Only the last answer wakes the waiting call: one wake-up per
		// attempt rather than one per message.
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// parseReply reads "<call>.<index>".
func parseReply(s string) (id uint64, i int, ok bool) {
	dot := -1
	for k := 0; k < len(s); k++ {
		if s[k] == '.' {
			dot = k
			break
		}
	}
	if dot <= 0 {
		return 0, 0, false
	}
	id, err := strconv.ParseUint(s[:dot], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	i, err = strconv.Atoi(s[dot+1:])
	return id, i, err == nil && i >= 0
}

// parsePubAck reads JetStream's answer to a publish. The common answer,
// {"stream":"EVENTS","seq":42} with perhaps "duplicate":true (and
// "domain"), is read without encoding/json; anything else — an error, an
// unexpected shape — goes through encoding/json as nats.go reads it.
func parsePubAck(data []byte, ack *jetstream.PubAck) error {
	if bytes.Contains(data, []byte(`"error"`)) || !fastPubAck(data, ack) {
		var resp struct {
			Error *jetstream.APIError `json:"error,omitempty"`
			jetstream.PubAck
		}
		if err := json.Unmarshal(data, &resp); err != nil {
			return fmt.Errorf("%w: %v", jetstream.ErrInvalidJSAck, err)
		}
		if resp.Error != nil {
			return resp.Error
		}
		if resp.Stream == "" {
			return jetstream.ErrInvalidJSAck
		}
		*ack = resp.PubAck
	}
	return nil
}

// fastPubAck reads an acknowledgement whose every value is a plain string,
// an unsigned integer or a boolean, and reports whether it could.
func fastPubAck(data []byte, ack *jetstream.PubAck) bool {
	*ack = jetstream.PubAck{}
	s := bytes.TrimSpace(data)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return false
	}
	s = s[1 : len(s)-1]
	for len(s) > 0 {
		// "key":
		if s[0] != '"' {
			return false
		}
		end := bytes.IndexByte(s[1:], '"')
		if end < 0 || len(s) < end+3 || s[end+2] != ':' {
			return false
		}
		key := s[1 : end+1]
		s = s[end+3:]
		// value, up to the next comma
		var val []byte
		if len(s) > 0 && s[0] == '"' {
			vend := bytes.IndexByte(s[1:], '"')
			if vend < 0 || !plainASCII(s[1:vend+1]) {
				return false
			}
			val, s = s[:vend+2], s[vend+2:]
		} else {
			comma := bytes.IndexByte(s, ',')
			if comma < 0 {
				comma = len(s)
			}
			val, s = s[:comma], s[comma:]
		}
		if len(s) > 0 {
			if s[0] != ',' {
				return false
			}
			s = s[1:]
		}
		switch string(key) {
		case "stream":
			if len(val) < 2 || val[0] != '"' {
				return false
			}
			ack.Stream = streamName(val[1 : len(val)-1])
		case "domain":
			if len(val) < 2 || val[0] != '"' {
				return false
			}
			ack.Domain = string(val[1 : len(val)-1])
		case "seq":
			n, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil || len(val) > 1 && val[0] == '0' {
				return false
			}
			ack.Sequence = n
		case "duplicate":
			switch string(val) {
			case "true":
				ack.Duplicate = true
			case "false":
			default:
				return false
			}
		default:
			return false
		}
	}
	return ack.Stream != ""
}

// lastStream is the stream name of the last acknowledgement read: every
// acknowledgement names the same stream, which then costs no allocation.
var lastStream atomic.Pointer[string]

func streamName(b []byte) string {
	if p := lastStream.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	lastStream.Store(&s)
	return s
}

// plainASCII reports whether a JSON string's content is printable ASCII
// without escapes: then its bytes are its value.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	return true
}

// attempt publishes the messages todo (message i as msg(i) returns it,
// valid until the next call) with reply subjects on the inbox and collects
// their outcomes, as publishing.attempt does with futures.
func (c *ackCall) attempt(ctx context.Context, nc *nats.Conn, todo []int, stall time.Duration, msg func(i int) *nats.Msg) ([]int, error) {
	p := c.p
	c.mu.Lock()
	c.again = c.again[:0]
	for _, i := range todo {
		c.flight[i] = true
	}
	c.left = len(todo)
	c.mu.Unlock()
	for k, i := range todo {
		m := msg(i)
		m.Reply = c.reply[i]
		err := nc.PublishMsg(m)
		if err == nil {
			continue
		}
		if !Transient(err) {
			c.abandon()
			return nil, fmt.Errorf("%w: publish: %w", ErrUnavailable, err)
		}
		// Not sent: this one and the rest go in the next attempt.
		c.mu.Lock()
		p.lastErr = err
		for _, j := range todo[k:] {
			if c.flight[j] {
				c.flight[j] = false
				c.left--
				c.again = append(c.again, j)
			}
		}
		c.mu.Unlock()
		break
	}
	c.mu.Lock()
	c.last = time.Now()
	c.mu.Unlock()
	timer := time.NewTimer(stall)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if c.left == 0 {
			again := append([]int(nil), c.again...)
			c.mu.Unlock()
			return again, nil
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-timer.C:
			c.mu.Lock()
			if quiet := time.Since(c.last); quiet < stall {
				// Answers came meanwhile: wait until stall has passed
				// since the last one.
				c.mu.Unlock()
				timer.Reset(stall - quiet)
				continue
			}
			// Nothing answered for stall: take what has been answered
			// and publish the rest again.
			p.lastErr = fmt.Errorf("no acknowledgement for %s", stall)
			for i, f := range c.flight {
				if f {
					c.flight[i] = false
					p.outs[i].Resent = true
					c.again = append(c.again, i)
				}
			}
			c.left = 0
			again := append([]int(nil), c.again...)
			c.mu.Unlock()
			return again, nil
		case <-ctx.Done():
			c.abandon()
			return nil, p.unavailable(ctx)
		}
	}
}

// abandon stops waiting for the current attempt's answers.
func (c *ackCall) abandon() {
	c.mu.Lock()
	clear(c.flight)
	c.left = 0
	c.mu.Unlock()
}

func (a *acks) close() {
	if a.sub != nil {
		_ = a.sub.Unsubscribe()
	}
}
