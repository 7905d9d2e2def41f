package bus

import "errors"

// ErrUnavailable means JetStream could not store a message: the server is
// unreachable, the stream is missing or full, or an acknowledgement timed
// out. Nothing in the failed call may be claimed as stored; callers answer
// 503 and let the client retry.
var ErrUnavailable = errors.New("jetstream unavailable")
