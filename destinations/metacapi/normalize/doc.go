// Package normalize turns raw customer information into the exact strings
// Meta's Conversions API expects in user_data: each value normalised by the
// rules Meta documents for its key (not the official SDKs' shortcuts) and
// hashed with SHA-256 where Meta requires a hash.
//
// The entry point is [UserData], which normalises a whole user_data object,
// deduplicates hashed values and reports every value it had to drop with a
// low-cardinality reason instead of failing. [Result.Normalize] does the
// same without building a map, for callers that encode the outcome as JSON
// ([Result.AppendJSON]), and [Result.NormalizeMembers] without taking one,
// for callers that decode user_data themselves. The per-key normalisers
// ([Email], [Phone], [Name], [City], [State], [Zip], [Country],
// [DateOfBirth], [Gender], [ExternalID]) return the normalised, unhashed
// string so they can be tested against Meta's published rules one by one.
// [ValidFBC], [ValidFBP] and [FBCFromURL] handle the click and browser
// identifiers, which are never hashed.
//
// The package is pure: it performs no I/O, keeps no state between calls and
// never panics on any input. It does not decide whether an event is sendable
// (required keys, invalid key combinations): that is the destination's job.
package normalize
