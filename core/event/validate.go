package event

import (
	"unicode/utf8"
)

// MaxMessageIDLen is the length, in characters, that a messageId must stay
// below (Segment spec: "< 100 characters").
const MaxMessageIDLen = 100

// FieldError is a violation of the Segment spec by one field of an event.
// Field is the top-level JSON key at fault (e.g. "userId"); Reason is a
// complete message that names the field (e.g. "userId or anonymousId is
// required"). Callers find it with errors.As.
type FieldError struct {
	Field  string
	Reason string
}

// Error returns Reason, or "<field> is invalid" when Reason is empty.
func (e *FieldError) Error() string {
	if e.Reason == "" {
		return e.Field + " is invalid"
	}
	return e.Reason
}

// Validate checks e against the Segment spec as sources apply it after
// normalising and enriching an event (so a messageId must be present by
// then): a valid type; userId or anonymousId; event for track; groupId for
// group; previousId and userId for alias; a messageId shorter than
// MaxMessageIDLen characters without control characters (it becomes a
// NATS header value). The first violation found is returned as a
// *FieldError; the checks run in a fixed order so the answer is stable.
//
// Properties, traits, context and integrations are maps by construction;
// that they were JSON objects on the wire is the decoder's check.
func (e *Event) Validate() error {
	if !e.Type.Valid() {
		if e.Type == "" {
			return &FieldError{Field: "type", Reason: "type is required"}
		}
		return &FieldError{Field: "type", Reason: "type must be one of identify, track, page, screen, group, alias"}
	}
	if e.MessageID == "" {
		return &FieldError{Field: "messageId", Reason: "messageId is required"}
	}
	if utf8.RuneCountInString(e.MessageID) >= MaxMessageIDLen {
		return &FieldError{Field: "messageId", Reason: "messageId must be shorter than 100 characters"}
	}
	for _, r := range e.MessageID {
		if r < 0x20 || r == 0x7f {
			return &FieldError{Field: "messageId", Reason: "messageId must not contain control characters"}
		}
	}
	if e.Type == Alias {
		if e.PreviousID == "" {
			return &FieldError{Field: "previousId", Reason: "previousId is required for alias"}
		}
		if e.UserID == "" {
			return &FieldError{Field: "userId", Reason: "userId is required for alias"}
		}
	}
	if e.UserID == "" && e.AnonymousID == "" {
		return &FieldError{Field: "userId", Reason: "userId or anonymousId is required"}
	}
	switch e.Type {
	case Track:
		if e.Event == "" {
			return &FieldError{Field: "event", Reason: "event is required for track"}
		}
	case Group:
		if e.GroupID == "" {
			return &FieldError{Field: "groupId", Reason: "groupId is required for group"}
		}
	}
	return nil
}
