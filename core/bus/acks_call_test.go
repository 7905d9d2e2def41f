package bus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func openTestBus(t *testing.T, timeout time.Duration) *Bus {
	t.Helper()
	b, err := Open(context.Background(), Options{StoreDir: t.TempDir(), DuplicateWindow: time.Minute, PublishTimeout: timeout})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestReleasedCallIgnoresLateAnswers: an acknowledgement for a call that
// ended must not settle a message of a later call, even when the later
// call reuses the ended one's memory.
func TestReleasedCallIgnoresLateAnswers(t *testing.T) {
	b := openTestBus(t, 0)
	for round := range 20 {
		old := b.acks.register(&publishing{outs: make([]Outcome, 3)})
		stale := old.reply[1]
		b.acks.release(old)

		p := &publishing{outs: make([]Outcome, 3)}
		c := b.acks.register(p)
		c.mu.Lock()
		c.flight[1], c.left = true, 1
		c.mu.Unlock()
		// An answer handler that looked the ended call up just before it
		// ended holds the memory the new call now uses: map the old id to
		// it to be that handler.
		staleID, _, ok := parseReply(stale[len(b.acks.prefix):])
		if !ok {
			t.Fatalf("reply subject %q", stale)
		}
		b.acks.mu.Lock()
		b.acks.calls[staleID] = c
		b.acks.mu.Unlock()
		// The stale answer first, then the call's own: answers are handled
		// in order, so when the call is settled both were seen.
		if err := b.nc.Publish(stale, []byte(`{"stream":"EVENTS","seq":9}`)); err != nil {
			t.Fatal(err)
		}
		if err := b.nc.Publish(c.reply[1], []byte(`{"stream":"EVENTS","seq":10}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.wake:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the call's own answer never woke it", round)
		}
		c.mu.Lock()
		got := p.outs[1].Ack
		c.mu.Unlock()
		if got == nil || got.Sequence != 10 {
			t.Fatalf("round %d: message 1 settled by %+v, want its own answer (seq 10)", round, got)
		}
		b.acks.mu.Lock()
		delete(b.acks.calls, staleID)
		b.acks.mu.Unlock()
		b.acks.release(c)
	}
}

// TestStallCountsFromTheLastAnswer: a message that is never answered is
// published again ackStall after the last answer of its attempt, not after
// the attempt began — a slow trickle of answers is not a stall.
func TestStallCountsFromTheLastAnswer(t *testing.T) {
	b := openTestBus(t, ackStall+ackStall/2+time.Second)
	// A subject outside the stream with a subscriber that answers the
	// first message late and never the second, and records when each
	// copy arrived.
	var mu sync.Mutex
	var seen []string
	var at []time.Duration
	start := time.Now()
	sub, err := b.nc.Subscribe("silent.x", func(m *nats.Msg) {
		mu.Lock()
		seen, at = append(seen, string(m.Data)), append(at, time.Since(start))
		first := len(seen) == 1
		mu.Unlock()
		if first {
			go func() {
				time.Sleep(ackStall / 2)
				_ = m.Respond([]byte(`{"stream":"EVENTS","seq":1}`))
			}()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	_, err = b.Publish(context.Background(), []Message{
		{Subject: "silent.x", Data: []byte("a")},
		{Subject: "silent.x", Data: []byte("b")},
	})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("publish = %v, want ErrUnavailable (one message is never answered)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 3 || seen[2] != "b" {
		t.Fatalf("copies received %q, want a, b, then b again", seen)
	}
	// The answer to "a" came ackStall/2 in, so "b" may be sent again no
	// sooner than ackStall after that.
	if min := ackStall/2 + ackStall; at[2] < min-50*time.Millisecond {
		t.Fatalf("b sent again after %s, before %s (ackStall after the last answer)", at[2], min)
	}
}
