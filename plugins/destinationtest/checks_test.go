package destinationtest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
)

func TestCheckSpec(t *testing.T) {
	valid := func() plugins.Spec {
		return plugins.Spec{
			Name:    "meta-capi",
			Version: "1.0.0",
			Settings: []plugins.Setting{
				{Name: "pixel_id", Type: plugins.TypeString, Required: true, Description: "d"},
				{Name: "access_token", Type: plugins.TypeString, Required: true, Secret: true, Description: "d"},
				{Name: "timeout", Type: plugins.TypeDuration, Default: 10 * time.Second, Description: "d"},
				{Name: "retries", Type: plugins.TypeInt, Default: 3, Description: "d"},
				{Name: "mode", Type: plugins.TypeString, Default: "a", Enum: []string{"a", "b"}, Description: "d"},
			},
		}
	}
	tests := []struct {
		name   string
		change func(*plugins.Spec)
		want   string // "" for a valid spec
	}{
		{"valid", func(*plugins.Spec) {}, ""},
		{"bad name", func(s *plugins.Spec) { s.Name = "Meta CAPI" }, "spec name"},
		{"no version", func(s *plugins.Spec) { s.Version = "" }, "no version"},
		{"negative batch", func(s *plugins.Spec) { s.Batch.MaxEvents = -1 }, "negative"},
		{"setting name", func(s *plugins.Spec) { s.Settings[0].Name = "pixelId" }, "name must match"},
		{"duplicate", func(s *plugins.Spec) { s.Settings[1].Name = "pixel_id" }, "declared twice"},
		{"unknown type", func(s *plugins.Spec) { s.Settings[0].Type = "text" }, "unknown type"},
		{"no description", func(s *plugins.Spec) { s.Settings[0].Description = " " }, "no description"},
		{"secret default", func(s *plugins.Spec) { s.Settings[1].Required = false; s.Settings[1].Default = "tok" }, "secret setting must not have a default"},
		{"required default", func(s *plugins.Spec) { s.Settings[0].Default = "1" }, "required setting must not have a default"},
		{"duration default", func(s *plugins.Spec) { s.Settings[2].Default = "ten seconds" }, "not a duration"},
		{"int default", func(s *plugins.Spec) { s.Settings[3].Default = 2.5 }, "not an integer"},
		{"int default string", func(s *plugins.Spec) { s.Settings[3].Default = "3" }, "is not a int"},
		{"unmarshalable default", func(s *plugins.Spec) { s.Settings[3].Default = func() {} }, "cannot be written as JSON"},
		{"enum on int", func(s *plugins.Spec) { s.Settings[3].Enum = []string{"1"} }, "only string settings"},
		{"enum duplicate", func(s *plugins.Spec) { s.Settings[4].Enum = []string{"a", "a"} }, "distinct"},
		{"default not in enum", func(s *plugins.Spec) { s.Settings[4].Default = "c" }, "is not one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.change(&s)
			problems := checkSpec(s)
			if tt.want == "" {
				if len(problems) > 0 {
					t.Fatalf("problems with a valid spec: %q", problems)
				}
				return
			}
			if len(problems) != 1 || !strings.Contains(problems[0], tt.want) {
				t.Fatalf("problems %q, want one containing %q", problems, tt.want)
			}
		})
	}
}

func TestCheckValue(t *testing.T) {
	tests := []struct {
		typ plugins.SettingType
		raw string
		ok  bool
	}{
		{plugins.TypeString, `"x"`, true},
		{plugins.TypeString, `1`, false},
		{plugins.TypeInt, `12345678901234567`, true},
		{plugins.TypeInt, `1.5`, false},
		{plugins.TypeFloat, `1.5`, true},
		{plugins.TypeFloat, `"1.5"`, false},
		{plugins.TypeBool, `false`, true},
		{plugins.TypeDuration, `"1m30s"`, true},
		{plugins.TypeDuration, `90`, false},
		{plugins.TypeStringList, `["a","b"]`, true},
		{plugins.TypeStringList, `["a",1]`, false},
		{plugins.TypeStringMap, `{"a":"b"}`, true},
		{plugins.TypeStringMap, `{"a":{}}`, false},
		{plugins.TypeObject, `{"a":{"b":[1]}}`, true},
		{plugins.TypeObject, `[]`, false},
		{"text", `"x"`, false},
	}
	for _, tt := range tests {
		err := checkValue(tt.typ, []byte(tt.raw))
		if (err == nil) != tt.ok {
			t.Errorf("checkValue(%s, %s) = %v, want ok=%v", tt.typ, tt.raw, err, tt.ok)
		}
	}
}

func TestCheckResults(t *testing.T) {
	batch := []plugins.Event{{ID: "1"}, {ID: "2"}}
	tests := []struct {
		name    string
		results []plugins.Result
		want    string
	}{
		{"valid", []plugins.Result{plugins.Delivered("2"), plugins.Retry("1", time.Second, "c", "r")}, ""},
		{"missing", []plugins.Result{plugins.Delivered("1")}, "no result for events"},
		{"duplicate", []plugins.Result{plugins.Delivered("1"), plugins.Delivered("1"), plugins.Delivered("2")}, "twice"},
		{"unknown", []plugins.Result{plugins.Delivered("1"), plugins.Delivered("2"), plugins.Delivered("3")}, "unknown event"},
		{"no outcome", []plugins.Result{plugins.Delivered("1"), {ID: "2"}}, "invalid outcome"},
		{"no reason", []plugins.Result{plugins.Delivered("1"), plugins.Rejected("2", "c", "")}, "without a reason"},
		{"negative retry", []plugins.Result{plugins.Delivered("1"), plugins.Retry("2", -1, "", "")}, "negative RetryAfter"},
		{"retry after on delivered", []plugins.Result{plugins.Delivered("1"), {ID: "2", Outcome: plugins.OutcomeDelivered, RetryAfter: 1}}, "RetryAfter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := checkResults(batch, tt.results)
			if tt.want == "" {
				if len(problems) > 0 {
					t.Fatalf("problems: %q", problems)
				}
				return
			}
			joined := strings.Join(problems, "\n")
			if !strings.Contains(joined, tt.want) {
				t.Fatalf("problems %q, want one containing %q", problems, tt.want)
			}
		})
	}
}

func TestDiffSpecs(t *testing.T) {
	direct := plugins.Spec{
		Name: "x", Version: "1",
		Settings: []plugins.Setting{{Name: "n", Type: plugins.TypeInt, Default: 3}, {Name: "d", Type: plugins.TypeDuration, Default: time.Second}},
		Batch:    plugins.BatchLimits{MaxWait: 1500 * time.Microsecond},
	}
	remote := plugins.Spec{
		Name: "x", Version: "1",
		Settings: []plugins.Setting{{Name: "n", Type: plugins.TypeInt, Default: int64(3)}, {Name: "d", Type: plugins.TypeDuration, Default: "1s"}},
		Batch:    plugins.BatchLimits{MaxWait: 2 * time.Millisecond},
	}
	if d := diffSpecs(direct, remote); len(d) != 0 {
		t.Errorf("equal specs differ: %q", d)
	}
	remote.Settings[0].Default = json.Number("4")
	if d := diffSpecs(direct, remote); len(d) != 1 || !strings.Contains(d[0], `setting "n": default 4, direct 3`) {
		t.Errorf("diff = %q", d)
	}
}
