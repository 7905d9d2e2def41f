// Package pipeline runs Switchboard's pipelines: for each one, a durable
// JetStream pull consumer on the events stream feeds
//
//	consume → when: filter → map: → batch → deliver → per-event ack
//
// and every event the pipeline selects ends either accepted by its
// destination (Ack) or in the dead-letter stream with its reason (published,
// acknowledged by JetStream, then Term). Nothing is acknowledged before its
// fate is stored, so a crash at any point redelivers rather than loses
// (at-least-once; duplicates are possible, losses are not).
//
// # Subjects, streams and consumers
//
//   - Events are read from the events stream (core/bus), subjects
//     events.<source>.<type>, and from replay.<pipeline>, where the replay
//     functions of this package re-publish events for one pipeline only.
//   - Each pipeline has one durable consumer, named ConsumerName(pipeline),
//     filtered to events.<source>.> for each of its sources plus
//     replay.<pipeline>. Several processes running the same pipeline share
//     it; JetStream spreads the messages, nothing here coordinates them.
//   - A new pipeline starts from the beginning of the events stream's
//     retention (DeliverAll): adding a pipeline delivers the events still
//     stored, just as ReplaySince would. Changing its sources or batch and
//     retry settings updates the consumer in place and keeps its position
//     in the stream: a source added later is read from that position on
//     (ReplaySince brings its older events). Deleting the consumer by hand
//     makes the pipeline start from the beginning of retention again.
//   - Dead letters go to the stream DeadLetterStream ("DLQ"), subject
//     dlq.<pipeline>, one JSON DeadLetter per event.
//
// # Outcomes
//
// Per event: filtered by when: → Ack. A mapping error (including an event
// that is not valid JSON) → dead letter. Destination says delivered → Ack;
// rejected → dead letter; retry, or the whole Deliver call failed →
// NakWithDelay with exponential backoff and jitter (a longer retry-after of
// the destination wins), or a dead letter once the pipeline's
// retry.max_attempts deliveries were made or the event is older than
// retry.max_age. Attempts are JetStream's delivery count of the message
// (Msg.Metadata().NumDelivered), so they survive restarts and are shared by
// every process; a delivery interrupted by a shutdown counts as one.
//
// The package must not know HTTP, plugin processes or the Segment spec: it
// sees a Mapper (core/mapping's *Program) and a Destination (core/pluginhost's
// *Destination) through the small interfaces declared here.
package pipeline
