package store

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

var trickyFloats = []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e-7, 1.5e-300, 1e20, 1e21, 123456789e15,
	-1e21, math.MaxFloat64, math.SmallestNonzeroFloat64, 3.141592653589793, 1e300, -2.5e-8, 100, 4503599627370497}

func randomValue(r *rand.Rand, depth int) any {
	switch n := r.IntN(12); {
	case n == 0:
		return nil
	case n == 1:
		return r.IntN(2) == 0
	case n == 2:
		return trickyFloats[r.IntN(len(trickyFloats))]
	case n == 3:
		return math.Float64frombits(r.Uint64())
	case n == 4:
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(60)-30))
	case n == 5:
		return r.IntN(1000) - 500
	case n == 6 && depth < 3:
		m := map[string]any{}
		for range r.IntN(20) {
			m[trickyStrings[r.IntN(len(trickyStrings))]+strconv.Itoa(r.IntN(3))] = randomValue(r, depth+1)
		}
		return m
	case n == 7 && depth < 3:
		if r.IntN(5) == 0 {
			return []any(nil)
		}
		s := make([]any, r.IntN(4))
		for i := range s {
			s[i] = randomValue(r, depth+1)
		}
		return s
	case n == 8:
		// Not what decoded JSON holds: encoding/json encodes it.
		return []any{[]string{"a"}, time.Unix(1, 0).UTC(), json.Number("12"), int32(3)}[r.IntN(4)]
	default:
		return trickyStrings[r.IntN(len(trickyStrings))]
	}
}

func TestEncodeArgumentsMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 50_000 {
		args := map[string]any{}
		for range r.IntN(8) {
			args[trickyStrings[r.IntN(len(trickyStrings))]] = randomValue(r, 0)
		}
		want, wantErr := json.Marshal(args)
		got, err := EncodeArguments(args)
		if (err != nil) != (wantErr != nil) || err == nil && *got != string(want) {
			t.Fatalf("case %d: %#v\ngot  %v, %v\nwant %s, %v", i, args, deref(got), err, want, wantErr)
		}
	}
	if got, err := EncodeArguments(nil); got != nil || err != nil {
		t.Fatalf("nil arguments: %v, %v", got, err)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
