-- A plain GET of the URL given to wrk (no per-response hook, so wrk stays cheap);
-- non-2xx/3xx responses are counted by wrk itself (summary.errors.status).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(dir .. "wrk_report.lua")

setup = report.setup
done = report.done
