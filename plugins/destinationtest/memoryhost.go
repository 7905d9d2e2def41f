package destinationtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// MemoryHost is an in-memory plugins.Host for tests. Its state has the
// host's semantics: StateCreate stores only absent (or expired) keys and
// says which it created, entries expire after their TTL, deletes of missing
// keys succeed. It records counters and how often each method was called,
// so a test can check that a destination batches its host calls.
//
// It is stricter than it needs to be where the real host may be strict:
// counter and label names must be valid Prometheus names and deltas must
// not be negative. The zero value is ready to use; it is safe for
// concurrent use.
type MemoryHost struct {
	// Now returns the current time for TTLs; nil means time.Now. Set it
	// before first use to control expiry in a test.
	Now func() time.Time
	// DefaultTTL is the time to live of entries stored with a TTL of 0;
	// 0 means they never expire.
	DefaultTTL time.Duration

	mu       sync.Mutex
	entries  map[string]memEntry
	seen     map[string]time.Time // key → expiry (zero: never)
	counters map[string]*plugins.Counter
	calls    map[string]int
}

type memEntry struct {
	value   []byte
	expires time.Time // zero: never
}

func (h *MemoryHost) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// begin locks h, initialises it and counts a call of method.
func (h *MemoryHost) begin(method string) {
	h.mu.Lock()
	if h.entries == nil {
		h.entries = map[string]memEntry{}
		h.seen = map[string]time.Time{}
		h.counters = map[string]*plugins.Counter{}
		h.calls = map[string]int{}
	}
	h.calls[method]++
}

func (h *MemoryHost) live(key string, now time.Time) (memEntry, bool) {
	e, ok := h.entries[key]
	if !ok {
		return memEntry{}, false
	}
	if !e.expires.IsZero() && !now.Before(e.expires) {
		delete(h.entries, key)
		return memEntry{}, false
	}
	return e, true
}

func (h *MemoryHost) entry(value []byte, ttl time.Duration, now time.Time) memEntry {
	if ttl == 0 {
		ttl = h.DefaultTTL
	}
	e := memEntry{value: slices.Clone(value)}
	if e.value == nil {
		e.value = []byte{}
	}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	return e
}

// StateGet implements plugins.Host.
func (h *MemoryHost) StateGet(ctx context.Context, keys []string) (map[string][]byte, error) {
	h.begin("StateGet")
	defer h.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := h.now()
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if e, ok := h.live(k, now); ok {
			out[k] = slices.Clone(e.value)
		}
	}
	return out, nil
}

// StateCreate implements plugins.Host.
func (h *MemoryHost) StateCreate(ctx context.Context, entries []plugins.Entry, ttl time.Duration) ([]bool, error) {
	h.begin("StateCreate")
	defer h.mu.Unlock()
	if err := checkState(ctx, entries, ttl); err != nil {
		return nil, err
	}
	now := h.now()
	created := make([]bool, len(entries))
	for i, e := range entries {
		if _, ok := h.live(e.Key, now); ok {
			continue
		}
		h.entries[e.Key] = h.entry(e.Value, ttl, now)
		created[i] = true
	}
	return created, nil
}

// StatePut implements plugins.Host.
func (h *MemoryHost) StatePut(ctx context.Context, entries []plugins.Entry, ttl time.Duration) error {
	h.begin("StatePut")
	defer h.mu.Unlock()
	if err := checkState(ctx, entries, ttl); err != nil {
		return err
	}
	now := h.now()
	for _, e := range entries {
		h.entries[e.Key] = h.entry(e.Value, ttl, now)
	}
	return nil
}

// StateDelete implements plugins.Host.
func (h *MemoryHost) StateDelete(ctx context.Context, keys []string) error {
	h.begin("StateDelete")
	defer h.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		delete(h.entries, k)
	}
	return nil
}

// Seen implements plugins.Host. Unlike the real host it keeps whole
// keys, so it never reports a key seen by a hash collision.
func (h *MemoryHost) Seen(ctx context.Context, keys []string) ([]bool, error) {
	h.begin("Seen")
	defer h.mu.Unlock()
	if err := checkKeys(ctx, keys, 0); err != nil {
		return nil, err
	}
	now := h.now()
	out := make([]bool, len(keys))
	for i, k := range keys {
		exp, ok := h.seen[k]
		out[i] = ok && (exp.IsZero() || now.Before(exp))
	}
	return out, nil
}

// MarkSeen implements plugins.Host.
func (h *MemoryHost) MarkSeen(ctx context.Context, keys []string, ttl time.Duration) error {
	h.begin("MarkSeen")
	defer h.mu.Unlock()
	if err := checkKeys(ctx, keys, ttl); err != nil {
		return err
	}
	if ttl == 0 {
		ttl = h.DefaultTTL
	}
	var exp time.Time
	if ttl > 0 {
		exp = h.now().Add(ttl)
	}
	for _, k := range keys {
		if old, ok := h.seen[k]; ok && (old.IsZero() || old.After(exp) && !exp.IsZero()) {
			continue // a mark is never shortened
		}
		h.seen[k] = exp
	}
	return nil
}

// SeenLen returns the number of keys marked seen that have not expired.
func (h *MemoryHost) SeenLen() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	n := 0
	for _, exp := range h.seen {
		if exp.IsZero() || now.Before(exp) {
			n++
		}
	}
	return n
}

var promName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// AddCounters implements plugins.Host.
func (h *MemoryHost) AddCounters(ctx context.Context, counters []plugins.Counter) error {
	h.begin("AddCounters")
	defer h.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, c := range counters {
		if !promName.MatchString(c.Name) {
			return fmt.Errorf("counter %q: name must match %s", c.Name, promName)
		}
		for l := range c.Labels {
			if !promName.MatchString(l) {
				return fmt.Errorf("counter %q: label %q must match %s", c.Name, l, promName)
			}
		}
		if c.Delta < 0 {
			return fmt.Errorf("counter %q: negative delta %v (counters only go up)", c.Name, c.Delta)
		}
	}
	for _, c := range counters {
		k := counterKey(c.Name, c.Labels)
		if sum, ok := h.counters[k]; ok {
			sum.Delta += c.Delta
			continue
		}
		h.counters[k] = &plugins.Counter{Name: c.Name, Labels: maps.Clone(c.Labels), Delta: c.Delta}
	}
	return nil
}

func checkState(ctx context.Context, entries []plugins.Entry, ttl time.Duration) error {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	return checkKeys(ctx, keys, ttl)
}

func checkKeys(ctx context.Context, keys []string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ttl < 0 {
		return fmt.Errorf("negative ttl %v", ttl)
	}
	if slices.Contains(keys, "") {
		return errors.New("empty state key")
	}
	return nil
}

// Counter returns the total added to the counter with this name and
// exactly these labels (nil and empty labels are the same).
func (h *MemoryHost) Counter(name string, labels map[string]string) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.counters[counterKey(name, labels)]; ok {
		return c.Delta
	}
	return 0
}

// Counters returns every counter with its total as Delta, sorted by name
// and labels.
func (h *MemoryHost) Counters() []plugins.Counter {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := slices.Sorted(maps.Keys(h.counters))
	out := make([]plugins.Counter, len(keys))
	for i, k := range keys {
		c := h.counters[k]
		out[i] = plugins.Counter{Name: c.Name, Labels: maps.Clone(c.Labels), Delta: c.Delta}
	}
	return out
}

// Calls returns how many times method ("StateGet", "StateCreate",
// "StatePut", "StateDelete", "AddCounters", "Seen" or "MarkSeen") was
// called.
func (h *MemoryHost) Calls(method string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[method]
}

// Len returns the number of keys that exist and have not expired.
func (h *MemoryHost) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	n := 0
	for k := range h.entries {
		if _, ok := h.live(k, now); ok {
			n++
		}
	}
	return n
}

func counterKey(name string, labels map[string]string) string {
	var b strings.Builder
	b.WriteString(name)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, "\x00%s\x01%s", k, labels[k])
	}
	return b.String()
}

var _ plugins.Host = (*MemoryHost)(nil)
