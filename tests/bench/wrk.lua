-- wrk's script for tests/bench/compare.sh (DRIVER=wrk). With $BODIES set it sends the
-- request bodies of that file (one JSON document a line, as `loaddriver -bodies` writes
-- them) in turn as POSTs to the URL's path, with $AUTHORIZATION as the Authorization header
-- when set; without, it sends wrk's own GET. At the end it prints a RESULT line in
-- loaddriver's format, where errors counts failed connections, timeouts and answers other
-- than 2xx.
local reqs = {}

function init(args)
  local path = os.getenv("BODIES")
  if not path then
    return
  end
  wrk.headers["Content-Type"] = "application/json"
  local auth = os.getenv("AUTHORIZATION")
  if auth then
    wrk.headers["Authorization"] = auth
  end
  for line in io.lines(path) do
    reqs[#reqs + 1] = wrk.format("POST", wrk.path, nil, line)
  end
  if #reqs == 0 then
    error(path .. ": no request bodies")
  end
end

local i = 0

function request()
  if #reqs == 0 then
    return wrk.format()
  end
  i = i % #reqs + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format("RESULT target=%s conns=%s requests=%d seconds=%.2f rps=%.0f p50_us=%d p99_us=%d errors=%d\n",
    os.getenv("TARGET") or "wrk", os.getenv("CONNS") or "?", summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
