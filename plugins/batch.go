package plugins

import (
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"time"

	destinationv1 "github.com/switchboard-cdp/switchboard/plugins/proto/switchboard/destination/v1"
)

// This file packs and unpacks Deliver's batches and results (the layout is
// described on DeliverRequest and DeliverResponse in destination.proto).
// Packing copies each event's data once, into one buffer per field;
// unpacking cuts those buffers instead of copying them per event, and
// checks every length and index first, so that a malformed message is an
// error, never a panic or an event made of its neighbours' bytes.

// eventsToWire packs batch into req, reusing req's buffers (the host keeps
// requests for reuse once gRPC has encoded them).
func eventsToWire(req *destinationv1.DeliverRequest, batch []Event) error {
	var payloadSize, idSize, messageIDSize int
	attempts := false
	for i := range batch {
		e := &batch[i]
		if uint64(len(e.Payload)) > math.MaxUint32 {
			return fmt.Errorf("event %q: payload of %d bytes is too large", e.ID, len(e.Payload))
		}
		if uint64(len(e.ID)) > math.MaxUint32 || uint64(len(e.MessageID)) > math.MaxUint32 {
			return fmt.Errorf("event %d: id or message id too large", i)
		}
		payloadSize += len(e.Payload)
		idSize += len(e.ID)
		messageIDSize += len(e.MessageID)
		attempts = attempts || e.Attempt > 0
	}
	n := len(batch)
	req.Payloads = grow(req.Payloads, payloadSize)
	req.PayloadLengths = grow(req.PayloadLengths, n)
	req.Ids = grow(req.Ids, idSize)
	req.IdLengths = grow(req.IdLengths, n)
	req.Attempts = grow(req.Attempts, n)
	req.MessageIds = grow(req.MessageIds, messageIDSize)
	req.MessageIdLengths = grow(req.MessageIdLengths, n)
	for i := range batch {
		e := &batch[i]
		req.Payloads = append(req.Payloads, e.Payload...)
		req.PayloadLengths = append(req.PayloadLengths, uint32(len(e.Payload)))
		if idSize > 0 {
			req.Ids = append(req.Ids, e.ID...)
			req.IdLengths = append(req.IdLengths, uint32(len(e.ID)))
		}
		if messageIDSize > 0 {
			req.MessageIds = append(req.MessageIds, e.MessageID...)
			req.MessageIdLengths = append(req.MessageIdLengths, uint32(len(e.MessageID)))
		}
		if attempts {
			req.Attempts = append(req.Attempts, clampUint32(e.Attempt))
		}
	}
	return nil
}

// grow returns s emptied, with room for n elements.
func grow[S ~[]E, E any](s S, n int) S {
	if cap(s) < n {
		return make(S, 0, n)
	}
	return s[:0]
}

// eventIDs are the event ids of a request, for matching results to events
// after the destination, which may have reordered or changed its batch,
// returned.
type eventIDs struct {
	all     string   // the ids, concatenated
	lengths []uint32 // one per event, or none when every id is empty
	n       int      // the number of events
}

// All yields each event's position and id.
func (ids eventIDs) All() iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		off := 0
		for i := range ids.n {
			var id string
			if len(ids.lengths) > 0 {
				l := int(ids.lengths[i])
				id = ids.all[off : off+l]
				off += l
			}
			if !yield(i, id) {
				return
			}
		}
	}
}

// eventsFromWire unpacks a request. A payload aliases req.Payloads; ids
// and message ids share one string per field. Empty payloads are nil.
func eventsFromWire(req *destinationv1.DeliverRequest) ([]Event, eventIDs, error) {
	n := len(req.GetPayloadLengths())
	if err := checkCut("payload", req.GetPayloads(), req.GetPayloadLengths(), n); err != nil {
		return nil, eventIDs{}, err
	}
	if err := checkCut("id", req.GetIds(), req.GetIdLengths(), n); err != nil {
		return nil, eventIDs{}, err
	}
	if err := checkCut("message id", req.GetMessageIds(), req.GetMessageIdLengths(), n); err != nil {
		return nil, eventIDs{}, err
	}
	attempts := req.GetAttempts()
	if len(attempts) != 0 && len(attempts) != n {
		return nil, eventIDs{}, fmt.Errorf("%w: %d attempts for %d events", errMalformed, len(attempts), n)
	}
	ids := eventIDs{all: string(req.GetIds()), lengths: req.GetIdLengths(), n: n}
	messageIDs := string(req.GetMessageIds())
	messageIDLengths := req.GetMessageIdLengths()
	payloads, payloadLengths := req.GetPayloads(), req.GetPayloadLengths()

	events := make([]Event, n)
	off, midOff := 0, 0
	for i, id := range ids.All() {
		e := &events[i]
		e.ID = id
		if l := int(payloadLengths[i]); l > 0 {
			// The capacity ends with the payload, so that appending to it
			// cannot overwrite the next event's.
			e.Payload = json.RawMessage(payloads[off : off+l : off+l])
			off += l
		}
		if len(attempts) > 0 {
			e.Attempt = int(attempts[i])
		}
		if len(messageIDLengths) > 0 {
			l := int(messageIDLengths[i])
			e.MessageID = messageIDs[midOff : midOff+l]
			midOff += l
		}
	}
	return events, ids, nil
}

// checkCut checks that lengths cut buf exactly into n pieces, or that both
// are empty (n empty pieces).
func checkCut(field string, buf []byte, lengths []uint32, n int) error {
	if len(lengths) == 0 {
		if len(buf) != 0 {
			return fmt.Errorf("%w: %d bytes of %ss but no %s lengths", errMalformed, len(buf), field, field)
		}
		return nil
	}
	if len(lengths) != n {
		return fmt.Errorf("%w: %d %s lengths for %d events", errMalformed, len(lengths), field, n)
	}
	var total uint64
	for _, l := range lengths {
		total += uint64(l)
	}
	if total != uint64(len(buf)) {
		return fmt.Errorf("%w: %s lengths add up to %d bytes, but there are %d", errMalformed, field, total, len(buf))
	}
	return nil
}

// resultsToWire packs the results of the events with ids. A result names
// its event by position; ids that name no event cross as they are.
func resultsToWire(results []Result, ids eventIDs) *destinationv1.DeliverResponse {
	n := len(results)
	resp := &destinationv1.DeliverResponse{Outcomes: make([]destinationv1.Outcome, n)}
	var retry, codes, reasons bool
	for i := range results {
		r := &results[i]
		resp.Outcomes[i] = outcomeToWire(r.Outcome)
		retry = retry || r.RetryAfter > 0
		codes = codes || r.Code != ""
		reasons = reasons || r.Reason != ""
	}

	if !aligned(results, ids) {
		index := make(map[string]uint32, ids.n)
		for i, id := range ids.All() {
			if _, dup := index[id]; !dup {
				index[id] = uint32(i)
			}
		}
		resp.EventIndexes = make([]uint32, n)
		for i := range results {
			if k, ok := index[results[i].ID]; ok {
				resp.EventIndexes[i] = k
				continue
			}
			resp.ForeignResults = append(resp.ForeignResults, uint32(i))
			resp.ForeignIds = append(resp.ForeignIds, []byte(results[i].ID))
		}
	}
	if retry {
		resp.RetryAfterMs = make([]uint64, n)
		for i := range results {
			resp.RetryAfterMs[i] = durationToMillis(results[i].RetryAfter)
		}
	}
	var table stringTable
	if codes {
		resp.Codes = make([]uint32, n)
		for i := range results {
			resp.Codes[i] = table.ref(results[i].Code)
		}
	}
	if reasons {
		resp.Reasons = make([]uint32, n)
		for i := range results {
			resp.Reasons[i] = table.ref(results[i].Reason)
		}
	}
	resp.Strings = table.strings
	return resp
}

// aligned reports whether results are exactly one per event, in order.
func aligned(results []Result, ids eventIDs) bool {
	if len(results) != ids.n {
		return false
	}
	for i, id := range ids.All() {
		if results[i].ID != id {
			return false
		}
	}
	return true
}

// stringTable numbers the distinct non-empty strings of a response from 1;
// 0 is the empty string.
type stringTable struct {
	index   map[string]uint32
	strings [][]byte
	last    string // the last string numbered, and its number: runs of
	lastRef uint32 // one reason for a whole batch are common
}

func (t *stringTable) ref(s string) uint32 {
	if s == "" {
		return 0
	}
	if t.lastRef != 0 && s == t.last {
		return t.lastRef
	}
	k, ok := t.index[s]
	if !ok {
		if t.index == nil {
			t.index = make(map[string]uint32)
		}
		t.strings = append(t.strings, []byte(s))
		k = uint32(len(t.strings))
		t.index[s] = k
	}
	t.last, t.lastRef = s, k
	return k
}

// resultsFromWire unpacks the results of batch.
func resultsFromWire(resp *destinationv1.DeliverResponse, batch []Event) ([]Result, error) {
	outcomes := resp.GetOutcomes()
	n := len(outcomes)
	indexes := resp.GetEventIndexes()
	foreign, foreignIDs := resp.GetForeignResults(), resp.GetForeignIds()
	retryAfter, codes, reasons := resp.GetRetryAfterMs(), resp.GetCodes(), resp.GetReasons()
	strs := resp.GetStrings()

	switch {
	case len(indexes) == 0 && n != 0 && n != len(batch):
		return nil, fmt.Errorf("%w: %d results for %d events without event indexes", errMalformed, n, len(batch))
	case len(indexes) != 0 && len(indexes) != n:
		return nil, fmt.Errorf("%w: %d event indexes for %d results", errMalformed, len(indexes), n)
	case len(foreign) != len(foreignIDs):
		return nil, fmt.Errorf("%w: %d foreign results but %d foreign ids", errMalformed, len(foreign), len(foreignIDs))
	case len(foreign) != 0 && len(indexes) == 0:
		return nil, fmt.Errorf("%w: foreign results without event indexes", errMalformed)
	case len(retryAfter) != 0 && len(retryAfter) != n:
		return nil, fmt.Errorf("%w: %d retry delays for %d results", errMalformed, len(retryAfter), n)
	case len(codes) != 0 && len(codes) != n:
		return nil, fmt.Errorf("%w: %d codes for %d results", errMalformed, len(codes), n)
	case len(reasons) != 0 && len(reasons) != n:
		return nil, fmt.Errorf("%w: %d reasons for %d results", errMalformed, len(reasons), n)
	}
	for j, pos := range foreign {
		if int64(pos) >= int64(n) || (j > 0 && pos <= foreign[j-1]) {
			return nil, fmt.Errorf("%w: foreign result positions not increasing below %d", errMalformed, n)
		}
	}
	next := 0 // the next of foreign
	for i, k := range indexes {
		if next < len(foreign) && int(foreign[next]) == i {
			next++
			continue
		}
		if int64(k) >= int64(len(batch)) {
			return nil, fmt.Errorf("%w: result %d is for event %d of %d", errMalformed, i, k, len(batch))
		}
	}
	for _, refs := range [][]uint32{codes, reasons} {
		for i, k := range refs {
			if int64(k) > int64(len(strs)) {
				return nil, fmt.Errorf("%w: result %d refers to string %d of %d", errMalformed, i, k, len(strs))
			}
		}
	}

	table := make([]string, len(strs)+1) // [0] is ""
	for i, s := range strs {
		table[i+1] = string(s)
	}
	results := make([]Result, n)
	next = 0
	for i := range results {
		r := &results[i]
		switch {
		case next < len(foreign) && int(foreign[next]) == i:
			r.ID = string(foreignIDs[next])
			next++
		case len(indexes) > 0:
			r.ID = batch[indexes[i]].ID
		default:
			r.ID = batch[i].ID
		}
		r.Outcome = outcomeFromWire(outcomes[i])
		if len(retryAfter) > 0 {
			r.RetryAfter = millisToDuration(retryAfter[i])
		}
		if len(codes) > 0 {
			r.Code = table[codes[i]]
		}
		if len(reasons) > 0 {
			r.Reason = table[reasons[i]]
		}
	}
	return results, nil
}

// millisToDuration converts milliseconds from the wire, saturating
// instead of overflowing.
func millisToDuration(ms uint64) time.Duration {
	if ms > uint64(math.MaxInt64/time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// clampUint32 converts v, saturating at both ends.
func clampUint32(v int) uint32 {
	switch {
	case v <= 0:
		return 0
	case uint64(v) > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}
