// Package ingest is the HTTP machinery every tracking source shares: reading
// a request body (gzip or not, capped before and after decompression, into
// pooled buffers), the client's IP behind trusted proxies, CORS for
// browsers, per-source rate limits answered with 429 and Retry-After, the
// JSON answers ({"success":true} or {"success":false,"error":…}), the
// request and event metrics, and the durable publish that answers 200 only
// after the bus acknowledged every event (503 with Retry-After otherwise).
//
// Sources (sources/segment, sources/tealium) own their routes, their wire
// formats and their mapping into core/event.Event; this package owns the
// behaviour a client must find identical whichever source it talks to.
//
// It must not know any source's wire format, pipelines or destinations,
// must not keep events anywhere but the bus, and must never log or echo a
// credential.
package ingest
