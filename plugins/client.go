package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	destinationv1 "github.com/switchboard-cdp/switchboard/plugins/proto/switchboard/destination/v1"
)

// This file is the host side of the shim: a Destination whose methods are
// gRPC calls to the plugin, and the gRPC Host service it serves for the
// plugin through go-plugin's broker.

// maxMessageSize bounds one gRPC message either way (a batch of thousands of
// events can exceed gRPC's 4 MiB default).
const maxMessageSize = math.MaxInt32

// destinationClient is the Destination the host gets from Dispense.
type destinationClient struct {
	client destinationv1.DestinationClient
	broker *plugin.GRPCBroker
	done   context.Context // cancelled when the plugin process is gone

	// deliverOpts make Deliver calls use the Destination service's codec.
	deliverOpts []grpc.CallOption
	// requests holds *DeliverRequests for reuse: their buffers, grown to
	// the size of a batch, are the largest allocation of a Deliver.
	requests sync.Pool

	mu    sync.Mutex
	hosts []*hostService // served for the plugin until Close
}

func (c *destinationClient) Describe(ctx context.Context) (Spec, error) {
	resp, err := c.client.Describe(ctx, &destinationv1.DescribeRequest{})
	if err != nil {
		return Spec{}, fromWire(ctx, c.done, "describe", err)
	}
	return specFromWire(resp), nil
}

// Configure serves cfg.Host for the plugin (until Close) and sends the
// settings. cfg.Logger, if set, logs host-side problems of the host
// service (a panic in cfg.Host); the plugin has its own logger.
func (c *destinationClient) Configure(ctx context.Context, cfg Config) error {
	var hs *hostService
	var id uint32
	if cfg.Host != nil {
		id = c.broker.NextId()
		hs = c.serveHost(id, cfg.Host, cfg.Logger)
	}
	resp, err := c.client.Configure(ctx, &destinationv1.ConfigureRequest{
		Destination:  cfg.Destination,
		SettingsJson: cfg.Settings,
		HostBrokerId: id,
	})
	if err == nil && len(resp.GetErrors()) == 0 {
		if hs != nil {
			c.mu.Lock()
			c.hosts = append(c.hosts, hs)
			c.mu.Unlock()
		}
		return nil
	}
	if hs != nil {
		hs.stop()
	}
	if err != nil {
		return fromWire(ctx, c.done, "configure", err)
	}
	return fieldErrorsFromWire(resp.GetErrors())
}

// Deliver packs batch into one request (copying the events' data once)
// and unpacks the results: their ids are batch's own strings.
func (c *destinationClient) Deliver(ctx context.Context, batch []Event) ([]Result, error) {
	req, _ := c.requests.Get().(*destinationv1.DeliverRequest)
	if req == nil {
		req = &destinationv1.DeliverRequest{}
	}
	if err := eventsToWire(req, batch); err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	resp, err := c.client.Deliver(ctx, req, c.deliverOpts...)
	// Once a unary call returns, gRPC no longer refers to its request: it
	// encoded it at the start, and retries resend the encoded bytes. Only
	// its optional tracing keeps the message, to print it later.
	if !grpc.EnableTracing {
		c.requests.Put(req)
	}
	if err != nil {
		return nil, fromWire(ctx, c.done, "deliver", err)
	}
	results, err := resultsFromWire(resp, batch)
	if err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	return results, nil
}

// Close closes the plugin's destination, then stops serving the host
// services. It does not stop the plugin process: the go-plugin client's
// Kill does.
func (c *destinationClient) Close(ctx context.Context) error {
	_, err := c.client.Close(ctx, &destinationv1.CloseRequest{})
	c.mu.Lock()
	hosts := c.hosts
	c.hosts = nil
	c.mu.Unlock()
	for _, hs := range hosts {
		hs.stop()
	}
	if err != nil {
		return fromWire(ctx, c.done, "close", err)
	}
	return nil
}

// serveHost serves h on broker id until the returned service is stopped
// (or the plugin connection ends).
func (c *destinationClient) serveHost(id uint32, h Host, logger *slog.Logger) *hostService {
	if logger == nil {
		logger = discardLogger()
	}
	hs := &hostService{}
	impl := &hostServer{impl: h, logger: logger}
	go c.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		opts = append(opts, grpc.MaxRecvMsgSize(maxMessageSize))
		srv := grpc.NewServer(opts...)
		destinationv1.RegisterHostServer(srv, impl)
		hs.attach(srv)
		return srv
	})
	return hs
}

// hostService is one gRPC server of host services. The broker creates the
// server asynchronously, so stop may come first.
type hostService struct {
	mu      sync.Mutex
	srv     *grpc.Server
	stopped bool
}

func (h *hostService) attach(srv *grpc.Server) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.srv = srv
	if h.stopped {
		srv.Stop() // Serve, called next, returns at once
	}
}

func (h *hostService) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	if h.srv != nil {
		h.srv.Stop()
	}
}

// hostServer serves the host's Host implementation to the plugin.
type hostServer struct {
	destinationv1.UnimplementedHostServer

	impl   Host
	logger *slog.Logger
}

// guard turns a panic in the host's own Host implementation into an error
// for the plugin instead of a crash of the host.
func (s *hostServer) guard(ctx context.Context, method string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.logger.LogAttrs(ctx, slog.LevelError, "host service panicked",
				slog.String("method", method),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			err = status.Errorf(codes.Internal, "host service panicked in %s: %v", method, v)
		}
	}()
	return toWire(f())
}

func (s *hostServer) StateGet(ctx context.Context, req *destinationv1.StateGetRequest) (*destinationv1.StateGetResponse, error) {
	var values map[string][]byte
	err := s.guard(ctx, "StateGet", func() (err error) {
		values, err = s.impl.StateGet(ctx, req.GetKeys())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &destinationv1.StateGetResponse{Values: values}, nil
}

func (s *hostServer) StateCreate(ctx context.Context, req *destinationv1.StateCreateRequest) (*destinationv1.StateCreateResponse, error) {
	var created []bool
	err := s.guard(ctx, "StateCreate", func() (err error) {
		created, err = s.impl.StateCreate(ctx, entriesFromWire(req.GetEntries()), time.Duration(req.GetTtlMs())*time.Millisecond)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &destinationv1.StateCreateResponse{Created: created}, nil
}

func (s *hostServer) StatePut(ctx context.Context, req *destinationv1.StatePutRequest) (*destinationv1.StatePutResponse, error) {
	err := s.guard(ctx, "StatePut", func() error {
		return s.impl.StatePut(ctx, entriesFromWire(req.GetEntries()), time.Duration(req.GetTtlMs())*time.Millisecond)
	})
	if err != nil {
		return nil, err
	}
	return &destinationv1.StatePutResponse{}, nil
}

func (s *hostServer) StateDelete(ctx context.Context, req *destinationv1.StateDeleteRequest) (*destinationv1.StateDeleteResponse, error) {
	err := s.guard(ctx, "StateDelete", func() error { return s.impl.StateDelete(ctx, req.GetKeys()) })
	if err != nil {
		return nil, err
	}
	return &destinationv1.StateDeleteResponse{}, nil
}

func (s *hostServer) AddCounters(ctx context.Context, req *destinationv1.AddCountersRequest) (*destinationv1.AddCountersResponse, error) {
	err := s.guard(ctx, "AddCounters", func() error { return s.impl.AddCounters(ctx, countersFromWire(req.GetCounters())) })
	if err != nil {
		return nil, err
	}
	return &destinationv1.AddCountersResponse{}, nil
}

func (s *hostServer) Seen(ctx context.Context, req *destinationv1.SeenRequest) (*destinationv1.SeenResponse, error) {
	var seen []bool
	err := s.guard(ctx, "Seen", func() (err error) {
		seen, err = s.impl.Seen(ctx, req.GetKeys())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &destinationv1.SeenResponse{Seen: seen}, nil
}

func (s *hostServer) MarkSeen(ctx context.Context, req *destinationv1.MarkSeenRequest) (*destinationv1.MarkSeenResponse, error) {
	err := s.guard(ctx, "MarkSeen", func() error {
		return s.impl.MarkSeen(ctx, req.GetKeys(), time.Duration(req.GetTtlMs())*time.Millisecond)
	})
	if err != nil {
		return nil, err
	}
	return &destinationv1.MarkSeenResponse{}, nil
}

var (
	_ Destination              = (*destinationClient)(nil)
	_ destinationv1.HostServer = (*hostServer)(nil)
)
