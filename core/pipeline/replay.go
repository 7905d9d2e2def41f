package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard-cdp/switchboard/core/bus"
)

// replayChunk is how many events a replay publishes before it waits for
// their acknowledgements (and, for dead letters, deletes them).
const replayChunk = 1024

// readStall is how long reading a stream may wait for the next message it
// expects before it gives up.
const readStall = 10 * time.Second

// ListDeadLetters returns up to limit of a pipeline's dead letters, oldest
// first, each with its Seq in the dead-letter stream. It returns none, and
// no error, when the dead-letter stream does not exist yet.
func ListDeadLetters(ctx context.Context, js jetstream.JetStream, pipeline string, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []DeadLetter
	err := readDeadLetters(ctx, js, pipeline, func(d DeadLetter) (bool, error) {
		out = append(out, d)
		return len(out) < limit, nil
	})
	if errors.Is(err, ErrNoDeadLetterStream) {
		return nil, nil
	}
	return out, err
}

// ReplayDeadLetters re-publishes the original events of a pipeline's dead
// letters that filter accepts (nil: all of them) to replay.<pipeline>, where
// only that pipeline's consumer reads them, and deletes each dead letter
// once JetStream acknowledged its replay. Replayed events go through the
// pipeline's when: and map: again and start with a fresh attempt count
// and age. It replays the dead letters that exist when it starts (events
// that fail again are not replayed in a loop) and returns how many it
// replayed. An interruption may leave a replayed dead letter in place, to
// be replayed again: at least once, as everywhere.
func ReplayDeadLetters(ctx context.Context, js jetstream.JetStream, pipeline string, filter func(DeadLetter) bool) (int, error) {
	if !validName(pipeline) {
		return 0, fmt.Errorf("%w: pipeline name %q", ErrInvalidOptions, pipeline)
	}
	dlq, err := js.Stream(ctx, DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("replay dead letters of %s: %w", pipeline, err)
	}
	subject := ReplaySubject(pipeline)
	var (
		n       int
		chunk   []*nats.Msg
		seqs    []uint64
		skipped bool // a dead letter the filter refused lies among the replayed ones
	)
	// settle publishes the chunk, waits for its acknowledgements and
	// deletes the dead letters it came from.
	settle := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := publishAll(ctx, js, chunk); err != nil {
			return err
		}
		if !skipped {
			// Every dead letter of the pipeline up to the last one is
			// replayed: one purge removes them.
			err = dlq.Purge(ctx, jetstream.WithPurgeSubject(DeadLetterSubject(pipeline)), jetstream.WithPurgeSequence(seqs[len(seqs)-1]+1))
		} else {
			for _, seq := range seqs {
				if err = dlq.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
					break
				}
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("replay dead letters of %s: events replayed but dead letters not deleted: %w", pipeline, err)
		}
		n += len(chunk)
		chunk, seqs = chunk[:0], seqs[:0]
		return nil
	}
	err = readDeadLetters(ctx, js, pipeline, func(d DeadLetter) (bool, error) {
		if filter != nil && !filter(d) || len(d.event()) == 0 {
			// Refused, or the event was too large to keep in the dead
			// letter: it stays.
			skipped = true
			return true, nil
		}
		stored := d.FirstStoredAt
		chunk = append(chunk, replayMsg(subject, d.Subject, d.MessageID, stored, d.event()))
		seqs = append(seqs, d.Seq)
		if len(chunk) >= replayChunk {
			return true, settle()
		}
		return true, nil
	})
	if errors.Is(err, ErrNoDeadLetterStream) {
		err = nil
	}
	if err == nil {
		err = settle()
	}
	return n, err
}

// readDeadLetters calls fn with each dead letter of pipeline that exists
// when it starts, oldest first, until fn returns false or an error.
func readDeadLetters(ctx context.Context, js jetstream.JetStream, pipeline string, fn func(DeadLetter) (bool, error)) error {
	if !validName(pipeline) {
		return fmt.Errorf("%w: pipeline name %q", ErrInvalidOptions, pipeline)
	}
	st, err := js.Stream(ctx, DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return ErrNoDeadLetterStream
	}
	if err != nil {
		return fmt.Errorf("dead letters of %s: %w", pipeline, err)
	}
	subject := DeadLetterSubject(pipeline)
	return readStream(ctx, st, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}, func(m jetstream.Msg, seq uint64) (bool, error) {
		var d DeadLetter
		if err := json.Unmarshal(m.Data(), &d); err != nil {
			return false, fmt.Errorf("dead letter %d of %s: %w", seq, pipeline, err)
		}
		d.Seq = seq
		return fn(d)
	})
}

// ReplaySince re-publishes the stored events of sources (a pipeline's from:)
// stored at or after since to replay.<pipeline>, where only that pipeline's
// consumer reads them; other pipelines on the same sources get nothing
// extra. It replays what is stored when it starts and returns how many
// events it published. Each gets a fresh Nats-Msg-Id, so the dedupe window
// does not swallow it, and headers naming the original subject, messageId
// and storage time.
func ReplaySince(ctx context.Context, js jetstream.JetStream, pipeline string, sources []string, since time.Time) (int, error) {
	if !validName(pipeline) {
		return 0, fmt.Errorf("%w: pipeline name %q", ErrInvalidOptions, pipeline)
	}
	if len(sources) == 0 {
		return 0, fmt.Errorf("%w: replay of %s: no source", ErrInvalidOptions, pipeline)
	}
	subject := ReplaySubject(pipeline)
	name, err := js.StreamNameBySubject(ctx, subject)
	if err != nil {
		return 0, fmt.Errorf("replay %s: no stream holds %s: %w", pipeline, subject, err)
	}
	st, err := js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("replay %s: %w", pipeline, err)
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if !since.IsZero() {
		t := since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	for _, src := range sources {
		if !validName(src) {
			return 0, fmt.Errorf("%w: source name %q", ErrInvalidOptions, src)
		}
		cfg.FilterSubjects = append(cfg.FilterSubjects, bus.SubjectsPrefix+src+".>")
	}
	n := 0
	var chunk []*nats.Msg
	err = readStream(ctx, st, cfg, func(m jetstream.Msg, _ uint64) (bool, error) {
		meta, err := m.Metadata()
		if err != nil {
			return false, err
		}
		chunk = append(chunk, replayMsg(subject, m.Subject(), messageID(m), meta.Timestamp, m.Data()))
		if len(chunk) >= replayChunk {
			if err := publishAll(ctx, js, chunk); err != nil {
				return false, err
			}
			n += len(chunk)
			chunk = chunk[:0]
		}
		return true, nil
	})
	if err == nil && len(chunk) > 0 {
		if err = publishAll(ctx, js, chunk); err == nil {
			n += len(chunk)
		}
	}
	if err != nil {
		return n, fmt.Errorf("replay %s: %w", pipeline, err)
	}
	return n, nil
}

// readStream reads st through an ordered consumer with cfg, calling fn for
// each message stored when it starts, until fn returns false or an error.
func readStream(ctx context.Context, st jetstream.Stream, cfg jetstream.OrderedConsumerConfig, fn func(m jetstream.Msg, seq uint64) (bool, error)) error {
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	last := info.State.LastSeq
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	defer deleteConsumer(st, cons)
	if ci := cons.CachedInfo(); ci == nil || ci.NumPending == 0 || last == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(replayChunk))
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		nctx, cancel := context.WithTimeout(ctx, readStall)
		m, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("reading stream %s stalled: no message within %s (deleted meanwhile?)", st.CachedInfo().Config.Name, readStall)
			}
			return err
		}
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		seq := meta.Sequence.Stream
		if seq > last {
			return nil
		}
		more, err := fn(m, seq)
		if err != nil || !more || meta.NumPending == 0 || seq == last {
			return err
		}
	}
}

// deleteConsumer deletes the server side of an ordered consumer once it
// has been read. JetStream would keep it for its inactive threshold (5
// minutes), and a stream takes at most 1,000 consumers: a script polling
// `dlq list` would soon make every read of the stream fail.
func deleteConsumer(st jetstream.Stream, cons jetstream.Consumer) {
	ci := cons.CachedInfo()
	if ci == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = st.DeleteConsumer(ctx, ci.Name)
}

// replayMsg is the message that replays an event for one pipeline.
func replayMsg(subject, origSubject, messageID string, stored time.Time, data []byte) *nats.Msg {
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, "replay:"+rand.Text())
	h.Set(HeaderReplaySubject, origSubject)
	if messageID != "" {
		h.Set(HeaderMessageID, messageID)
	}
	if !stored.IsZero() {
		h.Set(HeaderReplayStored, stored.UTC().Format(time.RFC3339Nano))
	}
	return &nats.Msg{Subject: subject, Header: h, Data: data}
}

// publishAll publishes msgs and waits until JetStream acknowledged each.
func publishAll(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) error {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("publish %s: %w", m.Subject, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// CountDeadLetters is how many dead letters of pipeline the dead-letter
// stream holds (0 when it does not exist yet).
func CountDeadLetters(ctx context.Context, js jetstream.JetStream, pipeline string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return -1, err
	}
	subject := DeadLetterSubject(pipeline)
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return -1, err
	}
	return int64(info.State.Subjects[subject]), nil
}

// DeadLetterAt returns the dead letter at seq of the dead-letter stream.
// The error wraps jetstream.ErrMsgNotFound when there is none (replayed,
// expired, or never written).
func DeadLetterAt(ctx context.Context, js jetstream.JetStream, seq uint64) (DeadLetter, error) {
	st, err := js.Stream(ctx, DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, jetstream.ErrMsgNotFound)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	var d DeadLetter
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	d.Seq = seq
	return d, nil
}
