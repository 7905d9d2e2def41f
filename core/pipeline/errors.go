package pipeline

import "errors"

// ErrInvalidOptions is wrapped by New's errors: a required option is
// missing or a name cannot be used in subjects and consumer names.
var ErrInvalidOptions = errors.New("invalid pipeline options")

// ErrRunning is returned by Run when the Pipeline already runs or ran: a
// Pipeline runs once; make a new one (on the same consumer) to run again.
var ErrRunning = errors.New("pipeline already ran")

// ErrNoDeadLetterStream is wrapped when the dead-letter stream does not
// exist yet (no pipeline has run against this JetStream).
var ErrNoDeadLetterStream = errors.New("no dead-letter stream")
