package seen

import (
	"context"
	"errors"
	"fmt"
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
