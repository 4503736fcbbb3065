package agent

import (
	"fmt"
	"regexp/syntax"
)

// Argument patterns are RE2 expressions of at most MaxPatternLen bytes, matched on every
// authorize call that reaches them. Go's regexp is linear in the input but not in the
// pattern: the work per input byte grows with the number of states alive at once, which
// large or nested counted repetitions multiply — (?:[a-z]{1,1000})+ against a 65 KB value takes about a second, and an agent may
// hold that pattern on every permission. So a pattern's cost is bounded when it is written
// (ValidateArgumentPattern), and a value longer than MaxMatchedValueLen is never matched: it
// fails the pattern. Every decision also runs under a deadline (engine.Config).
const (
	// MaxPatternRepeat bounds a counted repetition: {n}, {n,} and {n,m} count to at most 100.
	MaxPatternRepeat = 100
	// MaxNestedRepeat bounds repetitions inside repetitions: along any chain of nested
	// repetitions (*, +, {n,}, {n,m} with m > 1), the product of their counts — m for
	// {n,m}, n for {n,}, 1 for * and + — is at most 32. (\d{1,3}\.){3} and (?:[a-z0-9]+-)*
	// are fine; (?:[a-z]{1,64})+ is not.
	MaxNestedRepeat = 32
	// MaxPatternProgram bounds the size of the compiled pattern, in instructions of Go's
	// regexp/syntax program, which bounds the states alive at once and so the work per byte
	// matched. A list of 40 literal names or an address pattern with {1,64} parts fits.
	MaxPatternProgram = 500
	// MaxMatchedValueLen is the longest argument value, in bytes, that is matched against a
	// pattern; a longer value fails the pattern (ARGUMENT_NOT_ALLOWED) without being matched.
	MaxMatchedValueLen = 4096
)

// ValidateArgumentPattern checks that re is a valid RE2 expression whose matching cost is
// bounded by the limits above; the error says which limit it breaks.
func ValidateArgumentPattern(re string) error {
	if len(re) > MaxPatternLen {
		return fmt.Errorf("longer than %d bytes", MaxPatternLen)
	}
	tree, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return fmt.Errorf("not a valid regular expression: %v", err)
	}
	if err := checkRepeats(tree, 1, false); err != nil {
		return err
	}
	prog, err := syntax.Compile(tree.Simplify())
	if err != nil {
		return fmt.Errorf("not a valid regular expression: %v", err)
	}
	if n := len(prog.Inst); n > MaxPatternProgram {
		return fmt.Errorf("compiles to %d instructions, more than %d: use fewer or smaller repetition counts and alternatives", n, MaxPatternProgram)
	}
	return nil
}

// checkRepeats walks a parsed pattern. outer is the product of the counts of the
// repetitions around re, nested whether there is any.
func checkRepeats(re *syntax.Regexp, outer int, nested bool) error {
	if re.Op == syntax.OpRepeat && max(re.Min, re.Max) > MaxPatternRepeat {
		return fmt.Errorf("repetition count above %d in %s", MaxPatternRepeat, shortExpr(re))
	}
	if count, ok := multiplier(re); ok {
		if nested && outer*count > MaxNestedRepeat {
			return fmt.Errorf("nested repetitions multiply to %d, more than %d, in %s: use * or + inside, or smaller counts",
				outer*count, MaxNestedRepeat, shortExpr(re))
		}
		outer, nested = outer*count, true
	}
	for _, sub := range re.Sub {
		if err := checkRepeats(sub, outer, nested); err != nil {
			return err
		}
	}
	return nil
}

// multiplier reports whether re repeats its operand more than once, and its count for the
// nesting product.
func multiplier(re *syntax.Regexp) (int, bool) {
	switch re.Op {
	case syntax.OpStar, syntax.OpPlus:
		return 1, true
	case syntax.OpRepeat:
		switch {
		case re.Max == -1:
			return max(re.Min, 1), true
		case re.Max > 1:
			return re.Max, true
		}
	}
	return 0, false
}

// shortExpr names the offending part of a pattern in an error.
func shortExpr(re *syntax.Regexp) string {
	return truncate(re.String())
}
