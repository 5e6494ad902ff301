-- huimin's POST /v1/marriage/appointments (or PATH) with pre-generated bodies.
-- wrk ... -- BODIES_FILE TOKEN NTHREADS [PATH]
-- BODIES_FILE has one request a line: "<Idempotency-Key>\t<JSON body>". Thread k
-- of N takes lines k, k+N, k+2N, ... so no body (nor key) is ever sent twice. If a
-- thread runs out it says so in `exhausted` and stops.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(dir .. "wrk_report.lua")

setup = report.setup
done = report.done

function init(args)
   local path, token, nthreads = args[1], args[2], tonumber(args[3]) or 1
   local target = args[4] or "/v1/marriage/appointments"
   reqs = {}
   local i = 0
   for line in io.lines(path) do
      if i % nthreads == tid then
         local key, body = line:match("^([^\t]+)\t(.*)$")
         reqs[#reqs + 1] = wrk.format("POST", target, {
            ["Content-Type"] = "application/json",
            ["Authorization"] = "Bearer " .. token,
            ["Idempotency-Key"] = key,
         }, body)
      end
      i = i + 1
   end
   n = 0
   statuses = {}
   samples = {}
   exhausted = 0
end

function request()
   n = n + 1
   if n > #reqs then
      exhausted = exhausted + 1
      wrk.thread:stop()
      n = #reqs
   end
   return reqs[n]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status >= 300 and samples[status] == nil then
      samples[status] = string.sub(body or "", 1, 300)
   end
end
