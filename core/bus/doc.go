// Package bus is Switchboard's JetStream layer: it starts the embedded
// nats-server (or connects to an external NATS cluster), creates and updates
// the events stream, publishes events durably and reads them back.
//
// After Open the code path is the same for embedded and external mode. The
// package knows subjects, streams and acknowledgements; it must not know HTTP,
// the Segment spec or pipelines.
package bus
