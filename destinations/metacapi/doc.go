// Package metacapi is the built-in "meta-capi" destination: it sends mapped
// events to Meta's Conversions API (POST {graph_url}/{api_version}/{pixel_id}/events)
// as Meta's documentation asks, not as the official SDKs happen to do it.
//
// For every event of a batch it
//   - reads the mapped object, which uses Meta's own field names (event_name,
//     event_time as unix seconds or RFC 3339, event_id, event_source_url,
//     action_source, user_data, custom_data, …) with raw user values;
//   - normalises and hashes user_data with package normalize, builds fbc from
//     the fbclid of event_source_url when no fbc was given, and derives a
//     stable event_id from the message ID when none was mapped;
//   - validates it the way Meta does (required fields, the 7-day / 62-day age
//     limit, future timestamps, action_source, website and Purchase
//     requirements, app_data, LDU fields, enough customer information) and
//     rejects an invalid event on its own, so that it never sinks the batch;
//   - skips it, reporting it delivered, when its (pixel_id, event_name,
//     event_id) was accepted by Meta within dedupe_window, as recorded in the
//     host's seen set (one Seen call per batch, one MarkSeen per batch after
//     Meta accepted the events, never before).
//
// The remaining events go out in requests of at most max_batch (≤ 1,000)
// events, a few at a time. Responses are classified by Graph's error.code and
// is_transient, not by HTTP status: throttles and downtime are retried,
// configuration problems (token, permission, unknown pixel) are retried after
// a long delay with a loud log line, and an invalid-parameter error (which
// fails Meta's whole batch) is bisected until the offending events are
// isolated and rejected with Meta's own message while the rest are delivered.
//
// Match quality is counted through the host (one AddCounters call per
// batch): events accepted per pixel and event_name, the events carrying each
// match key, dropped values by key and reason, dedupe hits and events without
// an event_id. [Score] and [Recommendations] turn those shares into the
// estimated 0–10 score and the advice `switchboard quality` prints.
//
// The access token and app secret are held in a redacted type and never
// appear in logs, errors, result reasons or counters. The package must not
// import core/ and keeps no global state; it is registered by name in
// cmd/switchboard's table of built-in destinations.
package metacapi
