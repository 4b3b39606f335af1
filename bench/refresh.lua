-- wrk script: the refresh_token grant with rotation. Every refresh spends its token and
-- returns the next one, so each request must carry a token no other request holds.
-- A pool of tokens (one per line in REFRESH_TOKENS_FILE, made by password logins) is handed
-- out by request(); response() puts the rotated token back. Keep the pool larger than the
-- connection count: an in-flight request holds one token.
-- Env: CLIENT_ID, CLIENT_SECRET (HTTP Basic), REFRESH_TOKENS_FILE, WRK_LABEL.
-- done() prints the same RESULT line as post-form-basic.lua.

local b64chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function base64(data)
  return ((data:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#data % 3 + 1])
end

local pool = {}
local headers = {}
local starved = 0

function init(args)
  local f = assert(io.open(os.getenv('REFRESH_TOKENS_FILE'), 'r'))
  for line in f:lines() do
    if #line > 0 then pool[#pool + 1] = line end
  end
  f:close()
  headers['Content-Type'] = 'application/x-www-form-urlencoded'
  headers['Accept'] = 'application/json'
  headers['Authorization'] = 'Basic ' .. base64(os.getenv('CLIENT_ID') .. ':' .. os.getenv('CLIENT_SECRET'))
end

function request()
  local t = table.remove(pool)
  if t == nil then
    -- Pool exhausted (a failed refresh lost its token): send a request that fails cleanly
    -- (counted as non-2xx) rather than reusing a spent token, which would revoke its family.
    starved = starved + 1
    t = 'exhausted'
  end
  return wrk.format('POST', nil, headers, 'grant_type=refresh_token&refresh_token=' .. t)
end

function response(status, hdrs, body)
  local t = body and body:match('"refresh_token":"([^"]+)"')
  if t then pool[#pool + 1] = t end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'RESULT label=%s reqs=%d secs=%.2f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d\n',
    os.getenv('WRK_LABEL') or '-', summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect, e.read, e.write, e.timeout))
end
