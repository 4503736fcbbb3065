#!/usr/bin/env bash
# Kavach's HTTP authorize side by side with the OPA server, in one run on this machine.
#
# For each data set size it generates N agents with ten permissions (tests/bench/gendata),
# runs `kavach serve` over them (SQLite, API-key authentication, audit ledger on), drives it
# with tests/bench/loaddriver, stops it, then runs `opa run --server` — built from the OPA
# module this project depends on — with tests/bench/reference.rego over the same agents,
# drives it with the same driver, connections and request mix, and prints req/s, p50 and
# p99 for both and their ratios. Only one server runs at a time; everything listens on
# 127.0.0.1, and every process started here is stopped on exit.
#
#   tests/bench/compare.sh                      # 10k and 100k agents, 16 connections, 15 s each
#   SIZES=10000 CONNS=32 DURATION=30s tests/bench/compare.sh
#   DIST=zipf tests/bench/compare.sh            # skewed: a few agents calling a few tools
#   DRIVER=wrk tests/bench/compare.sh           # measured by wrk (Debian package wrk)
#
# DRIVER=wrk measures with wrk (one thread, the same connections) sending the same calls as
# the load driver — their bodies written by `loaddriver -bodies`, sent in turn by
# tests/bench/wrk.lua — which leaves the server more of the machine than the Go driver
# does. The warm-up still runs the load driver, so every answer is checked against the
# mix's expected decision before the measured run; and Kavach's GET /healthz is measured
# in the same run, as this machine's HTTP floor. MEMO=-1 turns the decision memo off
# (--decision-memo); SERVER_GOMAXPROCS sets GOMAXPROCS for the servers alone. CALLS is how
# many calls are prepared (16,384), then sent in turn: raise it so that fewer repeat.
# OWN=1 gives every agent a permission of its own (gendata -own): the generated agents are
# otherwise made from one template, and share one profile, so that the decision memo
# gives one agent's answer to the others (engine/profile.go).
set -euo pipefail

SIZES=${SIZES:-"10000 100000"}
CONNS=${CONNS:-16}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
MIX=${MIX:-mixed}
DIST=${DIST:-uniform} # or zipf: a few agents calling a few tools again and again
DRIVER=${DRIVER:-loaddriver} # or wrk
CALLS=${CALLS:-16384} # distinct calls prepared, sent in turn
MEMO=${MEMO:-}
OWN=${OWN:-} # 1: every agent holds a permission of its own, so that none shares a profile
SERVER_GOMAXPROCS=${SERVER_GOMAXPROCS:-}
# A fixed audit signing key, so that no key file is written.
SIGNING_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kavach-compare.XXXXXX")
SERVER_PID=""

stop_server() {
	if [[ -n "$SERVER_PID" ]]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=""
	fi
}
cleanup() {
	stop_server
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback port nothing listens on, from $1 upwards.
free_port() {
	local p
	for ((p = $1; p < $1 + 200; p++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "no free port from $1" >&2
	return 1
}

# wait_ready polls a URL until it answers 200, while the server is alive (at most 10 min).
wait_ready() {
	local url=$1 log=$2
	for ((i = 0; i < 1200; i++)); do
		if curl -fsS -o /dev/null "$url" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			echo "the server exited; its log:" >&2
			tail -20 "$log" >&2
			return 1
		fi
		sleep 0.5
	done
	echo "$url not ready after 10 minutes" >&2
	return 1
}

# since prints the seconds elapsed since $1 (from date +%s%N).
since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

# drive TARGET URL PATH [KEY] measures one server: the load driver for the warm-up (and the
# measured run, with DRIVER=loaddriver), wrk for the measured run with DRIVER=wrk.
drive() {
	local target=$1 url=$2 path=$3 key=${4:-}
	local args=(-target "$target" -url "$url" -ids "$WORK/ids-$N.txt" -conns "$CONNS" -mix "$MIX" -dist "$DIST" -calls "$CALLS")
	[[ -n "$key" ]] && args+=(-key "$key")
	if [[ "$DRIVER" != wrk ]]; then
		"$WORK/loaddriver" "${args[@]}" -warmup "$WARMUP" -duration "$DURATION"
		return
	fi
	"$WORK/loaddriver" "${args[@]}" -bodies "$WORK/bodies-$target"
	"$WORK/loaddriver" "${args[@]}" -warmup 0s -duration "$WARMUP" >"$WORK/warmup-$target.out"
	if ! grep -q 'RESULT .* errors=0$' "$WORK/warmup-$target.out"; then
		echo "the warm-up met errors or wrong answers:" >&2
		cat "$WORK/warmup-$target.out" >&2
		return 1
	fi
	local auth=()
	[[ -n "$key" ]] && auth=(AUTHORIZATION="Bearer $key")
	env TARGET="$target" CONNS="$CONNS" BODIES="$WORK/bodies-$target" "${auth[@]}" \
		wrk -t1 -c"$CONNS" -d"$DURATION" --timeout 10s -s "$ROOT/tests/bench/wrk.lua" "$url$path" | grep '^RESULT'
}

# field prints a key=value field of a loaddriver RESULT line.
field() { sed -n "s/^RESULT .*\b$2=\([^ ]*\).*/\1/p" "$1"; }

if [[ "$DRIVER" == wrk ]] && ! command -v wrk >/dev/null; then
	echo "DRIVER=wrk needs wrk (apt-get install wrk)" >&2
	exit 1
fi
SERVE_ARGS=()
[[ -n "$MEMO" ]] && SERVE_ARGS+=(--decision-memo "$MEMO")
SERVER_ENV=()
[[ -n "$SERVER_GOMAXPROCS" ]] && SERVER_ENV+=(GOMAXPROCS="$SERVER_GOMAXPROCS")

echo "building kavach, the load driver, the generator and opa…"
cd "$ROOT"
go build -o "$WORK/kavach" ./cmd/kavach
go build -o "$WORK/gendata" ./tests/bench/gendata
go build -o "$WORK/loaddriver" ./tests/bench/loaddriver
OPA_DIR=$(go list -m -f '{{.Dir}}' github.com/open-policy-agent/opa)
(cd "$OPA_DIR" && go build -o "$WORK/opa" .)
echo "OPA $("$WORK/opa" version | awk 'NR == 1 {print $2}'), $(go version | cut -d' ' -f3-), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
echo "connections $CONNS, mix $MIX ($DIST, $CALLS calls in turn), warm-up $WARMUP, measured $DURATION per target by $DRIVER${MEMO:+, memo $MEMO}${OWN:+, agents with a permission of their own}${SERVER_GOMAXPROCS:+, servers at GOMAXPROCS=$SERVER_GOMAXPROCS}"

SUMMARY="$WORK/summary"
: >"$SUMMARY"
for N in $SIZES; do
	echo
	echo "== $N agents"
	"$WORK/gendata" -n "$N" -db "$WORK/kavach-$N.db" -opa-data "$WORK/data-$N.json" -ids "$WORK/ids-$N.txt" -api-key "$WORK/key-$N" ${OWN:+-own}
	KEY=$(cat "$WORK/key-$N")

	port=$(free_port 18080)
	start=$(date +%s%N)
	env "${SERVER_ENV[@]}" KAVACH_BOOTSTRAP_ADMIN_KEY="$KEY" "$WORK/kavach" serve --database "sqlite://$WORK/kavach-$N.db" \
		--listen "127.0.0.1:$port" --audit-signing-key "$SIGNING_KEY" --log-level warn "${SERVE_ARGS[@]}" >"$WORK/kavach-$N.log" 2>&1 &
	SERVER_PID=$!
	wait_ready "http://127.0.0.1:$port/readyz" "$WORK/kavach-$N.log"
	echo "kavach serve ready in $(since "$start")s"
	if [[ "$DRIVER" == wrk ]]; then
		env TARGET=healthz CONNS="$CONNS" wrk -t1 -c"$CONNS" -d"$DURATION" --timeout 10s -s "$ROOT/tests/bench/wrk.lua" \
			"http://127.0.0.1:$port/healthz" | grep '^RESULT' | tee "$WORK/healthz-$N.out"
	fi
	drive kavach "http://127.0.0.1:$port" /v1/authorize "$KEY" | tee "$WORK/kavach-$N.out"
	echo "kavach serve RSS $(rss_mb "$SERVER_PID") MB"
	stop_server

	port=$(free_port 18181)
	start=$(date +%s%N)
	env "${SERVER_ENV[@]}" "$WORK/opa" run --server --addr "127.0.0.1:$port" --log-level error \
		"$ROOT/tests/bench/reference.rego" "$WORK/data-$N.json" >"$WORK/opa-$N.log" 2>&1 &
	SERVER_PID=$!
	wait_ready "http://127.0.0.1:$port/health" "$WORK/opa-$N.log"
	echo "opa run --server ready in $(since "$start")s"
	drive opa "http://127.0.0.1:$port" /v1/data/reference/decision | tee "$WORK/opa-$N.out"
	echo "opa RSS $(rss_mb "$SERVER_PID") MB"
	stop_server

	for t in kavach opa; do
		echo "$N $t $(field "$WORK/$t-$N.out" rps) $(field "$WORK/$t-$N.out" p50_us) $(field "$WORK/$t-$N.out" p99_us)" >>"$SUMMARY"
	done
	if [[ -f "$WORK/healthz-$N.out" ]]; then
		echo "$N healthz $(field "$WORK/healthz-$N.out" rps) $(field "$WORK/healthz-$N.out" p50_us) $(field "$WORK/healthz-$N.out" p99_us)" >>"$SUMMARY"
	fi
	rm -f "$WORK/kavach-$N.db"* "$WORK/data-$N.json"
done

echo
echo "== summary ($CONNS connections, mix $MIX ($DIST), $DURATION each, by $DRIVER)"
awk '
	{ rps[$1, $2] = $3; p50[$1, $2] = $4; p99[$1, $2] = $5; if (!seen[$1]++) order[++n] = $1 }
	END {
		printf "%-8s %-7s %9s %9s %9s\n", "agents", "target", "req/s", "p50 µs", "p99 µs"
		for (i = 1; i <= n; i++) {
			a = order[i]
			for (t = 1; t <= 2; t++) {
				name = t == 1 ? "kavach" : "opa"
				printf "%-8s %-7s %9d %9d %9d\n", a, name, rps[a, name], p50[a, name], p99[a, name]
			}
			printf "%-8s %-7s %8.2fx %8.2fx %8.2fx   (kavach / opa; req/s higher is better, latency lower)\n", a, "ratio",
				rps[a, "kavach"] / rps[a, "opa"], p50[a, "kavach"] / p50[a, "opa"], p99[a, "kavach"] / p99[a, "opa"]
			if ((a, "healthz") in rps) {
				printf "%-8s %-7s %9d %9d %9d\n", a, "healthz", rps[a, "healthz"], p50[a, "healthz"], p99[a, "healthz"]
				printf "%-8s %-7s %8.0f%%   (kavach authorize req/s / kavach GET /healthz req/s)\n", a, "share", 100 * rps[a, "kavach"] / rps[a, "healthz"]
			}
		}
	}' "$SUMMARY"
