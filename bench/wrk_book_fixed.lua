-- A fixed number of bookings: every line of BODIES_FILE is sent exactly once, then
-- the run ends as soon as every request has been answered.
--   wrk ... -- BODIES_FILE TOKEN NTHREADS EXPECT DONE_FILE [PATH]
-- BODIES_FILE: one request a line, "<Idempotency-Key>\t<JSON body>", as for
-- wrk_book.lua; thread k of N sends lines k, k+N, ...
-- EXPECT: the answer every request should get, "201" or "409:slot_full" (status,
-- and the problem `code` its body must carry); any other answer is counted in
-- `unexpected` (with a sample body per status in `samples`).
-- DONE_FILE: a path the threads append their id to when all their requests are
-- answered; the last one sends SIGINT to wrk, which then stops at once instead of
-- sleeping out its -d (the -d given is only a cap).
-- A thread that has sent all its lines keeps its connections idle (delay()), so
-- the requests still in flight are answered and counted, and nothing is sent twice.
-- The `BENCH_FIXED {...}` line gives the time from the first request sent to the
-- last response received (CLOCK_MONOTONIC, over all threads): wrk's own duration
-- is the whole -d or the time until SIGINT, not the time the requests took.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(dir .. "wrk_report.lua")
local ffi = require("ffi")

ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
   int clock_gettime(int clk_id, bench_timespec *tp);
   int getpid(void);
   int kill(int pid, int sig);
]]

local CLOCK_MONOTONIC, SIGINT = 1, 2
local ts = ffi.new("bench_timespec")

local function now_us()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}

function setup(thread)
   report.setup(thread)
   table.insert(threads, thread)
end

local function finish()
   finished = true
   if done_file == nil then return end
   local f = io.open(done_file, "a")
   f:write(tid, "\n")
   f:close()
   local count = 0
   for _ in io.lines(done_file) do count = count + 1 end
   if count >= nthreads then ffi.C.kill(ffi.C.getpid(), SIGINT) end
end

function init(args)
   local path, token = args[1], args[2]
   nthreads = tonumber(args[3]) or 1
   local expect = args[4] or "201"
   done_file = args[5]
   local target = args[6] or "/v1/marriage/appointments"
   local code
   expect_status, code = expect:match("^(%d+):?(.*)$")
   expect_status = tonumber(expect_status)
   if code ~= nil and code ~= "" then
      expect_code = '"code"%s*:%s*"' .. code .. '"'
   end
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
   nreqs = #reqs
   granted = 0
   sent = 0
   answered = 0
   unexpected = 0
   statuses = {}
   samples = {}
   first_us = 0
   last_us = 0
   finished = false
   if nreqs == 0 then finish() end
end

-- wrk calls delay() before every request() of the run (the script has delay()):
-- delay() admits a request while lines remain (`granted`), else idles the
-- connection for an hour; request() takes the next line (`sent`). The two are
-- counted apart because a thread's connections all call delay() before any of
-- them calls request() (at the start, each delay is a timer), so the line cannot
-- be chosen in delay(). request() is also called once on thread 0 before the run,
-- to check that it makes a valid request: that call (nothing granted yet) must not
-- use up a line.
function delay()
   if granted >= nreqs then return 3600000 end
   if first_us == 0 then first_us = now_us() end
   granted = granted + 1
   return 0
end

function request()
   if granted == 0 then return reqs[1] end
   sent = sent + 1
   return reqs[math.min(sent, nreqs)]
end

function response(status, headers, body)
   last_us = now_us()
   answered = answered + 1
   statuses[status] = (statuses[status] or 0) + 1
   local good = status == expect_status
   if good and expect_code ~= nil then
      good = (body or ""):find(expect_code) ~= nil
   end
   if not good then
      unexpected = unexpected + 1
      local k = tostring(status) .. (status == expect_status and " (other code)" or "")
      if samples[k] == nil then samples[k] = string.sub(body or "", 1, 300) end
   end
   if not finished and answered >= #reqs then finish() end
end

function done(summary, latency, requests)
   report.done(summary, latency, requests)
   local first, last, sent_all, unexpected_all = nil, 0, 0, 0
   for _, t in ipairs(threads) do
      local f, l = tonumber(t:get("first_us")) or 0, tonumber(t:get("last_us")) or 0
      if f > 0 and (first == nil or f < first) then first = f end
      if l > last then last = l end
      sent_all = sent_all + math.min(tonumber(t:get("sent")) or 0, tonumber(t:get("nreqs")) or 0)
      unexpected_all = unexpected_all + (tonumber(t:get("unexpected")) or 0)
   end
   io.write(string.format(
      'BENCH_FIXED {"active_us": %d, "sent": %d, "unexpected": %d}\n',
      (first and last > first) and (last - first) or 0, sent_all, unexpected_all))
end
