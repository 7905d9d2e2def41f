package bus_test

import (
	"context"
	"testing"
)

// TestRecentLeavesNoConsumers: each Recent (GET /api/events, `switchboard
// tail --follow` polling it) reads through a consumer that must be gone
// afterwards. JetStream would keep it for 5 minutes, and a stream takes at
// most 1,000 consumers, pipelines' included.
func TestRecentLeavesNoConsumers(t *testing.T) {
	b := open(t, t.TempDir())
	defer b.Close()
	ctx := context.Background()
	if _, err := b.Publish(ctx, msgs("web", 0, 1200)); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 10, 1000} {
		got, err := b.Recent(ctx, "events.web.>", limit)
		if err != nil || len(got) != limit {
			t.Fatalf("Recent(%d) = %d messages, %v", limit, len(got), err)
		}
	}
	st, err := b.JetStream().Stream(ctx, b.Stream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Consumers; n != 0 {
		t.Fatalf("%d consumers left on the events stream after reading it", n)
	}
}
