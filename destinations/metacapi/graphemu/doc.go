// Package graphemu is a faithful local stand-in for Meta's Graph API
// Conversions API edge, POST /{version}/{pixel_id}/events on
// graph.facebook.com. Tests run it with httptest.NewServer(emu); users run it
// as a process so they can see exactly what would be sent to Meta without a
// Meta account.
//
// It checks requests the way Meta does, as compiled in
// ../shared/reference/meta-capi.md (cited below as "ref §N"): the three body
// encodings (§1), the access token and appsecret_proof (§1, §7), the
// 1,000-event limit and the whole-batch-fails rule (§2), the per-event rules
// (§2, §3, §4) and the Graph error envelope with its codes and subcodes (§7).
// It records every accepted event so tests can assert what reached "Meta"
// (and that no (event_name, event_id) pair arrived twice), and it can inject
// the faults a real Graph API produces: throttles, transient errors, 5xx
// responses, hangs and token expiry (§7, §11). A control surface under
// /_emulator/ exposes the same to a user running it as a process.
//
// Where the reference documents a behaviour (a subcode, a message text, a
// limit) the emulator reproduces it exactly. Where the reference is silent
// (the HTTP status of a throttle, the wording of an error Meta does not
// publish, the future-timestamp tolerance) the choice is marked "not in the
// reference" at the place it is made, and is configurable where it matters.
//
// What it must not do: pretend to do attribution, matching, Event Match
// Quality or Meta-side deduplication. It never drops or merges events the
// way Meta's 48-hour dedupe would; it only reports which accepted events
// share a key, so tests can see what Meta would have had to deduplicate. It
// never logs or records access tokens, app secrets or appsecret_proofs.
package graphemu
