package normalize

import "errors"

// Reasons a value is dropped. Each error's text is the low-cardinality reason
// reported in [Drop.Reason], suitable as a metric label.
var (
	// ErrInvalidEmail: not an address of the form local@domain.tld.
	ErrInvalidEmail = errors.New("invalid_email")
	// ErrInvalidPhone: no valid phone number could be parsed.
	ErrInvalidPhone = errors.New("invalid_phone")
	// ErrPhoneNoCountry: a national number with no country to resolve it
	// (neither user_data.country nor Options.DefaultCountry is set).
	ErrPhoneNoCountry = errors.New("phone_missing_country")
	// ErrUnparseableDate: a date of birth in no recognised form, or out of range.
	ErrUnparseableDate = errors.New("unparseable_date")
	// ErrUnknownGender: a gender that is neither female nor male.
	ErrUnknownGender = errors.New("unknown_gender")
	// ErrInvalidCountry: neither an ISO 3166-1 code nor a known country name.
	ErrInvalidCountry = errors.New("invalid_country")
	// ErrInvalidZip: a postal code too short, or a malformed US ZIP code.
	ErrInvalidZip = errors.New("invalid_zip")
	// ErrEmpty: nothing usable left after normalisation (only punctuation,
	// digits in a city name, …).
	ErrEmpty = errors.New("empty_after_normalization")
	// ErrInvalidIP: client_ip_address is not an IPv4 or IPv6 address.
	ErrInvalidIP = errors.New("invalid_ip")
	// ErrInvalidFBC: fbc is not fb.<index>.<ms>.<fbclid>[.<appendix>].
	ErrInvalidFBC = errors.New("invalid_fbc")
	// ErrInvalidFBP: fbp is not fb.<index>.<ms>.<random>[.<appendix>].
	ErrInvalidFBP = errors.New("invalid_fbp")
	// ErrInvalidType: a value that is not a string, a number or a list of them.
	ErrInvalidType = errors.New("invalid_type")
	// ErrInvalidDOBPart: dobd, dobm or doby out of range.
	ErrInvalidDOBPart = errors.New("invalid_dob_part")
)
