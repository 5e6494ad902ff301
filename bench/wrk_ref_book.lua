-- The reference app's POST /book/{id}, spread over ids 1..1000 (each thread
-- starts at its own offset).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(dir .. "wrk_report.lua")

setup = report.setup
done = report.done

function init(args)
   n = (tid or 0) * 500
end

function request()
   n = n + 1
   return wrk.format("POST", "/book/" .. ((n % 1000) + 1), nil, "")
end
