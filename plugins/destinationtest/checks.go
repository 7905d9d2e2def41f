package destinationtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
)

var (
	destinationName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	settingName     = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// checkSpec returns every way spec breaks the contract.
func checkSpec(s plugins.Spec) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !destinationName.MatchString(s.Name) {
		add("spec name %q must match %s", s.Name, destinationName)
	}
	if s.Version == "" {
		add("spec has no version")
	}
	if s.Batch.MaxEvents < 0 || s.Batch.MaxBytes < 0 || s.Batch.MaxWait < 0 {
		add("batch limits %+v must not be negative", s.Batch)
	}
	seen := map[string]bool{}
	for _, set := range s.Settings {
		where := fmt.Sprintf("setting %q", set.Name)
		if !settingName.MatchString(set.Name) {
			add("%s: name must match %s (settings are written in pipelines.yaml)", where, settingName)
		}
		if seen[set.Name] {
			add("%s: declared twice", where)
		}
		seen[set.Name] = true
		if !knownType(set.Type) {
			add("%s: unknown type %q", where, set.Type)
			continue
		}
		if strings.TrimSpace(set.Description) == "" {
			add("%s: no description (inspect and the docs print it)", where)
		}
		if set.Default != nil {
			switch {
			case set.Secret:
				add("%s: a secret setting must not have a default (inspect would print it)", where)
			case set.Required:
				add("%s: a required setting must not have a default (the default makes it optional)", where)
			}
			raw, err := json.Marshal(jsonDefault(set))
			if err != nil {
				add("%s: default %v cannot be written as JSON: %v", where, set.Default, err)
			} else if err := checkValue(set.Type, raw); err != nil {
				add("%s: default: %v", where, err)
			}
		}
		if len(set.Enum) > 0 {
			if set.Type != plugins.TypeString {
				add("%s: enum values on a %s setting (only string settings take them)", where, set.Type)
			}
			if slices.Contains(set.Enum, "") || len(slices.Compact(slices.Sorted(slices.Values(set.Enum)))) != len(set.Enum) {
				add("%s: enum values must be non-empty and distinct: %q", where, set.Enum)
			}
			if d, ok := set.Default.(string); ok && !slices.Contains(set.Enum, d) {
				add("%s: default %q is not one of %q", where, d, set.Enum)
			}
		}
	}
	return problems
}

func knownType(t plugins.SettingType) bool {
	switch t {
	case plugins.TypeString, plugins.TypeInt, plugins.TypeFloat, plugins.TypeBool, plugins.TypeDuration,
		plugins.TypeStringList, plugins.TypeStringMap, plugins.TypeObject:
		return true
	}
	return false
}

// jsonDefault returns a setting's default as settings carry it: a
// time.Duration default of a duration setting as its string.
func jsonDefault(s plugins.Setting) any {
	if d, ok := s.Default.(time.Duration); ok && s.Type == plugins.TypeDuration {
		return d.String()
	}
	return s.Default
}

// checkValue reports whether raw, a JSON value, fits a setting of type t.
func checkValue(t plugins.SettingType, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	switch t {
	case plugins.TypeString:
		if _, ok := v.(string); ok {
			return nil
		}
	case plugins.TypeDuration:
		if s, ok := v.(string); ok {
			if _, err := time.ParseDuration(s); err != nil {
				return fmt.Errorf("%q is not a duration such as \"30s\"", s)
			}
			return nil
		}
	case plugins.TypeInt:
		if n, ok := v.(json.Number); ok {
			if _, err := n.Int64(); err != nil {
				return fmt.Errorf("%s is not an integer", n)
			}
			return nil
		}
	case plugins.TypeFloat:
		if _, ok := v.(json.Number); ok {
			return nil
		}
	case plugins.TypeBool:
		if _, ok := v.(bool); ok {
			return nil
		}
	case plugins.TypeStringList:
		if l, ok := v.([]any); ok && all(l, isString) {
			return nil
		}
	case plugins.TypeStringMap:
		if m, ok := v.(map[string]any); ok && all(mapValues(m), isString) {
			return nil
		}
	case plugins.TypeObject:
		if _, ok := v.(map[string]any); ok {
			return nil
		}
	default:
		return fmt.Errorf("unknown type %q", t)
	}
	return fmt.Errorf("%s is not a %s", raw, t)
}

func isString(v any) bool { _, ok := v.(string); return ok }

func all(vs []any, f func(any) bool) bool {
	for _, v := range vs {
		if !f(v) {
			return false
		}
	}
	return true
}

func mapValues(m map[string]any) []any {
	out := make([]any, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// diffSpecs returns the differences between a spec as the destination
// returns it and as it arrives through gRPC.
func diffSpecs(direct, remote plugins.Spec) []string {
	var diffs []string
	add := func(format string, args ...any) {
		diffs = append(diffs, "through gRPC: "+fmt.Sprintf(format, args...))
	}
	if direct.Name != remote.Name || direct.Version != remote.Version || direct.Description != remote.Description {
		add("name/version/description %q/%q/%q, direct %q/%q/%q",
			remote.Name, remote.Version, remote.Description, direct.Name, direct.Version, direct.Description)
	}
	wantBatch := direct.Batch
	wantBatch.MaxWait = (wantBatch.MaxWait + time.Millisecond - 1).Truncate(time.Millisecond)
	if wantBatch.MaxWait < 0 {
		wantBatch.MaxWait = 0
	}
	if remote.Batch != wantBatch {
		add("batch limits %+v, direct %+v", remote.Batch, direct.Batch)
	}
	if len(direct.Settings) != len(remote.Settings) {
		add("%d settings, direct %d", len(remote.Settings), len(direct.Settings))
		return diffs
	}
	for i, d := range direct.Settings {
		r := remote.Settings[i]
		if d.Name != r.Name || d.Type != r.Type || d.Required != r.Required || d.Secret != r.Secret ||
			d.Description != r.Description || !slices.Equal(d.Enum, r.Enum) {
			add("setting %d is %+v, direct %+v", i, r, d)
			continue
		}
		if dj, rj := canonicalJSON(jsonDefault(d)), canonicalJSON(r.Default); dj != rj {
			add("setting %q: default %s, direct %s", d.Name, rj, dj)
		}
	}
	return diffs
}

// canonicalJSON writes v as JSON with sorted keys and numbers as written.
func canonicalJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return string(raw)
	}
	out, _ := json.Marshal(generic)
	return string(out)
}

// checkResults returns every way results break the contract for batch.
func checkResults(batch []plugins.Event, results []plugins.Result) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(results) != len(batch) {
		add("Deliver of %d events returned %d results, want exactly one per event", len(batch), len(results))
	}
	pending := make(map[string]bool, len(batch))
	for _, e := range batch {
		pending[e.ID] = true
	}
	seen := make(map[string]bool, len(results))
	for _, r := range results {
		switch {
		case seen[r.ID]:
			add("result for event %q returned twice", r.ID)
		case !pending[r.ID]:
			add("result for unknown event %q", r.ID)
		}
		seen[r.ID] = true
		delete(pending, r.ID)
		switch r.Outcome {
		case plugins.OutcomeDelivered:
		case plugins.OutcomeRetry, plugins.OutcomeHold:
			if r.RetryAfter < 0 {
				add("event %q: negative RetryAfter %v", r.ID, r.RetryAfter)
			}
		case plugins.OutcomeRejected:
			if strings.TrimSpace(r.Reason) == "" {
				add("event %q: rejected without a reason (the dead-letter stream shows it)", r.ID)
			}
		default:
			add("event %q: invalid outcome %d", r.ID, r.Outcome)
		}
		if r.RetryAfter != 0 && r.Outcome != plugins.OutcomeRetry && r.Outcome != plugins.OutcomeHold {
			add("event %q: RetryAfter %v on a %v result", r.ID, r.RetryAfter, r.Outcome)
		}
	}
	if len(pending) > 0 {
		missing := make([]string, 0, len(pending))
		for id := range pending {
			missing = append(missing, id)
		}
		slices.Sort(missing)
		add("no result for events %q", missing)
	}
	return problems
}

// names reports whether fe has an error for setting name (or inside it).
func names(fe plugins.FieldErrors, name string) bool {
	for _, e := range fe {
		if e.Field == name || strings.HasPrefix(e.Field, name+".") {
			return true
		}
	}
	return false
}

// secretValues returns the values of the secret settings in settings that
// are long enough to recognise in a message.
func secretValues(spec plugins.Spec, settings map[string]any) []string {
	var out []string
	addValue := func(v any) {
		if s, ok := v.(string); ok && len(s) >= 4 {
			out = append(out, s)
		}
	}
	for _, set := range spec.Settings {
		if !set.Secret {
			continue
		}
		switch v := settings[set.Name].(type) {
		case map[string]string:
			for _, x := range v {
				addValue(x)
			}
		case map[string]any:
			for _, x := range v {
				addValue(x)
			}
		default:
			addValue(v)
		}
	}
	return out
}
