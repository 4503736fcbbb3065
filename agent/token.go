package agent

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"hash/crc32"
	"strings"
)

// An agent token is "kv_", 43 characters of base64url (32 random bytes), then a 6-character
// base62 CRC-32 of everything before it. The fixed prefix and checksum let secret scanners
// recognise a token without false positives, and let Kavach reject a mistyped token before
// any lookup.
const (
	TokenPrefix    = "kv_"
	tokenSecretLen = 43
	checksumLen    = 6
	tokenLen       = len(TokenPrefix) + tokenSecretLen + checksumLen
	// DisplayPrefixLen is how much of a token is kept to show which token an agent has.
	DisplayPrefixLen = len(TokenPrefix) + 8
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// MintToken returns a new random agent token.
func MintToken() string {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		panic("agent: crypto/rand failed: " + err.Error())
	}
	body := TokenPrefix + base64.RawURLEncoding.EncodeToString(secret[:])
	return body + checksum(body)
}

func checksum(body string) string {
	c := crc32.ChecksumIEEE([]byte(body))
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[c%62]
		c /= 62
	}
	return string(out[:])
}

// WellFormedToken reports whether s has the shape and checksum of an agent token. It says
// nothing about whether the token is known.
func WellFormedToken(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	body := s[:len(s)-checksumLen]
	for i := len(TokenPrefix); i < len(body); i++ {
		c := body[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return subtle.ConstantTimeCompare([]byte(checksum(body)), []byte(s[len(body):])) == 1
}

// HashToken returns the hex SHA-256 of a token: the only form in which tokens are stored.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// VerifyToken reports, in constant time, whether token hashes to storedHash.
func VerifyToken(token, storedHash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(storedHash)) == 1
}

// DisplayPrefix returns the part of a token that may be shown to identify it.
func DisplayPrefix(token string) string {
	if len(token) < DisplayPrefixLen {
		return token
	}
	return token[:DisplayPrefixLen]
}
