package segment

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// Where a request's write key comes from, in order (tracking-api.md §8):
//
//  1. Authorization: Basic base64(writeKey:) — with or without the colon;
//  2. Authorization: Bearer <token> plus a body writeKey (the token is an
//     OAuth token Segment checks; we have none to check it against);
//  3. X-Write-Key;
//  4. ?writeKey=;
//  5. the body's writeKey (batch envelope, or the single event).
//
// The first location that holds a key decides: an unknown key there is a
// 401 even if another location holds a known one.

// headerWriteKey returns the key when it is decided without the body
// (locations 1, 3 and 4, unless a Bearer token gives the body precedence).
func headerWriteKey(r *http.Request) (string, bool) {
	if k := basicKey(r); k != "" {
		return k, true
	}
	if isBearer(r) {
		return "", false
	}
	if k := outsideKey(r); k != "" {
		return k, true
	}
	return "", false
}

// bodyWriteKey returns the key for a request that headerWriteKey left
// undecided, given the writeKey found in its body ("" if none).
func bodyWriteKey(r *http.Request, bodyKey string) string {
	if bodyKey != "" {
		return bodyKey
	}
	if isBearer(r) {
		return outsideKey(r)
	}
	return ""
}

// outsideKey is the key from X-Write-Key or the query string.
func outsideKey(r *http.Request) string {
	if k := r.Header.Get("X-Write-Key"); k != "" {
		return k
	}
	if r.URL.RawQuery != "" {
		return r.URL.Query().Get("writeKey")
	}
	return ""
}

func authScheme(r *http.Request, scheme string) (string, bool) {
	a := r.Header.Get("Authorization")
	if len(a) < len(scheme)+1 || !strings.EqualFold(a[:len(scheme)], scheme) || a[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimSpace(a[len(scheme)+1:]), true
}

func isBearer(r *http.Request) bool {
	_, ok := authScheme(r, "Bearer")
	return ok
}

// basicKey decodes a Basic credential: the user part of "user:password",
// the password when the user is empty, or the whole decoded value when
// there is no colon (clients that forget it). Padding is optional.
func basicKey(r *http.Request) string {
	cred, ok := authScheme(r, "Basic")
	if !ok || cred == "" {
		return ""
	}
	dec, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		if dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(cred, "=")); err != nil {
			return ""
		}
	}
	s := string(dec)
	if user, pass, found := strings.Cut(s, ":"); found {
		if user == "" {
			return pass
		}
		return user
	}
	return s
}

func constantTimeEqual(a, b *[sha256.Size]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
