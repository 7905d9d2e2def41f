package metacapi

import "errors"

// ErrNotConfigured is returned by Deliver before a successful Configure.
var ErrNotConfigured = errors.New("meta-capi: not configured")

// Result codes of rejected events (low-cardinality, for metrics and the
// dead-letter stream).
const (
	CodeInvalidPayload       = "invalid_payload"
	CodeMissingEventName     = "missing_event_name"
	CodeInvalidEventTime     = "invalid_event_time"
	CodeEventTooOld          = "event_too_old"
	CodeEventInFuture        = "event_in_future"
	CodeInvalidActionSource  = "invalid_action_source"
	CodeWebsiteRequirements  = "website_requirements"
	CodePurchaseRequirements = "purchase_requirements"
	CodeMissingUserData      = "missing_user_data"
	CodeNoCustomerInfo       = "insufficient_customer_information"
	CodeAppData              = "invalid_app_data"
	CodeDataProcessing       = "invalid_data_processing_options"
	CodeInvalidField         = "invalid_field"
	CodeMetaInvalid          = "meta_invalid_parameter"
)

// Result codes of retried events.
const (
	CodeThrottled      = "meta_throttled"
	CodeTransient      = "meta_transient"
	CodeBlocked        = "meta_temporarily_blocked"
	CodeTokenInvalid   = "meta_token_invalid"
	CodePermission     = "meta_permission_denied"
	CodeUnknownPixel   = "meta_unknown_pixel"
	CodeGraphError     = "meta_unclassified_error"
	CodeHTTPError      = "http_error"
	CodeNetwork        = "network_error"
	CodeTimeout        = "timeout"
	CodeStateError     = "state_unavailable"
	CodeBisectExceeded = "meta_invalid_unisolated"
	CodeCanceled       = "canceled"
)

// CodeDuplicate is the Code of a Delivered result for an event that Meta
// had already accepted within dedupe_window: it was not sent again.
const CodeDuplicate = "duplicate"
