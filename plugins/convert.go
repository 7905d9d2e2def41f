package plugins

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	destinationv1 "github.com/switchboard-cdp/switchboard/plugins/proto/switchboard/destination/v1"
)

// This file converts between the SDK's Go types and the protocol's messages.
// Both directions live side by side so that a field added to one is not
// forgotten in the other.

func specToWire(s Spec) (*destinationv1.DescribeResponse, error) {
	resp := &destinationv1.DescribeResponse{
		Name:        s.Name,
		Version:     s.Version,
		Description: s.Description,
		Settings:    make([]*destinationv1.Setting, len(s.Settings)),
		Batch: &destinationv1.BatchLimits{
			MaxEvents: uint32(max(s.Batch.MaxEvents, 0)),
			MaxBytes:  uint64(max(s.Batch.MaxBytes, 0)),
			MaxWaitMs: durationToMillis(s.Batch.MaxWait),
		},
	}
	for i, set := range s.Settings {
		def, err := defaultToJSON(set)
		if err != nil {
			return nil, fmt.Errorf("setting %q: default: %w", set.Name, err)
		}
		resp.Settings[i] = &destinationv1.Setting{
			Name:        set.Name,
			Type:        string(set.Type),
			Required:    set.Required,
			DefaultJson: def,
			Secret:      set.Secret,
			Description: set.Description,
			Enum:        set.Enum,
		}
	}
	return resp, nil
}

func specFromWire(r *destinationv1.DescribeResponse) Spec {
	s := Spec{
		Name:        r.GetName(),
		Version:     r.GetVersion(),
		Description: r.GetDescription(),
		Batch: BatchLimits{
			MaxEvents: int(r.GetBatch().GetMaxEvents()),
			MaxBytes:  int(r.GetBatch().GetMaxBytes()),
			MaxWait:   time.Duration(r.GetBatch().GetMaxWaitMs()) * time.Millisecond,
		},
	}
	if n := len(r.GetSettings()); n > 0 {
		s.Settings = make([]Setting, n)
	}
	for i, set := range r.GetSettings() {
		typ := SettingType(set.GetType())
		s.Settings[i] = Setting{
			Name:        set.GetName(),
			Type:        typ,
			Required:    set.GetRequired(),
			Default:     defaultFromJSON(typ, set.GetDefaultJson()),
			Secret:      set.GetSecret(),
			Description: set.GetDescription(),
			Enum:        set.GetEnum(),
		}
	}
	return s
}

// defaultToJSON encodes a setting's default. A time.Duration default of a
// duration setting is written as its string ("30s"), the form settings use,
// rather than as nanoseconds.
func defaultToJSON(s Setting) ([]byte, error) {
	if s.Default == nil {
		return nil, nil
	}
	if d, ok := s.Default.(time.Duration); ok && s.Type == TypeDuration {
		return json.Marshal(d.String())
	}
	return json.Marshal(s.Default)
}

// defaultFromJSON decodes a default into the Go value its type suggests:
// string (string, duration), int64 (int), float64 (float), bool,
// []string (string_list), map[string]string (string_map), and otherwise
// whatever encoding/json produces with numbers as json.Number. A default
// that does not fit its declared type is decoded generically, so that a
// validator can still report it.
func defaultFromJSON(typ SettingType, raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	var target any
	switch typ {
	case TypeString, TypeDuration:
		target = new(string)
	case TypeInt:
		target = new(int64)
	case TypeFloat:
		target = new(float64)
	case TypeBool:
		target = new(bool)
	case TypeStringList:
		target = new([]string)
	case TypeStringMap:
		target = new(map[string]string)
	}
	if target != nil && json.Unmarshal(raw, target) == nil {
		switch v := target.(type) {
		case *string:
			return *v
		case *int64:
			return *v
		case *float64:
			return *v
		case *bool:
			return *v
		case *[]string:
			return *v
		case *map[string]string:
			return *v
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage(raw)
	}
	return v
}

func outcomeToWire(o Outcome) destinationv1.Outcome {
	switch o {
	case OutcomeDelivered:
		return destinationv1.Outcome_OUTCOME_DELIVERED
	case OutcomeRetry:
		return destinationv1.Outcome_OUTCOME_RETRY
	case OutcomeRejected:
		return destinationv1.Outcome_OUTCOME_REJECTED
	case OutcomeHold:
		return destinationv1.Outcome_OUTCOME_HOLD
	}
	return destinationv1.Outcome_OUTCOME_UNSPECIFIED
}

func outcomeFromWire(o destinationv1.Outcome) Outcome {
	switch o {
	case destinationv1.Outcome_OUTCOME_DELIVERED:
		return OutcomeDelivered
	case destinationv1.Outcome_OUTCOME_RETRY:
		return OutcomeRetry
	case destinationv1.Outcome_OUTCOME_REJECTED:
		return OutcomeRejected
	case destinationv1.Outcome_OUTCOME_HOLD:
		return OutcomeHold
	}
	return 0
}

// Deliver's batches and results have a packed form of their own: see
// batch.go.

func entriesToWire(entries []Entry) []*destinationv1.StateEntry {
	block := make([]destinationv1.StateEntry, len(entries))
	out := make([]*destinationv1.StateEntry, len(entries))
	for i := range entries {
		block[i].Key = entries[i].Key
		block[i].Value = entries[i].Value
		out[i] = &block[i]
	}
	return out
}

func entriesFromWire(in []*destinationv1.StateEntry) []Entry {
	out := make([]Entry, len(in))
	for i, e := range in {
		out[i] = Entry{Key: e.GetKey(), Value: e.GetValue()}
	}
	return out
}

func countersToWire(counters []Counter) []*destinationv1.Counter {
	out := make([]*destinationv1.Counter, len(counters))
	for i, c := range counters {
		out[i] = &destinationv1.Counter{Name: c.Name, Labels: c.Labels, Delta: c.Delta}
	}
	return out
}

func countersFromWire(in []*destinationv1.Counter) []Counter {
	out := make([]Counter, len(in))
	for i, c := range in {
		out[i] = Counter{Name: c.GetName(), Labels: c.GetLabels(), Delta: c.GetDelta()}
	}
	return out
}

func fieldErrorsToWire(fe FieldErrors) []*destinationv1.FieldError {
	out := make([]*destinationv1.FieldError, len(fe))
	for i, e := range fe {
		out[i] = &destinationv1.FieldError{Field: e.Field, Message: e.Message}
	}
	return out
}

func fieldErrorsFromWire(in []*destinationv1.FieldError) FieldErrors {
	out := make(FieldErrors, len(in))
	for i, e := range in {
		out[i] = FieldError{Field: e.GetField(), Message: e.GetMessage()}
	}
	return out
}

// durationToMillis converts a duration to whole milliseconds, rounding up
// so that a positive duration never becomes 0 (which means "no value").
func durationToMillis(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	ms := uint64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	return ms
}
