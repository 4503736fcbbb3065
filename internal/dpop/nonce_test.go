package dpop

import (
	"testing"
	"time"
)

// TestNonce: a nonce is accepted in its period and the next, not later, not under another
// secret, and the same nonce comes from any holder of the secret.
func TestNonce(t *testing.T) {
	t.Parallel()
	secret, other := []byte("secret"), []byte("other")
	now := time.Unix(1_000_000_200, 0)
	n := Nonce(secret, now)
	if n != Nonce(append([]byte(nil), secret...), now) {
		t.Fatal("two holders of the secret issue different nonces")
	}
	for _, tc := range []struct {
		name  string
		nonce string
		key   []byte
		at    time.Time
		valid bool
	}{
		{"now", n, secret, now, true},
		{"next period", n, secret, now.Add(NoncePeriod), true},
		{"two periods on", n, secret, now.Add(2 * NoncePeriod), false},
		{"before it was issued", n, secret, now.Add(-NoncePeriod), false},
		{"another secret", n, other, now, false},
		{"empty", "", secret, now, false},
		{"forged", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", secret, now, false},
	} {
		if got := ValidNonce(tc.key, tc.nonce, tc.at); got != tc.valid {
			t.Errorf("%s: ValidNonce = %v, want %v", tc.name, got, tc.valid)
		}
	}
}
