package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// NoncePeriod is how long a server-provided nonce (RFC 9449 section 8) is handed out; it is
// accepted for one period more, so a nonce lives between one and two periods.
const NoncePeriod = 5 * time.Minute

// Nonce is the nonce for now under secret: an HMAC of the current period's number. It
// needs no state, so every instance that holds the secret issues and accepts the same
// nonces.
func Nonce(secret []byte, now time.Time) string {
	return nonceAt(secret, now.Unix()/int64(NoncePeriod/time.Second))
}

// ValidNonce reports whether nonce is the one for now's period or the previous one.
func ValidNonce(secret []byte, nonce string, now time.Time) bool {
	if nonce == "" {
		return false
	}
	period := now.Unix() / int64(NoncePeriod/time.Second)
	for _, p := range []int64{period, period - 1} {
		if hmac.Equal([]byte(nonce), []byte(nonceAt(secret, p))) {
			return true
		}
	}
	return false
}

func nonceAt(secret []byte, period int64) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("dpop-nonce\x00"))
	_ = binary.Write(m, binary.BigEndian, period)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:24])
}
