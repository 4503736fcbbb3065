#!/usr/bin/env bash
# Runs the authorization-server scenarios of the official MCP conformance suite
# (@modelcontextprotocol/conformance, `conformance authorization`) against `kavach serve`.
#
#   scripts/mcp-conformance.sh
#
# It builds kavach, serves it on a free loopback port with a temporary SQLite database,
# the issuer http://127.0.0.1:PORT/oauth and the headless dev login, and registers a public
# client whose redirect URI, http://127.0.0.1/callback, takes any port. The suite then
# checks the metadata and runs an authorization code grant: it prints the authorization URL
# for a browser and waits for the callback on its own port; this script plays the browser
# with curl, which auto-approve sends straight back with the code. The exit code is the
# suite's (non-zero when a scenario fails); it counts the checks at the end
# ("Total: N passed, N failed").
#
# The suite and its Node come from the npm registry through npx, pinned here: the
# `authorization` command exists only in the 0.2.0 pre-releases, and the suite needs Node
# 22, which the `node` package provides whatever Node runs npx. Override with
# MCP_CONFORMANCE_VERSION and MCP_CONFORMANCE_NODE. Results are written to
# $MCP_CONFORMANCE_RESULTS (default: a temporary directory, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

version="${MCP_CONFORMANCE_VERSION:-0.2.0-alpha.12}"
node_version="${MCP_CONFORMANCE_NODE:-22.23.3}"
work="$(mktemp -d -t kavach-mcp-conformance.XXXXXX)"
results="${MCP_CONFORMANCE_RESULTS:-$work/results}"
server_pid=""
suite_pid=""
cleanup() {
	[[ -n $suite_pid ]] && kill -- "-$suite_pid" 2>/dev/null || true
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -f "$work/kavach" "$work"/kavach.db* "$work"/kavach-audit.*
}
trap cleanup EXIT

free_port() {
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

go build -o "$work/kavach" ./cmd/kavach
port="$(free_port)"
callback_port="$(free_port)"
issuer="http://127.0.0.1:$port/oauth"

"$work/kavach" serve --database "sqlite://$work/kavach.db" --listen "127.0.0.1:$port" \
	--issuer "$issuer" --dev-login --dev-login-auto-approve >"$work/kavach.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
	curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$work/kavach.log"; exit 1; }
	sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "kavach did not start" >&2; cat "$work/kavach.log"; exit 1; }

client_id="$(curl -fsS "$issuer/register" -H 'Content-Type: application/json' \
	-d '{"client_name": "MCP conformance", "application_type": "native", "token_endpoint_auth_method": "none",
	     "redirect_uris": ["http://127.0.0.1/callback"]}' |
	node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).client_id));')"

# In a session of its own, so that ending it ends the suite's node processes too.
setsid npx --yes -p "node@$node_version" -p "@modelcontextprotocol/conformance@$version" -- \
	conformance authorization --url "$issuer" --client-id "$client_id" \
	--resource "http://127.0.0.1:$port/mcp" --port "$callback_port" --output-dir "$results" \
	>"$work/suite.log" 2>&1 &
suite_pid=$!

# The browser: open the authorization URL the suite prints, following the redirects to its
# callback. A refusal that never reaches the callback would leave the suite waiting for
# minutes, so it ends the run at once.
status=0
approved=""
while kill -0 "$suite_pid" 2>/dev/null; do
	url="$(grep -m1 -o "^$issuer/authorize?[^[:space:]]*" "$work/suite.log" || true)"
	if [[ -n $url && -z $approved ]]; then
		approved=1
		if ! curl -fsSL --max-redirs 5 -o /dev/null "$url"; then
			echo "the authorization request did not reach the suite's callback: $url" >&2
			kill -- "-$suite_pid" 2>/dev/null || true
			status=1
		fi
	fi
	sleep 0.2
done
suite_status=0
wait "$suite_pid" || suite_status=$?
[[ $status != 0 ]] || status=$suite_status
suite_pid=""
grep -v '^npm warn' "$work/suite.log" || true
echo "results: $results"
exit "$status"
