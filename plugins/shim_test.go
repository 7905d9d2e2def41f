package plugins_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

// scripted is a destination whose behaviour each test sets.
type scripted struct {
	spec      plugins.Spec
	configure func(context.Context, plugins.Config) error
	deliver   func(context.Context, []plugins.Event) ([]plugins.Result, error)
	closeErr  error

	mu  sync.Mutex
	cfg plugins.Config // as Configure received it
}

func (s *scripted) Describe(context.Context) (plugins.Spec, error) { return s.spec, nil }

func (s *scripted) Configure(ctx context.Context, cfg plugins.Config) error {
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	if s.configure != nil {
		return s.configure(ctx, cfg)
	}
	return nil
}

func (s *scripted) Deliver(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
	return s.deliver(ctx, batch)
}

func (s *scripted) Close(context.Context) error { return s.closeErr }

func (s *scripted) config() plugins.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

var _ plugins.Destination = (*scripted)(nil)

// connect serves d through the gRPC shim with a logger writing to logs.
func connect(t *testing.T, d plugins.Destination, logs *bytes.Buffer) plugins.Destination {
	t.Helper()
	p := &plugins.DestinationPlugin{Impl: d}
	if logs != nil {
		p.Logger = slog.New(slog.NewJSONHandler(&lockedBuffer{b: logs}, nil))
	}
	client, server := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{plugins.PluginName: p})
	t.Cleanup(func() {
		_ = client.Close()
		<-server.DoneCh
	})
	raw, err := client.Dispense(plugins.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(plugins.Destination)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestDescribeRoundTrip(t *testing.T) {
	spec := plugins.Spec{
		Name:        "all-types",
		Version:     "2.3.4",
		Description: "every setting type",
		Settings: []plugins.Setting{
			{Name: "s", Type: plugins.TypeString, Default: "x", Enum: []string{"x", "y"}, Description: "d"},
			{Name: "i", Type: plugins.TypeInt, Default: 9007199254740993, Description: "d"},
			{Name: "f", Type: plugins.TypeFloat, Default: 0.25, Description: "d"},
			{Name: "b", Type: plugins.TypeBool, Default: true, Description: "d"},
			{Name: "d", Type: plugins.TypeDuration, Default: 90 * time.Second, Description: "d"},
			{Name: "l", Type: plugins.TypeStringList, Default: []string{"a", "b"}, Description: "d"},
			{Name: "m", Type: plugins.TypeStringMap, Default: map[string]string{"k": "v"}, Description: "d"},
			{Name: "o", Type: plugins.TypeObject, Default: map[string]any{"n": 1}, Description: "d"},
			{Name: "token", Type: plugins.TypeString, Required: true, Secret: true, Description: "d"},
		},
		Batch: plugins.BatchLimits{MaxEvents: 1000, MaxBytes: 4 << 20, MaxWait: 1500 * time.Microsecond},
	}
	d := connect(t, &scripted{spec: spec}, nil)
	got, err := d.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := spec
	want.Settings = append([]plugins.Setting(nil), spec.Settings...)
	want.Settings[1].Default = int64(9007199254740993) // exact: no float64 on the way
	want.Settings[4].Default = "1m30s"
	want.Settings[7].Default = map[string]any{"n": json.Number("1")}
	want.Batch.MaxWait = 2 * time.Millisecond // whole milliseconds, rounded up
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Describe through gRPC:\n got %#v\nwant %#v", got, want)
	}
}

func TestConfigure(t *testing.T) {
	fieldErrs := plugins.FieldErrors{{Field: "url", Message: "required"}, {Field: "headers.X", Message: "bad"}}
	tests := []struct {
		name       string
		err        error
		wantFields plugins.FieldErrors // nil: not field errors
		wantErr    string              // substring of a plain error; "" with no fields: success
	}{
		{"ok", nil, nil, ""},
		{"field errors", fieldErrs, fieldErrs, ""},
		{"wrapped field errors", fmt.Errorf("settings: %w", fieldErrs), fieldErrs, ""},
		{"single field error", plugins.FieldError{Field: "mode", Message: "must be single or array"},
			plugins.FieldErrors{{Field: "mode", Message: "must be single or array"}}, ""},
		{"empty field errors mean success", plugins.FieldErrors(nil), nil, ""},
		{"plain error", errors.New("cannot reach the vendor"), nil, "configure: cannot reach the vendor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			impl := &scripted{configure: func(context.Context, plugins.Config) error { return tt.err }}
			d := connect(t, impl, nil)
			err := d.Configure(t.Context(), plugins.Config{Destination: "dest", Host: &destinationtest.MemoryHost{}})
			var fe plugins.FieldErrors
			switch {
			case tt.wantFields != nil:
				if !errors.As(err, &fe) || !reflect.DeepEqual(fe, tt.wantFields) {
					t.Fatalf("Configure = %#v, want %#v", err, tt.wantFields)
				}
			case tt.wantErr != "":
				if err == nil || errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Configure = %#v, want a plain error containing %q", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("Configure = %v, want nil", err)
				}
			}
			cfg := impl.config()
			if cfg.Destination != "dest" || string(cfg.Settings) != "{}" || cfg.Host == nil || cfg.Logger == nil {
				t.Errorf("plugin got config %+v", cfg)
			}
		})
	}
}

// TestHostCallbacks checks every Host method from the plugin, through the
// broker, to the host's MemoryHost and back.
func TestHostCallbacks(t *testing.T) {
	var gotCreated, again []bool
	var gotValues map[string][]byte
	impl := &scripted{}
	impl.deliver = func(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
		h := impl.config().Host
		var err error
		entries := []plugins.Entry{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}
		if gotCreated, err = h.StateCreate(ctx, entries, time.Hour); err != nil {
			return nil, err
		}
		if again, err = h.StateCreate(ctx, entries[:1], time.Hour); err != nil {
			return nil, err
		}
		if err := h.StatePut(ctx, []plugins.Entry{{Key: "b", Value: []byte("3")}}, 0); err != nil {
			return nil, err
		}
		if err := h.StateDelete(ctx, []string{"a", "missing"}); err != nil {
			return nil, err
		}
		if gotValues, err = h.StateGet(ctx, []string{"a", "b"}); err != nil {
			return nil, err
		}
		err = h.AddCounters(ctx, []plugins.Counter{
			{Name: "sent", Delta: 2},
			{Name: "sent", Delta: 1.5},
			{Name: "errors", Labels: map[string]string{"code": "x"}, Delta: 1},
		})
		return nil, err
	}
	host := &destinationtest.MemoryHost{}
	d := connect(t, impl, nil)
	if err := d.Configure(t.Context(), plugins.Config{Host: host}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deliver(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotCreated, []bool{true, true}) || !reflect.DeepEqual(again, []bool{false}) {
		t.Errorf("StateCreate = %v then %v", gotCreated, again)
	}
	if !reflect.DeepEqual(gotValues, map[string][]byte{"b": []byte("3")}) {
		t.Errorf("StateGet = %q", gotValues)
	}
	if host.Counter("sent", nil) != 3.5 || host.Counter("errors", map[string]string{"code": "x"}) != 1 {
		t.Errorf("counters = %+v", host.Counters())
	}

	// After Close, the host no longer serves the plugin.
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := impl.config().Host.StateGet(t.Context(), []string{"b"})
	if err == nil {
		t.Error("StateGet after Close succeeded")
	}
}

func TestHostErrorsReachPlugin(t *testing.T) {
	impl := &scripted{}
	impl.deliver = func(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
		err := impl.config().Host.AddCounters(ctx, []plugins.Counter{{Name: "bad name!", Delta: 1}})
		return nil, fmt.Errorf("count: %w", err)
	}
	d := connect(t, impl, nil)
	if err := d.Configure(t.Context(), plugins.Config{Host: &destinationtest.MemoryHost{}}); err != nil {
		t.Fatal(err)
	}
	_, err := d.Deliver(t.Context(), nil)
	if err == nil || !strings.Contains(err.Error(), `counter "bad name!"`) {
		t.Fatalf("Deliver = %v, want the host's error", err)
	}
}

func TestNoHost(t *testing.T) {
	impl := &scripted{}
	impl.deliver = func(ctx context.Context, _ []plugins.Event) ([]plugins.Result, error) {
		_, err := impl.config().Host.StateGet(ctx, []string{"k"})
		return nil, err
	}
	d := connect(t, impl, nil)
	if err := d.Configure(t.Context(), plugins.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deliver(t.Context(), nil); err == nil || !strings.Contains(err.Error(), plugins.ErrNoHost.Error()) {
		t.Fatalf("Deliver = %v, want ErrNoHost's message", err)
	}
}

func TestDeliverRoundTrip(t *testing.T) {
	var got []plugins.Event
	impl := &scripted{deliver: func(_ context.Context, batch []plugins.Event) ([]plugins.Result, error) {
		got = batch
		return []plugins.Result{
			plugins.Delivered("1"),
			plugins.Retry("2", 1500*time.Microsecond, "http_429", "slow down"),
			plugins.Rejected("3", "invalid_parameter", "bad email"),
			{ID: "4"}, // no outcome: crosses as is, for the host to treat
			plugins.Delivered("ünïcødé-🦀"),
			// none for "6": the host retries it
			plugins.Rejected("not-in-batch", "bug", "an id the batch does not have"),
		}, nil
	}}
	d := connect(t, impl, nil)
	batch := []plugins.Event{
		{ID: "1", Payload: json.RawMessage(`{"id":12345678901234567890,"price":0.1}`), Attempt: 1, MessageID: "m1"},
		{ID: "2", Payload: json.RawMessage(`{}`), Attempt: 7, MessageID: "m2"},
		{ID: "3", Payload: json.RawMessage(`{"a":[1,2]}`)},
		{ID: "4", Payload: json.RawMessage(`{}`)},
		{ID: "ünïcødé-🦀", Payload: json.RawMessage(`{"ü":"🦀"}`), Attempt: 2, MessageID: "mëssage-✓"},
		{ID: "6"}, // no payload: arrives as nil
	}
	results, err := d.Deliver(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, batch) {
		t.Errorf("plugin got %+v, want %+v", got, batch)
	}
	want := []plugins.Result{
		{ID: "1", Outcome: plugins.OutcomeDelivered},
		{ID: "2", Outcome: plugins.OutcomeRetry, RetryAfter: 2 * time.Millisecond, Code: "http_429", Reason: "slow down"},
		{ID: "3", Outcome: plugins.OutcomeRejected, Code: "invalid_parameter", Reason: "bad email"},
		{ID: "4"},
		{ID: "ünïcødé-🦀", Outcome: plugins.OutcomeDelivered},
		{ID: "not-in-batch", Outcome: plugins.OutcomeRejected, Code: "bug", Reason: "an id the batch does not have"},
	}
	if !reflect.DeepEqual(results, want) {
		t.Errorf("results %+v, want %+v", results, want)
	}
}

func TestDeliverErrors(t *testing.T) {
	t.Run("error", func(t *testing.T) {
		d := connect(t, &scripted{deliver: func(context.Context, []plugins.Event) ([]plugins.Result, error) {
			return nil, errors.New("vendor down")
		}}, nil)
		_, err := d.Deliver(t.Context(), nil)
		if err == nil || err.Error() != "deliver: vendor down" {
			t.Fatalf("Deliver = %v, want \"deliver: vendor down\"", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		d := connect(t, &scripted{deliver: func(ctx context.Context, _ []plugins.Event) ([]plugins.Result, error) {
			<-ctx.Done() // the host's deadline reaches the plugin
			return nil, ctx.Err()
		}}, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := d.Deliver(ctx, nil)
		if !errors.Is(err, context.DeadlineExceeded) || status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("Deliver = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("panic", func(t *testing.T) {
		var logs bytes.Buffer
		calls := 0
		d := connect(t, &scripted{deliver: func(_ context.Context, batch []plugins.Event) ([]plugins.Result, error) {
			calls++
			if calls == 1 {
				_ = batch[5] // index out of range
			}
			return nil, nil
		}}, &logs)
		_, err := d.Deliver(t.Context(), nil)
		if err == nil || !strings.Contains(err.Error(), "destination panicked in Deliver: runtime error: index out of range") {
			t.Fatalf("Deliver = %v, want the panic as an error", err)
		}
		if _, err := d.Deliver(t.Context(), nil); err != nil {
			t.Fatalf("Deliver after a panic: %v", err)
		}
		if !strings.Contains(logs.String(), `"stack":"goroutine`) || !strings.Contains(logs.String(), `"level":"ERROR"`) {
			t.Errorf("panic not logged with its stack:\n%s", logs.String())
		}
	})
	t.Run("panic in Configure", func(t *testing.T) {
		d := connect(t, &scripted{configure: func(context.Context, plugins.Config) error { panic("oops") }}, &bytes.Buffer{})
		err := d.Configure(t.Context(), plugins.Config{Host: &destinationtest.MemoryHost{}})
		if err == nil || !strings.Contains(err.Error(), "destination panicked in Configure: oops") {
			t.Fatalf("Configure = %v", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		d := connect(t, &scripted{closeErr: errors.New("flush failed")}, nil)
		if err := d.Close(t.Context()); err == nil || err.Error() != "close: flush failed" {
			t.Fatalf("Close = %v", err)
		}
	})
}
