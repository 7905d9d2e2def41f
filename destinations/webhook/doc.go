// Package webhook is the built-in destination that sends mapped events as
// JSON to an HTTP endpoint: one request per event (mode single) or one
// JSON array per batch (mode array). 2xx means delivered; 429, 5xx and
// network errors are retried (honouring Retry-After); any other status
// rejects the events with the status and the start of the response body.
//
// It is built on the public SDK in plugins/ exactly as a third party's
// destination would be, and runs out of process as `switchboard plugin
// webhook`. It must not import anything from core/, and must never log or
// echo a header value (they are secret) or the events it sends.
package webhook
