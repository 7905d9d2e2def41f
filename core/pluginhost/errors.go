package pluginhost

import (
	"errors"
	"fmt"
)

// Causes a *RetryError wraps; test them with errors.Is.
var (
	// ErrUnavailable: the plugin process was not running or died during
	// the call (crash, panic, kill); the host is restarting it.
	ErrUnavailable = errors.New("destination plugin is not running")
	// ErrTimeout: the call exceeded the destination's call timeout.
	ErrTimeout = errors.New("destination plugin did not answer in time")
	// ErrFailed: the plugin returned an error for the whole batch (or
	// recovered from a panic while delivering it).
	ErrFailed = errors.New("destination plugin failed the batch")
	// ErrClosed: the destination has been closed.
	ErrClosed = errors.New("destination is closed")
)

// ErrUnknownDestination is returned by Host.Destination for a name that is
// not in the configuration the host was opened with.
var ErrUnknownDestination = errors.New("unknown destination")

// ErrNoState is returned by the state services when the host has no
// JetStream (Validate and Inspect offer none).
var ErrNoState = errors.New("plugin state is not available")

// ErrInvalidBatch is returned by Destination.Deliver when an event has an
// empty or duplicate ID: a bug of the caller, not of the destination.
var ErrInvalidBatch = errors.New("invalid batch")

// RetryError is the error of a Deliver that did not get a result for each
// event: every event of the batch must be delivered again later; none is
// lost and none is known to be rejected. Err wraps one of ErrUnavailable,
// ErrTimeout, ErrFailed or ErrClosed and the underlying cause, or the
// caller's context error when its context ended first.
type RetryError struct {
	Destination string
	Err         error
}

// Error says which destination failed and why.
func (e *RetryError) Error() string {
	return fmt.Sprintf("destination %s: retry the batch: %v", e.Destination, e.Err)
}

// Unwrap returns the cause.
func (e *RetryError) Unwrap() error { return e.Err }
