package pipeline

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestReadingStreamsLeavesNoConsumers: listing and replaying dead letters
// and replaying stored events read through ordered consumers; each must be
// gone afterwards. JetStream keeps an abandoned one for 5 minutes and a
// stream takes 1,000, so `dlq list` polled a few times a second used to
// fail with "maximum consumers limit reached" within a minute.
func TestReadingStreamsLeavesNoConsumers(t *testing.T) {
	b := openBus(t)
	js := b.JetStream()
	ctx := context.Background()
	publish(t, b, events("web", 0, 3, nil)...)
	if err := ensureDLQ(ctx, js, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	d, _ := json.Marshal(DeadLetter{Pipeline: "p1", Cause: CauseRejected, Reason: "no", Event: json.RawMessage(`{"type":"track"}`), Subject: "events.web.track"})
	if _, err := js.Publish(ctx, DeadLetterSubject("p1"), d); err != nil {
		t.Fatal(err)
	}
	consumers := func(stream string) int {
		t.Helper()
		st, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Consumers
	}
	for i := range 3 {
		if dls, err := ListDeadLetters(ctx, js, "p1", 10); err != nil || len(dls) != 1 {
			t.Fatalf("list %d: %d dead letters, %v", i, len(dls), err)
		}
		if _, err := ListDeadLetters(ctx, js, "p2", 10); err != nil { // no dead letters: returns early
			t.Fatal(err)
		}
	}
	if n, err := ReplaySince(ctx, js, "p1", []string{"web"}, time.Now().Add(-time.Hour)); n != 3 || err != nil {
		t.Fatalf("replay since = %d, %v", n, err)
	}
	if n, err := ReplayDeadLetters(ctx, js, "p1", nil); n != 1 || err != nil {
		t.Fatalf("replay dead letters = %d, %v", n, err)
	}
	if n := consumers(DeadLetterStream); n != 0 {
		t.Errorf("%d consumers left on the dead-letter stream", n)
	}
	if n := consumers(b.Stream()); n != 0 {
		t.Errorf("%d consumers left on the events stream", n)
	}
}
