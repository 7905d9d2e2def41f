// Package segment is Switchboard's Segment-compatible HTTP tracking API: the
// routes under /v1/ that analytics.js (analytics-next), the Segment server
// and mobile libraries, and RudderStack's SDKs post to unchanged.
//
// A Handler authenticates a request by write key, reads its body (gzip or
// not, whatever the Content-Type says), checks every event against the
// Segment spec (event.Event.Validate), enriches it (messageId, receivedAt,
// clock-skew corrected timestamp, batch context, context.ip) and publishes
// the whole request to the bus in one call, one message per event. It
// answers 200 only after the bus acknowledged every event; a request it
// cannot store whole is refused whole, so a client's retry is always safe
// (the source-scoped messageId is the dedupe id).
//
// The hot path does not build maps of the client's JSON: a single-pass
// validating scanner (scan.go) records each event's top-level members as
// byte ranges, and the stored event.Event JSON is written from those
// ranges, copying nested values (properties, traits, …) as the client sent
// them. The test-only reference_test.go does the same job with
// encoding/json and the fuzz tests require both to agree.
//
// The package must not know pipelines or destinations, must not keep events
// anywhere but the bus, and must never store, log or echo a write key
// (the settings document analytics.js fetches by key is the one place that
// names it, as apiKey, to the caller who already sent it). What every
// source shares — body reading, client IP, CORS, rate limits, answers,
// metrics, the durable publish — lives in sources/ingest.
package segment
