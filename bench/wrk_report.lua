-- Shared by the wrk scripts of bench/: done() prints one machine-readable line,
--   BENCH_RESULT {"requests": ..., "p50_us": ..., "statuses": {...}, ...}
-- which bench/marriage.py parses. Threads may publish `statuses` (a table of
-- status -> count), `samples` (status -> first response body) and `exhausted`
-- (requests asked for after the thread's pre-generated bodies ran out).

local report = {}
local threads = {}
local next_id = 0

function report.setup(thread)
   thread:set("tid", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local function quote(s)
   s = tostring(s)
   s = s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('[%c]', ' ')
   return '"' .. s .. '"'
end

function report.done(summary, latency, requests)
   local statuses, samples, exhausted = {}, {}, 0
   for _, t in ipairs(threads) do
      local s = t:get("statuses")
      if type(s) == "table" then
         for code, n in pairs(s) do statuses[code] = (statuses[code] or 0) + n end
      end
      local b = t:get("samples")
      if type(b) == "table" then
         for code, body in pairs(b) do samples[code] = samples[code] or body end
      end
      exhausted = exhausted + (tonumber(t:get("exhausted")) or 0)
   end
   local parts = {}
   for code, n in pairs(statuses) do parts[#parts + 1] = quote(code) .. ": " .. n end
   local sample_parts = {}
   for code, body in pairs(samples) do
      sample_parts[#sample_parts + 1] = quote(code) .. ": " .. quote(body)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, '
      .. '"err_connect": %d, "err_read": %d, "err_write": %d, "err_status": %d, '
      .. '"err_timeout": %d, "exhausted": %d, "statuses": {%s}, "samples": {%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout, exhausted,
      table.concat(parts, ", "), table.concat(sample_parts, ", ")))
end

return report
