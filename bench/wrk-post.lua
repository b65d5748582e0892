-- POST the AdmissionReviews listed in BENCH_BODIES (one file per line), in rotation.
local bodies = {}
local list = io.open(os.getenv("BENCH_BODIES"))
for path in list:lines() do
  local f = io.open(path, "rb")
  bodies[#bodies + 1] = f:read("*a")
  f:close()
end
list:close()
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
