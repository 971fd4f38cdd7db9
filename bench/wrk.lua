-- wrk's request from the environment (WRK_METHOD, WRK_BODY, WRK_TOKEN), and at the end one line
-- of JSON that bench/gateway.py reads: counts, errors and latency percentiles in microseconds.
wrk.method = os.getenv("WRK_METHOD") or "GET"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
if os.getenv("WRK_TOKEN") then
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
