package normalize

import (
	"crypto/sha256"
	"encoding/hex"
)

// SHA256Hex returns the lowercase hex SHA-256 digest of s's UTF-8 bytes,
// the form Meta expects for every hashed user_data value.
func SHA256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	var buf [64]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}

// IsSHA256Hex reports whether s is exactly 64 hexadecimal digits (either
// case), that is, a value that was already hashed and must not be hashed
// again.
func IsSHA256Hex(s string) bool { return isHex(s, 64) }

// isMD5Hex reports whether s is 32 hex digits, an MD5 digest. Meta's SDKs
// pass these through unchanged for em.
func isMD5Hex(s string) bool { return isHex(s, 32) }

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// lowerHex lower-cases an ASCII hex string without allocating when it is
// already lower case.
func lowerHex(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'F' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
