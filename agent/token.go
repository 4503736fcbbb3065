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

// A bearer secret is a fixed prefix, 43 characters of base64url (32 random bytes), then a
// 6-character base62 CRC-32 of everything before it. The fixed prefix and checksum let
// secret scanners recognise a secret without false positives, and let Kavach reject a
// mistyped one before any lookup. Agent tokens start "kv_", API keys "kva_".
const (
	TokenPrefix  = "kv_"
	APIKeyPrefix = "kva_"

	secretLen   = 43
	checksumLen = 6
	// displayLen is how many characters after the prefix a display prefix keeps.
	displayLen = 8
	// DisplayPrefixLen is how much of an agent token is kept to show which token an agent has.
	DisplayPrefixLen = len(TokenPrefix) + displayLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// MintToken returns a new random agent token.
func MintToken() string { return mintSecret(TokenPrefix) }

// MintAPIKey returns a new random API key.
func MintAPIKey() string { return mintSecret(APIKeyPrefix) }

// WellFormedToken reports whether s has the shape and checksum of an agent token. It says
// nothing about whether the token is known.
func WellFormedToken(s string) bool { return wellFormedSecret(s, TokenPrefix) }

// WellFormedAPIKey reports whether s has the shape and checksum of an API key.
func WellFormedAPIKey(s string) bool { return wellFormedSecret(s, APIKeyPrefix) }

func mintSecret(prefix string) string {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		panic("agent: crypto/rand failed: " + err.Error())
	}
	body := prefix + base64.RawURLEncoding.EncodeToString(secret[:])
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

func wellFormedSecret(s, prefix string) bool {
	if len(s) != len(prefix)+secretLen+checksumLen || !strings.HasPrefix(s, prefix) {
		return false
	}
	body := s[:len(s)-checksumLen]
	for i := len(prefix); i < len(body); i++ {
		c := body[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return subtle.ConstantTimeCompare([]byte(checksum(body)), []byte(s[len(body):])) == 1
}

// HashToken returns the hex SHA-256 of a token or API key: the only form in which either
// is stored.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// VerifyToken reports, in constant time, whether token hashes to storedHash.
func VerifyToken(token, storedHash string) bool {
	return subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(storedHash)) == 1
}

// DisplayPrefix returns the part of a token or API key that may be shown to identify it:
// its prefix and the first 8 characters of its secret.
func DisplayPrefix(secret string) string {
	n := DisplayPrefixLen
	if strings.HasPrefix(secret, APIKeyPrefix) {
		n = len(APIKeyPrefix) + displayLen
	}
	if len(secret) < n {
		return secret
	}
	return secret[:n]
}
