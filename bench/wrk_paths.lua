-- GETs a path (with its query string) drawn at random from the file named after `--`
-- for every request, so that consecutive requests ask different things (bench/home_care.py's
-- provider search: the same search from many points). Reported by wrk_report.lua.
--   wrk -t2 -c32 -d10s --latency -s bench/wrk_paths.lua http://127.0.0.1:PORT -- paths.txt
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(dir .. "wrk_report.lua")

setup = report.setup
done = report.done

local paths = {}

function init(args)
   for line in io.lines(args[1]) do
      if #line > 0 then paths[#paths + 1] = line end
   end
   assert(#paths > 0, "no paths in " .. args[1])
   math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function request()
   return wrk.format("GET", paths[math.random(#paths)])
end
