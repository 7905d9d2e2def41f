package event_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchboard-cdp/switchboard/core/event"
)

func TestValidate(t *testing.T) {
	valid := func(typ event.Type) event.Event {
		return event.Event{MessageID: "m1", Type: typ, UserID: "u", Event: "E", GroupID: "g", PreviousID: "p"}
	}
	cases := []struct {
		name   string
		edit   func(*event.Event)
		field  string // "" = valid
		reason string
	}{
		{"track", func(e *event.Event) {}, "", ""},
		{"anonymous only", func(e *event.Event) { e.UserID, e.AnonymousID = "", "a" }, "", ""},
		{"no type", func(e *event.Event) { e.Type = "" }, "type", "type is required"},
		{"bad type", func(e *event.Event) { e.Type = "purchase" }, "type", "type must be one of"},
		{"no ids", func(e *event.Event) { e.UserID = "" }, "userId", "userId or anonymousId is required"},
		{"track without event", func(e *event.Event) { e.Event = "" }, "event", "event is required for track"},
		{"group without groupId", func(e *event.Event) { e.Type, e.GroupID = event.Group, "" }, "groupId", "groupId is required for group"},
		{"alias without previousId", func(e *event.Event) { e.Type, e.PreviousID = event.Alias, "" }, "previousId", "previousId is required for alias"},
		{"alias without userId", func(e *event.Event) { e.Type, e.UserID, e.AnonymousID = event.Alias, "", "a" }, "userId", "userId is required for alias"},
		{"identify needs no event", func(e *event.Event) { e.Type, e.Event = event.Identify, "" }, "", ""},
		{"no messageId", func(e *event.Event) { e.MessageID = "" }, "messageId", "messageId is required"},
		{"messageId of 99 characters", func(e *event.Event) { e.MessageID = strings.Repeat("é", 99) }, "", ""},
		{"messageId of 100 characters", func(e *event.Event) { e.MessageID = strings.Repeat("m", 100) }, "messageId", "shorter than 100"},
		{"messageId with a control character", func(e *event.Event) { e.MessageID = "a\r\nb" }, "messageId", "control characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := valid(event.Track)
			tc.edit(&ev)
			err := ev.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var fe *event.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v (%T), want *FieldError", err, err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Error(), tc.reason) {
				t.Fatalf("FieldError{%q, %q}, want field %q reason containing %q", fe.Field, fe.Reason, tc.field, tc.reason)
			}
		})
	}
}

func TestFieldErrorMessage(t *testing.T) {
	if got := (&event.FieldError{Field: "x"}).Error(); got != "x is invalid" {
		t.Fatalf("got %q", got)
	}
	if got := (&event.FieldError{Field: "x", Reason: "x must be y"}).Error(); got != "x must be y" {
		t.Fatalf("got %q", got)
	}
}
