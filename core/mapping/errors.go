package mapping

import (
	"errors"
	"strings"
)

// ErrLimit is wrapped by every evaluation error caused by one of the
// package's limits (MaxSteps, MaxStringBytes, MemoryBudget): the expression,
// not the event, is at fault, or the event is far larger than intended.
var ErrLimit = errors.New("limit exceeded")

// ErrEvent is wrapped by NewEnv's errors: the data is not a JSON object
// shaped like a Segment event.
var ErrEvent = errors.New("invalid event")

// EvalError is an error evaluating a pipeline's expressions for one event.
// Path names the expression: "when", or the output field such as
// "map.user_data.em" or "map.content_ids[0]".
type EvalError struct {
	Path string
	Err  error
}

// Error gives "PATH: message".
func (e *EvalError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error, so errors.Is(err, ErrLimit) works.
func (e *EvalError) Unwrap() error { return e.Err }

// cleanMessage is an expr-lang error message without its trailing
// location and source snippet, on one line.
func cleanMessage(msg string) string {
	if i := strings.Index(msg, "\n | "); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(strings.ReplaceAll(msg, "\n", " "))
}
