package graphemu

import (
	"fmt"
	"net/http"
)

// Error is the body of the Graph API error envelope,
// {"error":{"message","type","code","error_subcode","is_transient",
// "error_user_title","error_user_msg","fbtrace_id"}} (ref §7).
//
// IsTransient is always present: Meta omits it on some errors, and a client
// must classify by Code first (ref §7), which the emulator's own clients are
// tested against.
type Error struct {
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode,omitempty"`
	IsTransient bool   `json:"is_transient"`
	UserTitle   string `json:"error_user_title,omitempty"`
	UserMsg     string `json:"error_user_msg,omitempty"`
	TraceID     string `json:"fbtrace_id"`

	// Status is the HTTP status the error is sent with; not serialised.
	Status int `json:"-"`
}

// Error implements error, so a recorded failure can be compared with errors.As.
func (e *Error) Error() string {
	if e.Subcode != 0 {
		return fmt.Sprintf("graph error %d/%d: %s", e.Code, e.Subcode, e.Message)
	}
	return fmt.Sprintf("graph error %d: %s", e.Code, e.Message)
}

// Envelope is the JSON document an error is sent as.
type Envelope struct {
	Error *Error `json:"error"`
}

// Success is the body of a successful events call (ref §7).
type Success struct {
	EventsReceived int      `json:"events_received"`
	Messages       []string `json:"messages"`
	TraceID        string   `json:"fbtrace_id"`
}

// Error types used by Graph (ref §7).
const (
	TypeOAuth  = "OAuthException"
	TypeMethod = "GraphMethodException"
)

// Codes and subcodes the emulator produces. Those marked "ref" are in the
// reference's §7 table; the others are Graph behaviour the reference does not
// cover and are chosen to match what Graph is known to send.
const (
	CodeUnknown           = 1     // ref §7: API Unknown, retry with backoff
	CodeService           = 2     // ref §7: API Service, temporary downtime
	CodeAppThrottle       = 4     // ref §7: application request limit
	CodeUserThrottle      = 17    // ref §7: user request limit
	CodeInvalidParam      = 100   // ref §7: invalid parameter
	CodeNoToken           = 104   // not in the reference: Graph's "access token is required"
	CodeToken             = 190   // ref §7: token invalid or expired
	CodeAccountThrottle   = 613   // ref §7
	CodeDeprecatedVersion = 2635  // not in the reference: Graph's deprecated-version error
	CodeUnknownPath       = 2500  // not in the reference: Graph's "Unknown path components"
	CodeBUCThrottle       = 80004 // ref §7: ads_management business-use-case throttle

	SubcodeUnknownObject = 33      // ref §7: object does not exist / no permission
	SubcodeTokenExpired  = 463     // ref §7
	SubcodeUserLimit     = 2446079 // ref §7 (with code 17)
	SubcodeAccountLimit  = 1487742 // ref §7 (with code 613)
	SubcodeClickID       = 2804001 // ref §7: Click ID Incorrectly Formatted
	SubcodeTooOld        = 2804003 // ref §7: Event Timestamp Too Old
	SubcodeCustomerInfo  = 2804050 // ref §7: too little customer information
)

// Messages with a recorded source are copied verbatim.
const (
	// msgTooOld* are Meta's recorded 2804003 reply (ref §7 [RS-fixture]).
	msgTooOldTitle = "Event Timestamp Too Old"
	msgTooOldUser  = "The timestamp for this event is too far in the past. Events need to be sent from your server within 7 days of when they occurred. Enter a timestamp that has occurred within the last 7 days."
	// msgCustomerInfo* translate the recorded Danish 2804050 reply
	// ([SET-2804050], ref §7).
	msgCustomerInfoTitle = "You haven't added sufficient customer information parameter data for this event"
	msgCustomerInfoUser  = "This event has no customer information parameters, or it has a combination of customer information parameters that is so broad that it's unlikely to be effective for matching. You can fix this by going to the recommended practices for parameters at developers.facebook.com/docs/marketing-api/conversions-api/best-practices#req-rec-params"
	// msgClickID* carry the documented title (ref §7 [ADSC-6]); the user
	// message is not recorded in the reference.
	msgClickIDTitle = "Click ID Incorrectly Formatted"
	msgClickIDUser  = "The fbc parameter must be formatted as fb.{subdomainIndex}.{creationTime}.{fbclid}, with an optional fifth segment."
)

func errInvalidParam(detail string) *Error {
	return &Error{Message: "(#100) " + detail, Type: TypeOAuth, Code: CodeInvalidParam, Status: http.StatusBadRequest}
}

func errUserFacing(subcode int, title, msg string) *Error {
	return &Error{Message: "Invalid parameter", Type: TypeOAuth, Code: CodeInvalidParam, Subcode: subcode,
		UserTitle: title, UserMsg: msg, Status: http.StatusBadRequest}
}

// errUnknownObject is the recorded 100/33 reply (ref §7 [RS-fixture]).
func errUnknownObject(method, id string) *Error {
	return &Error{
		Message: fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api", method, id),
		Type:    TypeMethod, Code: CodeInvalidParam, Subcode: SubcodeUnknownObject, Status: http.StatusBadRequest,
	}
}

// errBadToken is the recorded 190 reply for a token Graph cannot read
// (ref §7 [RS-fixture]). HTTP 400 is Graph's status for OAuthException; the
// fixture's 500 is the recording tool's own mapping.
func errBadToken() *Error {
	return &Error{Message: "The access token could not be decrypted", Type: TypeOAuth, Code: CodeToken, Status: http.StatusBadRequest}
}

func errNoToken() *Error {
	return &Error{Message: "An access token is required to request this resource.", Type: TypeOAuth, Code: CodeNoToken, Status: http.StatusBadRequest}
}

// errProofMissing and errProofInvalid are Graph's appsecret_proof replies;
// the reference documents the proof (§1) but not these errors.
func errProofMissing() *Error {
	return &Error{Message: "API calls from the server require an appsecret_proof argument", Type: TypeMethod, Code: CodeInvalidParam, Status: http.StatusBadRequest}
}

func errProofInvalid() *Error {
	return &Error{Message: "Invalid appsecret_proof provided in the API argument", Type: TypeMethod, Code: CodeInvalidParam, Status: http.StatusBadRequest}
}

func errVersion(latest string) *Error {
	return &Error{Message: "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: " + latest + ".",
		Type: TypeOAuth, Code: CodeDeprecatedVersion, Status: http.StatusBadRequest}
}

func errUnknownPath(path string) *Error {
	return &Error{Message: "Unknown path components: " + path, Type: TypeOAuth, Code: CodeUnknownPath, Status: http.StatusBadRequest}
}
