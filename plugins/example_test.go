package plugins_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os/exec"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/switchboard-cdp/switchboard/plugins"
	"github.com/switchboard-cdp/switchboard/plugins/destinationtest"
)

// Deliver returns one result per event: delivered, retry (optionally after
// a delay) or rejected with a reason.
func Example_results() {
	results := []plugins.Result{
		plugins.Delivered("evt-1"),
		plugins.Retry("evt-2", 30*time.Second, "http_429", "rate limited"),
		plugins.Retry("evt-3", 0, "timeout", "no answer in 10s"), // 0: the pipeline's backoff decides
		plugins.Rejected("evt-4", "invalid_email", "em: not an email address"),
	}
	for _, r := range results {
		fmt.Printf("%s: %v after=%v code=%q reason=%q\n", r.ID, r.Outcome, r.RetryAfter, r.Code, r.Reason)
	}
	// Output:
	// evt-1: delivered after=0s code="" reason=""
	// evt-2: retry after=30s code="http_429" reason="rate limited"
	// evt-3: retry after=0s code="timeout" reason="no answer in 10s"
	// evt-4: rejected after=0s code="invalid_email" reason="em: not an email address"
}

// A delivered event is acked; the host forgets it.
func ExampleDelivered() {
	r := plugins.Delivered("evt-1")
	fmt.Println(r.ID, r.Outcome)
	// Output: evt-1 delivered
}

// A retried event is delivered again, no sooner than RetryAfter (for
// instance from a Retry-After header), within the pipeline's retry limits.
func ExampleRetry() {
	r := plugins.Retry("evt-2", 1500*time.Millisecond, "http_503", "service unavailable")
	fmt.Println(r.ID, r.Outcome, r.RetryAfter, r.Code)
	// Output: evt-2 retry 1.5s http_503
}

// A rejected event is never retried: the host dead-letters it with the
// reason, where an operator can read it and replay it once fixed.
func ExampleRejected() {
	r := plugins.Rejected("evt-3", "http_400", `400 Bad Request: {"error":"missing field name"}`)
	fmt.Println(r.ID, r.Outcome, r.Code)
	fmt.Println(r.Reason)
	// Output:
	// evt-3 rejected http_400
	// 400 Bad Request: {"error":"missing field name"}
}

// Configure collects every problem with the settings and returns them as
// FieldErrors, so that the host points at each offending line of
// pipelines.yaml. Note the final "return nil": a nil FieldErrors returned
// as an error is not a nil error.
func ExampleFieldErrors() {
	configure := func(settings json.RawMessage) error {
		var s struct {
			URL  string `json:"url"`
			Mode string `json:"mode"`
		}
		if err := json.Unmarshal(settings, &s); err != nil {
			return plugins.FieldErrors{{Field: "settings", Message: err.Error()}}
		}
		var errs plugins.FieldErrors
		if s.URL == "" {
			errs = append(errs, plugins.FieldError{Field: "url", Message: "required"})
		}
		if s.Mode != "single" && s.Mode != "array" {
			errs = append(errs, plugins.FieldError{Field: "mode", Message: fmt.Sprintf("%q is not single or array", s.Mode)})
		}
		if len(errs) > 0 {
			return errs
		}
		return nil
	}

	err := configure(json.RawMessage(`{"mode":"batch"}`))
	var fe plugins.FieldErrors
	if errors.As(err, &fe) {
		for _, e := range fe {
			fmt.Printf("destinations.mine.settings.%s: %s\n", e.Field, e.Message)
		}
	}
	fmt.Println(configure(json.RawMessage(`{"url":"https://example.com","mode":"array"}`)) == nil)
	// Output:
	// destinations.mine.settings.url: required
	// destinations.mine.settings.mode: "batch" is not single or array
	// true
}

// The host launches a plugin executable, and calls the Destination it
// dispenses as plain Go: every call is a gRPC call to the plugin process.
func ExampleDispense() {
	client := plugin.NewClient(plugins.ClientConfig(exec.Command("./bin/filelog")))
	defer client.Kill()

	d, err := plugins.Dispense(client) // ErrNotPlugin, ErrProtocolVersion
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	spec, err := d.Describe(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(spec.Name, spec.Batch.MaxEvents)

	err = d.Configure(ctx, plugins.Config{
		Destination: "audit",
		Settings:    json.RawMessage(`{"path":"/var/log/audit.jsonl"}`),
		Host:        &destinationtest.MemoryHost{}, // the real host serves JetStream KV and metrics
	})
	var fe plugins.FieldErrors
	if errors.As(err, &fe) {
		log.Fatalf("invalid settings: %v", fe)
	}
	results, err := d.Deliver(ctx, []plugins.Event{{ID: "1", Payload: json.RawMessage(`{"event":"Signed Up"}`), Attempt: 1}})
	if err != nil {
		log.Fatal(err) // the whole batch is retried
	}
	fmt.Println(results[0].Outcome)
	_ = d.Close(ctx)
}
