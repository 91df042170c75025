-- wrk script for the read-side endpoints (not in the peer harness), fixed concurrency:
--   MODE=introspect   POST <READ_PATH> (default /auth/introspect/) body token=<access token>,
--                     with the Authorization header given in AUTHORIZATION (client Basic auth)
--   MODE=me           GET <READ_PATH> (default /v1/me/) with Authorization: Bearer <access token>
-- TOKENS_FILE: access tokens, one per line, used round-robin (reads change nothing, so a
-- token may be presented many times). done() prints "BENCH_JSON {...}" in the same shape as
-- the peer harness's token_grant.lua, so both results are read by the same code.

local mode, path, method, base_headers
local tokens = {}
local n = 0
status_counts = {}
first_error = nil

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

function init(args)
  mode = env("MODE", "introspect")
  local f = assert(io.open(env("TOKENS_FILE", "access.txt"), "r"))
  for line in f:lines() do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
  f:close()
  assert(#tokens > 0, "TOKENS_FILE is empty")
  if mode == "introspect" then
    method, path = "POST", env("READ_PATH", "/auth/introspect/")
    base_headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Accept"] = "application/json",
      ["Authorization"] = env("AUTHORIZATION", ""),
    }
  elseif mode == "me" then
    method, path = "GET", env("READ_PATH", "/v1/me/")
    base_headers = { ["Accept"] = "application/json" }
  else
    error("unknown MODE " .. mode)
  end
end

function request()
  n = n % #tokens + 1
  local tok = tokens[n]
  if mode == "introspect" then
    return wrk.format(method, path, base_headers, "token=" .. tok)
  end
  base_headers["Authorization"] = "Bearer " .. tok
  return wrk.format(method, path, base_headers, nil)
end

function response(status, hdrs, body)
  -- an introspection 200 must describe an active token: {"active": false} is cheaper and wrong
  if status == 200 and mode == "introspect" and not string.find(body or "", '"active":%s*true') then
    status = "200-inactive"
  end
  status_counts[status] = (status_counts[status] or 0) + 1
  if status ~= 200 and first_error == nil then
    first_error = tostring(status) .. " " .. string.sub(body or "", 1, 200)
  end
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local statuses, errsample = {}, ""
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("status_counts")) do statuses[k] = (statuses[k] or 0) + v end
    local fe = t:get("first_error")
    if fe and errsample == "" then errsample = fe end
  end
  local parts = {}
  for k, v in pairs(statuses) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  local ok = statuses[200] or 0
  local secs = summary.duration / 1e6
  errsample = errsample:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('[%c]', ' ')
  io.write(string.format(
    'BENCH_JSON {"mode":"%s","duration_s":%.3f,"responses":%d,"ok":%d,"ok_per_s":%.2f,' ..
    '"p50_ms":%.2f,"p90_ms":%.2f,"p95_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"mean_ms":%.2f,' ..
    '"status":{%s},"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"first_error":"%s"}\n',
    mode, secs, summary.requests, ok, ok / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    table.concat(parts, ","), summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, errsample))
  io.flush()
end
