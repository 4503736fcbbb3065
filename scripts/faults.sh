#!/usr/bin/env bash
# Runs the fault-injection suite (tests/faults) at length and prints its counts.
#
#   scripts/faults.sh [ROUNDS] [go test flags…]
#
# ROUNDS (default 50, or $KAVACH_FAULTS_ROUNDS) is how many times each scenario injects its
# fault: SIGKILLs per kill scenario, cuts per cut scenario. Extra flags go to `go test`, for
# example `-run TestKill`. KAVACH_FAULTS_SEED replays the random moments of an earlier run
# (each test logs its seed); KAVACH_FAULTS_BINARY tests a kavach binary already built.
# PostgreSQL comes from KAVACH_TEST_POSTGRES, as for every test; here it is required.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${KAVACH_FAULTS_ROUNDS:-50}"
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
	rounds=$1
	shift
fi
log="$(mktemp -t kavach-faults.XXXXXX)"

status=0
KAVACH_FAULTS_ROUNDS="$rounds" KAVACH_REQUIRE_POSTGRES=1 \
	go test ./tests/faults/... -count=1 -v -timeout 4h "$@" >"$log" 2>&1 || status=$?

echo "rounds: $rounds"
grep -E '^(=== RUN|\s*--- (PASS|FAIL|SKIP):|ok |FAIL|PASS$)' "$log" | grep -v '^=== RUN' || true
echo
echo "counts (attempts, acknowledged, lost):"
grep -oE 'COUNTS .*' "$log" | sed 's/^COUNTS /  /' || true
echo
echo "full output: $log"
exit "$status"
