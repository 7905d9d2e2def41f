package destinationtest_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

// clock is a settable time source for MemoryHost.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMemoryHostState(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := &destinationtest.MemoryHost{Now: clk.Now, DefaultTTL: time.Hour}
	ctx := context.Background()
	entry := func(k, v string) plugins.Entry { return plugins.Entry{Key: k, Value: []byte(v)} }

	created, err := h.StateCreate(ctx, []plugins.Entry{entry("a", "1"), entry("b", "1"), entry("a", "2")}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false}; !reflect.DeepEqual(created, want) {
		t.Errorf("StateCreate = %v, want %v (a key repeated in one call is created once)", created, want)
	}
	if err := h.StatePut(ctx, []plugins.Entry{entry("b", "put"), entry("c", "put")}, 0); err != nil {
		t.Fatal(err)
	}
	get := func() map[string]string {
		t.Helper()
		values, err := h.StateGet(ctx, []string{"a", "b", "c", "missing"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for k, v := range values {
			out[k] = string(v)
		}
		return out
	}
	if got, want := get(), map[string]string{"a": "1", "b": "put", "c": "put"}; !reflect.DeepEqual(got, want) {
		t.Errorf("StateGet = %v, want %v", got, want)
	}

	clk.Advance(time.Minute) // a expires (ttl 1m); b and c have the default hour
	if got, want := get(), map[string]string{"b": "put", "c": "put"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after 1m: StateGet = %v, want %v", got, want)
	}
	created, err = h.StateCreate(ctx, []plugins.Entry{entry("a", "again"), entry("b", "again")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false}; !reflect.DeepEqual(created, want) {
		t.Errorf("StateCreate after expiry = %v, want %v", created, want)
	}
	if err := h.StateDelete(ctx, []string{"c", "never-there"}); err != nil {
		t.Fatal(err)
	}
	if n := h.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
	clk.Advance(time.Hour)
	if n := h.Len(); n != 0 {
		t.Errorf("after an hour: Len = %d, want 0", n)
	}
	for method, want := range map[string]int{"StateCreate": 2, "StatePut": 1, "StateGet": 2, "StateDelete": 1, "AddCounters": 0} {
		if got := h.Calls(method); got != want {
			t.Errorf("Calls(%s) = %d, want %d", method, got, want)
		}
	}
}

func TestMemoryHostValues(t *testing.T) {
	h := &destinationtest.MemoryHost{}
	ctx := context.Background()
	v := []byte("orig")
	if err := h.StatePut(ctx, []plugins.Entry{{Key: "k", Value: v}}, 0); err != nil {
		t.Fatal(err)
	}
	copy(v, "XXXX") // the caller reuses its buffer
	got, _ := h.StateGet(ctx, []string{"k"})
	if string(got["k"]) != "orig" {
		t.Errorf("stored value changed with the caller's buffer: %q", got["k"])
	}
}

func TestMemoryHostErrors(t *testing.T) {
	h := &destinationtest.MemoryHost{}
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"empty key", func() error { _, err := h.StateCreate(ctx, []plugins.Entry{{}}, 0); return err }, "empty state key"},
		{"negative ttl", func() error { return h.StatePut(ctx, []plugins.Entry{{Key: "k"}}, -time.Second) }, "negative ttl"},
		{"counter name", func() error { return h.AddCounters(ctx, []plugins.Counter{{Name: "a-b", Delta: 1}}) }, "name must match"},
		{"label name", func() error {
			return h.AddCounters(ctx, []plugins.Counter{{Name: "a", Labels: map[string]string{"1x": ""}, Delta: 1}})
		}, "label"},
		{"negative delta", func() error { return h.AddCounters(ctx, []plugins.Counter{{Name: "a", Delta: -1}}) }, "negative delta"},
		{"cancelled", func() error {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := h.StateGet(ctx, []string{"k"})
			return err
		}, "canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if c := h.Counters(); len(c) != 0 {
		t.Errorf("a failed AddCounters added %v", c)
	}
}

func TestMemoryHostConcurrent(t *testing.T) {
	h := &destinationtest.MemoryHost{}
	ctx := context.Background()
	var wg sync.WaitGroup
	var createdTotal sync.Map
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				created, err := h.StateCreate(ctx, []plugins.Entry{{Key: fmt.Sprint(i)}}, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if created[0] {
					if _, dup := createdTotal.LoadOrStore(i, w); dup {
						t.Errorf("key %d created twice", i)
					}
				}
				if err := h.AddCounters(ctx, []plugins.Counter{{Name: "n", Delta: 1}}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := h.Counter("n", nil); got != 400 {
		t.Errorf("counter n = %v, want 400", got)
	}
	if n := h.Len(); n != 50 {
		t.Errorf("Len = %d, want 50", n)
	}
}

// MemoryHost stands in for the host in a destination's tests: state with
// create-if-absent and TTLs, and counters to assert on.
func ExampleMemoryHost() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	host := &destinationtest.MemoryHost{Now: func() time.Time { return now }}
	ctx := context.Background()

	// Mark a batch as sent, once: the second call finds evt-1 already there.
	created, _ := host.StateCreate(ctx, []plugins.Entry{{Key: "evt-1"}, {Key: "evt-2"}}, 48*time.Hour)
	fmt.Println(created)
	created, _ = host.StateCreate(ctx, []plugins.Entry{{Key: "evt-1"}, {Key: "evt-3"}}, 48*time.Hour)
	fmt.Println(created)

	now = now.Add(48 * time.Hour) // the marks expire
	values, _ := host.StateGet(ctx, []string{"evt-1", "evt-2", "evt-3"})
	fmt.Println(len(values))

	_ = host.AddCounters(ctx, []plugins.Counter{{Name: "sent", Labels: map[string]string{"status": "ok"}, Delta: 2}})
	_ = host.AddCounters(ctx, []plugins.Counter{{Name: "sent", Labels: map[string]string{"status": "ok"}, Delta: 1}})
	fmt.Println(host.Counter("sent", map[string]string{"status": "ok"}), host.Calls("StateCreate"))
	// Output:
	// [true true]
	// [false true]
	// 0
	// 3 2
}

func TestMemoryHostSeen(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := &destinationtest.MemoryHost{Now: clk.Now, DefaultTTL: time.Hour}
	ctx := context.Background()
	seen := func(keys ...string) []bool {
		t.Helper()
		got, err := h.Seen(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := seen("a", "b"); !reflect.DeepEqual(got, []bool{false, false}) {
		t.Fatalf("fresh host: %v", got)
	}
	if err := h.MarkSeen(ctx, []string{"a"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := h.MarkSeen(ctx, []string{"b"}, 0); err != nil { // DefaultTTL
		t.Fatal(err)
	}
	if err := h.MarkSeen(ctx, []string{"b"}, time.Second); err != nil { // never shortens a mark
		t.Fatal(err)
	}
	if got := seen("a", "b", "c"); !reflect.DeepEqual(got, []bool{true, true, false}) {
		t.Errorf("after marks: %v", got)
	}
	clk.Advance(2 * time.Minute)
	if got := seen("a", "b"); !reflect.DeepEqual(got, []bool{false, true}) {
		t.Errorf("after 2m: %v, want a expired", got)
	}
	if h.SeenLen() != 1 || h.Calls("MarkSeen") != 3 || h.Calls("Seen") != 3 {
		t.Errorf("SeenLen %d, MarkSeen calls %d, Seen calls %d", h.SeenLen(), h.Calls("MarkSeen"), h.Calls("Seen"))
	}
	if err := h.MarkSeen(ctx, []string{""}, 0); err == nil {
		t.Error("an empty key was accepted")
	}
	if _, err := h.Seen(ctx, []string{"x", ""}); err == nil {
		t.Error("an empty key was accepted")
	}
}
