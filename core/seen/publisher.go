package seen

import (
	"context"
	"slices"
	"sync"

	"github.com/switchboard-cdp/switchboard/core/bus"
)

// Next is what a Publisher stores events through; *bus.Bus is one.
type Next interface {
	Publish(ctx context.Context, msgs []bus.Message) (bus.PublishResult, error)
}

// Publisher is ingest's messageId dedupe: it stores events through Next,
// leaving out every one whose ID (the Nats-Msg-Id: source and messageId)
// Set has seen, and notes the IDs of the events Next stored. An SDK that
// retries a request whose answer it lost is then answered 200 without its
// events being stored again, for Set's TTL, across serve processes and
// restarts. JetStream's own Nats-Msg-Id window (kept short) still covers
// what the set cannot: the same event in two requests at once, and the
// bus's own republishing.
//
// Events are noted only once Next stored them, so a request that failed
// leaves nothing behind that would drop its retry.
type Publisher struct {
	Next Next
	Set  *Set
}

// publishState is one call's scratch space.
type publishState struct {
	hashes []uint64
	seen   []bool
	todo   []bus.Message
}

var publishStates = sync.Pool{New: func() any { return new(publishState) }}

// Publish stores the events of msgs that Set has not seen, and counts the
// others as duplicates.
func (p *Publisher) Publish(ctx context.Context, msgs []bus.Message) (bus.PublishResult, error) {
	st := publishStates.Get().(*publishState)
	defer publishStates.Put(st)
	st.hashes = slices.Grow(st.hashes[:0], len(msgs))[:len(msgs)]
	st.seen = slices.Grow(st.seen[:0], len(msgs))[:len(msgs)]
	for i := range msgs {
		st.hashes[i] = Hash(msgs[i].ID)
	}
	if err := p.Set.Contains(ctx, st.hashes, st.seen); err != nil {
		return bus.PublishResult{}, err
	}
	todo, hashes, dups := msgs, st.hashes, 0
	if slices.Contains(st.seen, true) {
		todo, hashes = st.todo[:0], st.hashes[:0]
		for i, m := range msgs {
			if st.seen[i] {
				dups++
				continue
			}
			todo = append(todo, m)
			hashes = append(hashes, st.hashes[i]) // i >= len(hashes): no overwrite of what is still to read
		}
		st.todo = todo
		defer clear(st.todo) // keep no event data alive in the pool
	}
	var res bus.PublishResult
	if len(todo) > 0 {
		var err error
		if res, err = p.Next.Publish(ctx, todo); err != nil {
			return res, err
		}
	}
	p.Set.Note(hashes)
	res.Duplicates += dups
	return res, nil
}
