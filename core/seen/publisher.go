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
// leaving out every one whose ID (source and messageId) Set has seen, and
// notes the IDs of the events Next stored. An SDK that retries a request
// whose answer it lost is then answered 200 without its events being
// stored again, for Set's TTL, across serve processes and restarts.
//
// Within this process it also covers what Set cannot yet know: an ID given
// twice in one call is stored once, and an ID that another call is storing
// at that moment (the same event in two requests at once) waits for that
// call: a duplicate when it stored the event, stored by this call when it
// failed. That leaves JetStream's Nats-Msg-Id window only the same event
// reaching two processes within the ~100 ms before each reads the other's
// notes, and the bus's own resends after a lost acknowledgement: both
// occur with an external cluster, where serve keeps that window on.
//
// Events are noted only once Next stored them, so a request that failed
// leaves nothing behind that would drop its retry. The zero value with
// Next and Set is ready to use.
type Publisher struct {
	Next Next
	Set  *Set

	mu       sync.Mutex
	inFlight map[uint64]*flight // IDs some call is storing, by hash
}

// flight is one call's claim on the IDs it is storing.
type flight struct {
	done chan struct{} // closed when the call has its outcome
	ok   bool          // the call stored (and noted) its events; set before done closes
}

// publishState is one call's scratch space.
type publishState struct {
	hashes  []uint64
	seen    []bool
	pending []int // indexes into msgs still to settle
	own     []int // claimed by this call in this round
	wait    []int // claimed by another call: settled once it ends
	waitFor []*flight
	todo    []bus.Message
	todoH   []uint64 // the hashes of own
	fresh   []uint64 // the hashes of todo
}

var publishStates = sync.Pool{New: func() any { return new(publishState) }}

// Publish stores the events of msgs that Set has not seen, and counts the
// others as duplicates.
func (p *Publisher) Publish(ctx context.Context, msgs []bus.Message) (bus.PublishResult, error) {
	st := publishStates.Get().(*publishState)
	defer func() {
		clear(st.todo) // keep no event data alive in the pool
		clear(st.waitFor)
		publishStates.Put(st)
	}()
	st.hashes = slices.Grow(st.hashes[:0], len(msgs))[:len(msgs)]
	st.pending = st.pending[:0]
	for i := range msgs {
		st.hashes[i] = Hash(msgs[i].ID)
		st.pending = append(st.pending, i)
	}
	var res bus.PublishResult
	for len(st.pending) > 0 {
		f := &flight{done: make(chan struct{})}
		res.Duplicates += p.claim(st, f)
		stored, err := p.store(ctx, msgs, st)
		p.release(st.todoH, f, err == nil)
		if err != nil {
			return bus.PublishResult{}, err
		}
		res.Stored += stored.Stored
		res.Duplicates += stored.Duplicates
		// Events another call was storing: duplicates once it stored
		// them, this call's to store (next round) when it failed.
		st.pending = st.pending[:0]
		for k, i := range st.wait {
			other := st.waitFor[k]
			select {
			case <-other.done:
			case <-ctx.Done():
				return bus.PublishResult{}, ctx.Err()
			}
			if other.ok {
				res.Duplicates++
			} else {
				st.pending = append(st.pending, i)
			}
		}
	}
	return res, nil
}

// claim sorts st.pending into st.own (claimed for f) and st.wait (claimed
// by another call, whose flight is in st.waitFor), and returns how many
// repeat an ID claimed earlier in this call.
func (p *Publisher) claim(st *publishState, f *flight) (repeats int) {
	st.own, st.wait, st.waitFor = st.own[:0], st.wait[:0], st.waitFor[:0]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inFlight == nil {
		p.inFlight = make(map[uint64]*flight)
	}
	for _, i := range st.pending {
		h := st.hashes[i]
		switch other, busy := p.inFlight[h]; {
		case !busy:
			p.inFlight[h] = f
			st.own = append(st.own, i)
		case other == f:
			repeats++
		default:
			st.wait = append(st.wait, i)
			st.waitFor = append(st.waitFor, other)
		}
	}
	return repeats
}

// store publishes the events of st.own that Set has not seen and notes
// them; st.todoH are then the hashes this round claimed.
func (p *Publisher) store(ctx context.Context, msgs []bus.Message, st *publishState) (bus.PublishResult, error) {
	st.todoH = st.todoH[:0]
	for _, i := range st.own {
		st.todoH = append(st.todoH, st.hashes[i])
	}
	st.seen = slices.Grow(st.seen[:0], len(st.own))[:len(st.own)]
	if err := p.Set.Contains(ctx, st.todoH, st.seen); err != nil {
		return bus.PublishResult{}, err
	}
	var res bus.PublishResult
	st.todo, st.fresh = st.todo[:0], st.fresh[:0]
	for k, i := range st.own {
		if st.seen[k] {
			res.Duplicates++
			continue
		}
		st.todo = append(st.todo, msgs[i])
		st.fresh = append(st.fresh, st.hashes[i])
	}
	if len(st.todo) == 0 {
		return res, nil
	}
	stored, err := p.Next.Publish(ctx, st.todo)
	if err != nil {
		return bus.PublishResult{}, err
	}
	p.Set.Note(st.fresh)
	res.Stored += stored.Stored
	res.Duplicates += stored.Duplicates
	return res, nil
}

// release ends f's claim on hashes; the calls waiting on any of them
// learn whether f's call stored them.
func (p *Publisher) release(hashes []uint64, f *flight, ok bool) {
	p.mu.Lock()
	for _, h := range hashes {
		if p.inFlight[h] == f {
			delete(p.inFlight, h)
		}
	}
	p.mu.Unlock()
	f.ok = ok
	close(f.done)
}
