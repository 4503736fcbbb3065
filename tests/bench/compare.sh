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
set -euo pipefail

SIZES=${SIZES:-"10000 100000"}
CONNS=${CONNS:-16}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
MIX=${MIX:-mixed}
DIST=${DIST:-uniform} # or zipf: a few agents calling a few tools again and again
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

# field prints a key=value field of a loaddriver RESULT line.
field() { sed -n "s/^RESULT .*\b$2=\([^ ]*\).*/\1/p" "$1"; }

echo "building kavach, the load driver, the generator and opa…"
cd "$ROOT"
go build -o "$WORK/kavach" ./cmd/kavach
go build -o "$WORK/gendata" ./tests/bench/gendata
go build -o "$WORK/loaddriver" ./tests/bench/loaddriver
OPA_DIR=$(go list -m -f '{{.Dir}}' github.com/open-policy-agent/opa)
(cd "$OPA_DIR" && go build -o "$WORK/opa" .)
echo "OPA $("$WORK/opa" version | awk 'NR == 1 {print $2}'), $(go version | cut -d' ' -f3-), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
echo "connections $CONNS, mix $MIX ($DIST), warm-up $WARMUP, measured $DURATION per target"

SUMMARY="$WORK/summary"
: >"$SUMMARY"
for N in $SIZES; do
	echo
	echo "== $N agents"
	"$WORK/gendata" -n "$N" -db "$WORK/kavach-$N.db" -opa-data "$WORK/data-$N.json" -ids "$WORK/ids-$N.txt" -api-key "$WORK/key-$N"
	KEY=$(cat "$WORK/key-$N")

	port=$(free_port 18080)
	start=$(date +%s%N)
	KAVACH_BOOTSTRAP_ADMIN_KEY=$KEY "$WORK/kavach" serve --database "sqlite://$WORK/kavach-$N.db" \
		--listen "127.0.0.1:$port" --audit-signing-key "$SIGNING_KEY" --log-level warn >"$WORK/kavach-$N.log" 2>&1 &
	SERVER_PID=$!
	wait_ready "http://127.0.0.1:$port/readyz" "$WORK/kavach-$N.log"
	echo "kavach serve ready in $(since "$start")s"
	"$WORK/loaddriver" -target kavach -url "http://127.0.0.1:$port" -key "$KEY" -ids "$WORK/ids-$N.txt" \
		-conns "$CONNS" -mix "$MIX" -dist "$DIST" -warmup "$WARMUP" -duration "$DURATION" | tee "$WORK/kavach-$N.out"
	echo "kavach serve RSS $(rss_mb "$SERVER_PID") MB"
	stop_server

	port=$(free_port 18181)
	start=$(date +%s%N)
	"$WORK/opa" run --server --addr "127.0.0.1:$port" --log-level error \
		"$ROOT/tests/bench/reference.rego" "$WORK/data-$N.json" >"$WORK/opa-$N.log" 2>&1 &
	SERVER_PID=$!
	wait_ready "http://127.0.0.1:$port/health" "$WORK/opa-$N.log"
	echo "opa run --server ready in $(since "$start")s"
	"$WORK/loaddriver" -target opa -url "http://127.0.0.1:$port" -ids "$WORK/ids-$N.txt" \
		-conns "$CONNS" -mix "$MIX" -dist "$DIST" -warmup "$WARMUP" -duration "$DURATION" | tee "$WORK/opa-$N.out"
	echo "opa RSS $(rss_mb "$SERVER_PID") MB"
	stop_server

	for t in kavach opa; do
		echo "$N $t $(field "$WORK/$t-$N.out" rps) $(field "$WORK/$t-$N.out" p50_us) $(field "$WORK/$t-$N.out" p99_us)" >>"$SUMMARY"
	done
	rm -f "$WORK/kavach-$N.db"* "$WORK/data-$N.json"
done

echo
echo "== summary ($CONNS connections, mix $MIX ($DIST), $DURATION each)"
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
		}
	}' "$SUMMARY"
