-- wrk script for bench/beds_search.py: every request takes a random path (with its
-- query string) from the file named after `--`, so consecutive requests ask
-- different divisions, fees, ratings and locations.
--   wrk -t2 -c8 -d10s --latency -s bench/beds_paths.lua http://127.0.0.1:PORT -- paths.txt

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

local paths = {}

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  f:close()
  assert(#paths > 0, "no paths in " .. args[1])
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)], { ["Accept"] = "application/json" })
end
