package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	destinationv1 "github.com/switchboard-cdp/switchboard/plugins/proto/switchboard/destination/v1"
)

// This file is the plugin side of the shim: a gRPC Destination service
// around the author's Destination, and a Host backed by the host's gRPC
// service, reached through go-plugin's broker.

// destinationServer serves an author's Destination over gRPC.
type destinationServer struct {
	destinationv1.UnimplementedDestinationServer

	impl   Destination
	broker *plugin.GRPCBroker
	logger *slog.Logger

	mu    sync.Mutex
	conns []*grpc.ClientConn // host service connections, closed by Close
}

// guard runs f, turning a panic into an error (and a log line with the
// stack) so that one bad event cannot take the whole plugin down.
func (s *destinationServer) guard(ctx context.Context, method string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			logPanic(ctx, s.logger, method, v, debug.Stack())
			err = status.Errorf(codes.Internal, "destination panicked in %s: %v", method, v)
		}
	}()
	return f()
}

func (s *destinationServer) Describe(ctx context.Context, _ *destinationv1.DescribeRequest) (*destinationv1.DescribeResponse, error) {
	var spec Spec
	err := s.guard(ctx, "Describe", func() (err error) {
		spec, err = s.impl.Describe(ctx)
		return err
	})
	if err != nil {
		return nil, toWire(err)
	}
	resp, err := specToWire(spec)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return resp, nil
}

func (s *destinationServer) Configure(ctx context.Context, req *destinationv1.ConfigureRequest) (*destinationv1.ConfigureResponse, error) {
	var host Host = noHost{}
	var conn *grpc.ClientConn
	if id := req.GetHostBrokerId(); id != 0 {
		var err error
		conn, err = s.broker.Dial(id)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "connect to host services: %v", err)
		}
		host = &hostClient{client: destinationv1.NewHostClient(conn)}
	}
	settings := json.RawMessage(req.GetSettingsJson())
	if len(settings) == 0 {
		settings = json.RawMessage("{}")
	}
	cfg := Config{
		Destination: req.GetDestination(),
		Settings:    settings,
		Host:        host,
		Logger:      s.logger,
	}
	err := s.guard(ctx, "Configure", func() error { return s.impl.Configure(ctx, cfg) })
	if fe, ok := err.(FieldErrors); ok && len(fe) == 0 {
		err = nil // a nil FieldErrors in a non-nil error: the author meant success
	}
	if err == nil {
		if conn != nil {
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
		}
		return &destinationv1.ConfigureResponse{}, nil
	}
	if conn != nil {
		_ = conn.Close()
	}
	if fe, ok := asFieldErrors(err); ok {
		return &destinationv1.ConfigureResponse{Errors: fieldErrorsToWire(fe)}, nil
	}
	return nil, toWire(err)
}

func (s *destinationServer) Deliver(ctx context.Context, req *destinationv1.DeliverRequest) (*destinationv1.DeliverResponse, error) {
	events, ids, err := eventsFromWire(req)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "deliver request: %v", err)
	}
	var results []Result
	err = s.guard(ctx, "Deliver", func() (err error) {
		results, err = s.impl.Deliver(ctx, events)
		return err
	})
	if err != nil {
		return nil, toWire(err)
	}
	return resultsToWire(results, ids), nil
}

func (s *destinationServer) Close(ctx context.Context, _ *destinationv1.CloseRequest) (*destinationv1.CloseResponse, error) {
	err := s.guard(ctx, "Close", func() error { return s.impl.Close(ctx) })
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	if err != nil {
		return nil, toWire(err)
	}
	return &destinationv1.CloseResponse{}, nil
}

// asFieldErrors finds FieldErrors (or a single FieldError) in err's chain.
func asFieldErrors(err error) (FieldErrors, bool) {
	var fes FieldErrors
	if errors.As(err, &fes) {
		return fes, true
	}
	var pfes *FieldErrors
	if errors.As(err, &pfes) && pfes != nil {
		return *pfes, true
	}
	var fe FieldError
	if errors.As(err, &fe) {
		return FieldErrors{fe}, true
	}
	var pfe *FieldError
	if errors.As(err, &pfe) && pfe != nil {
		return FieldErrors{*pfe}, true
	}
	return nil, false
}

// hostClient is the Host a plugin's author uses: every call is one gRPC
// round trip to the host's service.
type hostClient struct {
	client destinationv1.HostClient
}

func (h *hostClient) StateGet(ctx context.Context, keys []string) (map[string][]byte, error) {
	if len(keys) == 0 {
		return map[string][]byte{}, nil
	}
	resp, err := h.client.StateGet(ctx, &destinationv1.StateGetRequest{Keys: keys})
	if err != nil {
		return nil, fromWire(ctx, nil, "host StateGet", err)
	}
	values := resp.GetValues()
	if values == nil {
		values = map[string][]byte{}
	}
	return values, nil
}

func (h *hostClient) StateCreate(ctx context.Context, entries []Entry, ttl time.Duration) ([]bool, error) {
	if len(entries) == 0 {
		return []bool{}, nil
	}
	resp, err := h.client.StateCreate(ctx, &destinationv1.StateCreateRequest{
		Entries: entriesToWire(entries),
		TtlMs:   durationToMillis(ttl),
	})
	if err != nil {
		return nil, fromWire(ctx, nil, "host StateCreate", err)
	}
	created := resp.GetCreated()
	if len(created) != len(entries) {
		return nil, fmt.Errorf("host StateCreate: %d answers for %d entries", len(created), len(entries))
	}
	return created, nil
}

func (h *hostClient) StatePut(ctx context.Context, entries []Entry, ttl time.Duration) error {
	if len(entries) == 0 {
		return nil
	}
	_, err := h.client.StatePut(ctx, &destinationv1.StatePutRequest{
		Entries: entriesToWire(entries),
		TtlMs:   durationToMillis(ttl),
	})
	if err != nil {
		return fromWire(ctx, nil, "host StatePut", err)
	}
	return nil
}

func (h *hostClient) StateDelete(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := h.client.StateDelete(ctx, &destinationv1.StateDeleteRequest{Keys: keys}); err != nil {
		return fromWire(ctx, nil, "host StateDelete", err)
	}
	return nil
}

func (h *hostClient) AddCounters(ctx context.Context, counters []Counter) error {
	if len(counters) == 0 {
		return nil
	}
	if _, err := h.client.AddCounters(ctx, &destinationv1.AddCountersRequest{Counters: countersToWire(counters)}); err != nil {
		return fromWire(ctx, nil, "host AddCounters", err)
	}
	return nil
}

func (h *hostClient) Seen(ctx context.Context, keys []string) ([]bool, error) {
	if len(keys) == 0 {
		return []bool{}, nil
	}
	resp, err := h.client.Seen(ctx, &destinationv1.SeenRequest{Keys: keys})
	if err != nil {
		return nil, fromWire(ctx, nil, "host Seen", err)
	}
	seen := resp.GetSeen()
	if len(seen) != len(keys) {
		return nil, fmt.Errorf("host Seen: %d answers for %d keys", len(seen), len(keys))
	}
	return seen, nil
}

func (h *hostClient) MarkSeen(ctx context.Context, keys []string, ttl time.Duration) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := h.client.MarkSeen(ctx, &destinationv1.MarkSeenRequest{Keys: keys, TtlMs: durationToMillis(ttl)}); err != nil {
		return fromWire(ctx, nil, "host MarkSeen", err)
	}
	return nil
}

// noHost is the Host of a plugin whose host offered no services.
type noHost struct{}

func (noHost) StateGet(context.Context, []string) (map[string][]byte, error) { return nil, ErrNoHost }
func (noHost) StateCreate(context.Context, []Entry, time.Duration) ([]bool, error) {
	return nil, ErrNoHost
}
func (noHost) StatePut(context.Context, []Entry, time.Duration) error { return ErrNoHost }
func (noHost) StateDelete(context.Context, []string) error            { return ErrNoHost }
func (noHost) Seen(context.Context, []string) ([]bool, error)         { return nil, ErrNoHost }
func (noHost) MarkSeen(context.Context, []string, time.Duration) error {
	return ErrNoHost
}
func (noHost) AddCounters(context.Context, []Counter) error { return ErrNoHost }

var (
	_ destinationv1.DestinationServer = (*destinationServer)(nil)
	_ Host                            = (*hostClient)(nil)
	_ Host                            = noHost{}
)
