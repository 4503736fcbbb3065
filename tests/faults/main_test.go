// Package faults injects faults into real `kavach serve` processes — connections to
// PostgreSQL cut at chosen points of the protocol, SIGKILL at random moments — while
// clients keep asking for decisions and changing agents, and then checks what the
// service promised: every decision answered is in the ledger with the code answered, the
// chain verifies, every acknowledged change has its management event and is enforced, and
// the service answers again within a bound.
//
// By default (and in CI) every scenario injects its fault twice. KAVACH_FAULTS_ROUNDS=N
// makes that N (scripts/faults.sh runs the suite at length);
// KAVACH_FAULTS_SEED fixes the random moments; KAVACH_FAULTS_BINARY tests a kavach binary
// already built instead of building ./cmd/kavach. See docs/reliability.md.
package faults

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

var (
	// binary is the kavach executable under test.
	binary string
	// rounds is how many times each scenario injects its fault.
	rounds = 2
	// seed makes the random moments of a run reproducible.
	seed = uint64(time.Now().UnixNano())
)

func TestMain(m *testing.M) {
	if err := configure(); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(2)
	}
	dir := ""
	if binary == "" {
		var err error
		if dir, err = os.MkdirTemp("", "kavach-faults"); err != nil {
			panic(err)
		}
		binary = filepath.Join(dir, "kavach")
		_, file, _, _ := runtime.Caller(0)
		build := exec.Command("go", "build", "-o", binary, "./cmd/kavach")
		build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build kavach: %v\n%s", err, out)
			os.RemoveAll(dir)
			os.Exit(2)
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func configure() error {
	if v := os.Getenv("KAVACH_FAULTS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("KAVACH_FAULTS_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	if v := os.Getenv("KAVACH_FAULTS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("KAVACH_FAULTS_SEED=%q: want a number", v)
		}
		seed = n
	}
	if v := os.Getenv("KAVACH_FAULTS_BINARY"); v != "" {
		abs, err := filepath.Abs(v)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("KAVACH_FAULTS_BINARY: %w", err)
		}
		binary = abs
	}
	return nil
}

// random returns the test's own source of random moments, seeded from the run's seed and
// the test's name so that a test replays alike whatever else runs.
func random(t *testing.T) *rand.Rand {
	var h uint64 = 14695981039346656037
	for _, b := range []byte(t.Name()) {
		h = (h ^ uint64(b)) * 1099511628211
	}
	t.Logf("random moments from KAVACH_FAULTS_SEED=%d", seed)
	return rand.New(rand.NewPCG(seed, h))
}
