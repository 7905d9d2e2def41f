// Package tealium is Switchboard's Tealium-compatible collection API: the
// routes of Tealium's Collect HTTP API that utag.js's Collect tag, AMP's
// tealiumcollect vendor, the Tealium mobile SDKs and server-side senders
// use unchanged.
//
//	GET  /event       attributes in the query string; answers a 1×1 GIF
//	POST /event       one flat JSON object, or form-encoded attributes
//	POST /bulk-event  {"shared": {…}, "events": [{…}, …]}
//
// A request belongs to the configured source whose account, profile
// (default main) and, if it has one, datasource its tealium_account,
// tealium_profile and tealium_datasource name; a source with a key also
// wants it as Authorization: Bearer KEY or ?key=KEY. Each event's
// attributes become one canonical core/event.Event (see Normalize): view
// is a page call, a mobile SDK's screen view (tealium_event_type view) a
// screen call, anything else a track call named by tealium_event;
// tealium_visitor_id is the anonymousId and a configured attribute the
// userId; tealium_* attributes go to context.tealium, dom.* page data to
// context.page, every other attribute to properties. A Tealium event has
// no messageId, so one is derived from its content: a retried beacon is
// stored once.
//
// Body reading, CORS, client IP, rate limits, answers, metrics and the
// durable publish (200 only after JetStream acknowledged every event of
// the request, 503 otherwise) are sources/ingest's, shared with the
// Segment source, so a client finds the same behaviour on both.
//
// The package must not know pipelines or destinations, must not keep events
// anywhere but the bus, and must never store, log or echo a key.
package tealium
