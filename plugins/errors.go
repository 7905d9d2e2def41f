package plugins

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrNotPlugin is returned by Dispense when the executable did not complete
// the Switchboard plugin handshake: it is not a destination plugin, it exited
// before the handshake, or it printed something else on stdout first.
var ErrNotPlugin = errors.New("not a Switchboard destination plugin")

// ErrProtocolVersion is returned by Dispense when the plugin speaks no
// protocol version this host speaks. Rebuilding the plugin against a release
// of this package that speaks the host's version fixes it.
var ErrProtocolVersion = errors.New("plugin protocol version mismatch")

// ErrPluginExited is wrapped by the error of a host-side call that failed
// because the plugin process had exited (crashed or was killed).
var ErrPluginExited = errors.New("destination plugin exited")

// ErrNoHost is returned by the Host a plugin receives when the host offered
// no host services.
var ErrNoHost = errors.New("no host services offered")

// errMalformed is wrapped by the error for a Deliver request or response
// that breaks the rules of its packed layout (see destination.proto).
var errMalformed = errors.New("malformed message")

// remoteError is an error that crossed the gRPC boundary. Its message is the
// remote side's message prefixed with the method; status.Code still sees the
// gRPC code, and errors.Is sees the local cause (a context error,
// ErrPluginExited), if any.
type remoteError struct {
	method string
	st     *status.Status
	cause  error
}

func (e *remoteError) Error() string {
	if e.cause != nil {
		return e.method + ": " + e.cause.Error() + " (" + e.st.Message() + ")"
	}
	return e.method + ": " + e.st.Message()
}

// GRPCStatus lets status.FromError and status.Code see the wire status.
func (e *remoteError) GRPCStatus() *status.Status { return e.st }

// Unwrap returns the local cause, if any.
func (e *remoteError) Unwrap() error { return e.cause }

// fromWire converts the error of a gRPC call into the error the caller of
// method sees. ctx is the call's context; done is closed (Err non-nil) once
// the other side's process is gone.
func fromWire(ctx, done context.Context, method string, err error) error {
	st := status.Convert(err)
	re := &remoteError{method: method, st: st}
	switch {
	case ctx.Err() != nil:
		re.cause = ctx.Err()
	case done != nil && done.Err() != nil:
		re.cause = ErrPluginExited
	case st.Code() == codes.DeadlineExceeded:
		re.cause = context.DeadlineExceeded
	case st.Code() == codes.Canceled:
		re.cause = context.Canceled
	}
	return re
}

// toWire turns an error returned by a destination or host implementation
// into a gRPC status error. Context errors keep their codes so that the
// other side can tell a deadline from a failure.
func toWire(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}
