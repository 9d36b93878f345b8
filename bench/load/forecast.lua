-- wrk script: POST one request body to /v1/forecast, count answers by status, print one key=value line.
--   wrk -t1 -c64 -d10s -s bench/load/forecast.lua http://127.0.0.1:PORT/v1/forecast -- BODY.json [LABEL]
-- Latency percentiles come from wrk's own histogram (microseconds).
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    local f = assert(io.open(args[1], "rb"))
    wrk.method = "POST"
    wrk.body = f:read("*a")
    wrk.headers["Content-Type"] = "application/json"
    f:close()
    label = args[2] or args[1]
    statuses = {}
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local agg, parts = {}, {}
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("statuses")) do agg[k] = (agg[k] or 0) + v end
    end
    for k, v in pairs(agg) do table.insert(parts, string.format("status_%d=%d", k, v)) end
    table.sort(parts)
    local secs = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "wrk label=%s requests=%d seconds=%.2f rps=%.1f p50_us=%d p99_us=%d p999_us=%d max_us=%d " ..
        "err_connect=%d err_read=%d err_write=%d err_timeout=%d err_status=%d %s\n",
        threads[1]:get("label"), summary.requests, secs, summary.requests / secs,
        latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
        e.connect, e.read, e.write, e.timeout, e.status, table.concat(parts, " ")))
end
