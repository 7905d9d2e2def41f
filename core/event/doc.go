// Package event defines the canonical event every source produces and every
// pipeline consumes: one Go type with the Segment spec's field names.
//
// It holds no I/O and no knowledge of HTTP, JetStream or destinations; sources
// normalise into Event, the bus stores its JSON, pipelines read it back.
package event
