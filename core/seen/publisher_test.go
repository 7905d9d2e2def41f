package seen

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/core/bus"
	"github.com/switchboard-cdp/switchboard/core/bus/bustest"
)

func messages(prefix string, n int) []bus.Message {
	out := make([]bus.Message, n)
	for i := range out {
		id := fmt.Sprintf("web:%s-%d", prefix, i)
		out[i] = bus.Message{Subject: "events.web.track", ID: id, Data: []byte(`{"messageId":"` + id + `"}`)}
	}
	return out
}

// failing is a Next whose store is down: it fails every call after
// storing nothing.
type failing struct{ calls int }

func (f *failing) Publish(context.Context, []bus.Message) (bus.PublishResult, error) {
	f.calls++
	return bus.PublishResult{}, bus.ErrUnavailable
}

func TestPublisherStoresEachIDOnce(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	set := New(b, Options{Stream: "SB_INGEST_IDS", Subject: "sb.ingest.ids", TTL: time.Hour, Steps: 2})
	t.Cleanup(set.Close)
	ctx := context.Background()

	// The store is down: nothing is noted, so the retry is stored.
	down := &failing{}
	if _, err := (&Publisher{Next: down, Set: set}).Publish(ctx, messages("a", 10)); !errors.Is(err, bus.ErrUnavailable) {
		t.Fatalf("store down: %v", err)
	}
	p := &Publisher{Next: b, Set: set}
	res, err := p.Publish(ctx, messages("a", 10))
	if err != nil || res.Stored != 10 || res.Duplicates != 0 {
		t.Fatalf("first: %+v, %v; want 10 stored", res, err)
	}
	// A retry with 5 new events among them stores only those.
	again := append(messages("a", 10)[3:], messages("b", 5)...)
	res, err = p.Publish(ctx, again)
	if err != nil || res.Stored != 5 || res.Duplicates != 7 {
		t.Fatalf("retry: %+v, %v; want 5 stored, 7 duplicates", res, err)
	}
	// Only duplicates: Next is not called.
	res, err = (&Publisher{Next: down, Set: set}).Publish(ctx, messages("b", 5))
	if err != nil || res.Duplicates != 5 || down.calls != 1 {
		t.Fatalf("all duplicates: %+v, %v, %d calls of the store", res, err, down.calls)
	}
	info, err := b.JetStream().Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 15 {
		t.Fatalf("the events stream holds %d messages; want 15", n)
	}
	if n := set.Len(); n != 15 {
		t.Fatalf("the set holds %d ids; want 15", n)
	}

	// Another process (or this one restarted) gets the notes from the
	// stream once they are stored.
	set.Close()
	other := New(b, Options{Stream: "SB_INGEST_IDS", Subject: "sb.ingest.ids", TTL: time.Hour, Steps: 2})
	t.Cleanup(other.Close)
	res, err = (&Publisher{Next: down, Set: other}).Publish(ctx, messages("a", 10))
	if err != nil || res.Duplicates != 10 {
		t.Fatalf("after a restart: %+v, %v; want 10 duplicates", res, err)
	}
}

// gated is a Next that holds each call until open is closed, then fails
// the first call when failFirst is set and stores the others through next.
type gated struct {
	next      Next
	entered   chan struct{}
	open      chan struct{}
	failFirst bool
	calls     atomic.Int32
}

func (g *gated) Publish(ctx context.Context, msgs []bus.Message) (bus.PublishResult, error) {
	n := g.calls.Add(1)
	g.entered <- struct{}{}
	<-g.open
	if g.failFirst && n == 1 {
		return bus.PublishResult{}, bus.ErrUnavailable
	}
	return g.next.Publish(ctx, msgs)
}

// TestPublisherClaimsIDsInFlight: without JetStream's Nats-Msg-Id window,
// an ID repeated within a call, or being stored by another call at that
// moment, is still stored once; and when the other call fails, this one
// stores it.
func TestPublisherClaimsIDsInFlight(t *testing.T) {
	b := bustest.Open(t, bus.Options{NoMsgIDs: true})
	set := New(b, Options{Stream: "SB_INGEST_IDS", Subject: "sb.ingest.ids", TTL: time.Hour, Steps: 2})
	t.Cleanup(set.Close)
	ctx := context.Background()

	p := &Publisher{Next: b, Set: set}
	twice := append(messages("r", 3), messages("r", 1)...)
	if res, err := p.Publish(ctx, twice); err != nil || res.Stored != 3 || res.Duplicates != 1 {
		t.Fatalf("repeat in one call: %+v, %v; want 3 stored, 1 duplicate", res, err)
	}

	for _, firstFails := range []bool{false, true} {
		prefix := fmt.Sprintf("fail-%v", firstFails)
		g := &gated{next: b, entered: make(chan struct{}, 4), open: make(chan struct{}), failFirst: firstFails}
		p := &Publisher{Next: g, Set: set}
		first := make(chan error, 1)
		go func() {
			_, err := p.Publish(ctx, messages(prefix, 10))
			first <- err
		}()
		<-g.entered // the first call holds its 10 IDs
		second := make(chan bus.PublishResult, 1)
		go func() {
			// 5 of the first call's IDs and 5 new ones: the new ones go
			// ahead, the others wait for the first call's outcome.
			res, err := p.Publish(ctx, append(messages(prefix, 10)[5:], messages(prefix+"-new", 5)...))
			if err != nil {
				t.Error(err)
			}
			second <- res
		}()
		<-g.entered // the second call's new IDs reached the store
		close(g.open)
		if err := <-first; firstFails != errors.Is(err, bus.ErrUnavailable) {
			t.Fatalf("first call fails=%v: %v", firstFails, err)
		}
		want := bus.PublishResult{Stored: 5, Duplicates: 5}
		if firstFails {
			want = bus.PublishResult{Stored: 10}
		}
		if res := <-second; res != want {
			t.Errorf("first call fails=%v: second call %+v; want %+v", firstFails, res, want)
		}
	}
	info, err := b.JetStream().Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	// 3, then 10 + 5, then the second call's 5 new and the 5 it took over.
	if n := info.CachedInfo().State.Msgs; n != 3+15+10 {
		t.Fatalf("the events stream holds %d messages; want %d", n, 3+15+10)
	}
}

// TestPublisherWaitsForTheSetToLoadAtMostLoadWait: while the set is still
// reading the IDs already stored, a call waits its LoadWait at most, then
// fails having stored nothing (ingest answers 503; the SDK retries).
func TestPublisherWaitsForTheSetToLoadAtMostLoadWait(t *testing.T) {
	b := bustest.Open(t, bus.Options{})
	set := New(b, Options{Stream: "SB_INGEST_IDS", Subject: "sb.ingest.ids", TTL: time.Hour, Steps: 2, LoadWait: 200 * time.Millisecond})
	// Marked started but never loading, as a set still reading a long
	// stream (no tail and no note loop run, so it is not Closed).
	set.started = true
	if set.Loaded() {
		t.Fatal("a set that read nothing says it is loaded")
	}
	next := &failing{}
	p := &Publisher{Next: next, Set: set}
	start := time.Now()
	_, err := p.Publish(context.Background(), messages("a", 3))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish while loading: %v; want a deadline error", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("Publish waited %v for a set that never loads", waited)
	}
	if next.calls != 0 {
		t.Fatalf("the store was called %d times while the set was loading", next.calls)
	}
	set.loaded()
	if !set.Loaded() {
		t.Fatal("Loaded is false after loading")
	}
}
